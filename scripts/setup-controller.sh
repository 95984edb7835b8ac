#!/usr/bin/env bash
# Installs what the controller needs into ./.venv: Ansible (the `ansible` package, which carries
# the community.docker, community.general and ansible.posix collections, so no Galaxy is needed).
#   scripts/setup-controller.sh          what running the playbooks needs
#   scripts/setup-controller.sh --test   also the test tools (molecule, linters, pytest, Prefect)
# Safe to re-run. Needs root only when python3-venv is missing (Debian/Ubuntu).
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
requirements="$root/requirements/controller.txt"
[ "${1:-}" = --test ] && requirements="$root/requirements/test.txt"

log() { printf '[setup-controller] %s\n' "$*" >&2; }

python=${PYTHON:-python3}
if ! "$python" -m venv --help >/dev/null 2>&1 || ! "$python" -c 'import ensurepip' 2>/dev/null; then
  log "installing python3-venv"
  bash "$root/scripts/apt-install.sh" python3-venv
fi
if [ ! -x "$root/.venv/bin/python" ]; then
  log "creating $root/.venv"
  "$python" -m venv "$root/.venv"
fi

stamp="$root/.venv/.installed-$(basename "$requirements" .txt)"
if [ -f "$stamp" ] && [ "$(sha256sum <"$requirements")" = "$(cat "$stamp")" ] \
  && { [ "$requirements" != "$root/requirements/test.txt" ] || [ "$(sha256sum <"$root/flows/requirements.txt" 2>/dev/null)" = "$(cat "$stamp.flows" 2>/dev/null)" ]; }; then
  log "$(basename "$requirements") already installed"
  exit 0
fi
log "installing $(basename "$requirements") (a minute or two the first time)"
# --no-compile: the ansible package alone holds tens of thousands of modules; Python compiles the
# few a run imports when it first imports them.
"$root/.venv/bin/pip" install -q --disable-pip-version-check --no-compile -r "$requirements"
if [ "$requirements" = "$root/requirements/test.txt" ] && [ -f "$root/flows/requirements.txt" ]; then
  # The flows' own tests run in the same environment as the worker's packages.
  "$root/.venv/bin/pip" install -q --disable-pip-version-check --no-compile -r "$root/flows/requirements.txt"
  sha256sum <"$root/flows/requirements.txt" >"$stamp.flows"
fi
"$root/.venv/bin/pip" check >&2
sha256sum <"$requirements" >"$stamp"
log "done: $root/.venv/bin/ansible-playbook is ready"
