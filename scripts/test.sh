#!/usr/bin/env bash
# The whole test suite, as CI runs it (as root, on a fresh Debian/Ubuntu machine):
# controller tools, Docker engine, a browser, test images, linters, pytest, then every molecule
# scenario.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
export PATH="$root/.venv/bin:$PATH"
step() { printf '\n=== %s (%s)\n' "$*" "$(date +%T)"; }

step "controller tools"
bash scripts/setup-controller.sh --test
step "Docker engine"
bash scripts/install-docker-engine.sh
step "Chromium for the browser tests"
bash scripts/install-browser.sh
step "Postgres server binaries for the module tests"
bash scripts/install-postgres-binaries.sh
step "test images"
bash scripts/build-test-images.sh

step "lint"
yamllint --strict .
ansible-lint --profile production
ruff check .
ruff format --check .
python scripts/role_readmes.py --check

step "pytest"
pytest

# The scenarios run side by side (each has its own instance): much of their time is spent waiting
# on services, so side by side they take less wall time on 2 cores. Each one's output follows when
# it ends.
# The cluster scenario (three hosts) is not in the default set yet: its converge and idempotence
# pass, its verify does not yet (see README, Tests). PREFECT_STACK_SCENARIOS="default upgrade cluster"
# runs it too.
scenarios=${PREFECT_STACK_SCENARIOS:-default upgrade}
step "molecule scenarios: $scenarios"
logs=$(mktemp -d)
pids=()
for name in $scenarios; do
  [ -f "molecule/$name/molecule.yml" ] || { echo "no molecule scenario $name" >&2; exit 1; }
  molecule test --scenario-name "$name" >"$logs/$name.log" 2>&1 &
  pids+=("$name:$!")
done
failed=()
for entry in "${pids[@]}"; do
  name=${entry%%:*}
  if wait "${entry#*:}"; then status=passed; else status=FAILED; failed+=("$name"); fi
  step "molecule scenario $name: $status"
  cat "$logs/$name.log"
done
rm -rf "$logs"
[ ${#failed[@]} -eq 0 ] || { echo "molecule scenarios failed: ${failed[*]}" >&2; exit 1; }
step "all tests passed"
