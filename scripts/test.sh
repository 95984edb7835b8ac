#!/usr/bin/env bash
# The whole test suite, as CI runs it (as root, on a fresh Debian/Ubuntu machine):
# controller tools, Docker engine, a browser, test images, linters, then pytest beside every
# molecule scenario.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
export PATH="$root/.venv/bin:$PATH"
# The venv is installed without compiling (--no-compile: the ansible package alone holds tens of
# thousands of files), so Python must write each bytecode cache the first time it imports. A
# machine that sets PYTHONDONTWRITEBYTECODE (the test machines here do) made every
# ansible-playbook, molecule, prefect and pytest process compile its imports from source again:
# `import prefect` 7.2 CPU-s instead of 3.1, a one-task ansible-playbook 3.6 instead of 2.5
# (docs/testing.md).
unset PYTHONDONTWRITEBYTECODE
step() { printf '\n=== %s (%s)\n' "$*" "$(date +%T)"; }

# Set-up runs in lanes side by side: they wait on PyPI, Debian's archive and image builds more
# than on the CPU. Each test starts as soon as what it needs is there: pytest once the tools, the
# browser, the Postgres binaries and the instance images are; the scenarios once the stack's
# images are built as well (on a fresh machine the longest lane); lint beside them. A lane's output
# is shown when it ends, and in full when it fails.
lane_logs=$(mktemp -d)
declare -A lane_pids=()
# Each lane and test runs in its own process group (job control on while it starts), so that when
# the run ends early (a set-up lane failed, CI or Ctrl-C stopped it) nothing it started goes on:
# apt-get, image builds, pytest's servers, ansible-playbook. Their standard input is /dev/null: a
# background process group must not read the terminal.
declare -A running=()
in_group() { # command... (sets $!)
  set -m
  "$@" </dev/null &
  set +m
  running[$!]=1
}
reap() { # pid: waits for it, with its status; its group is no longer ours to stop
  local status=0
  wait "$1" || status=$?
  unset "running[$1]"
  return "$status"
}
signal_running() { # signal: sends it to each group still there; fails when none is
  local pid any=1
  for pid in "${!running[@]}"; do kill "-$1" -- "-$pid" 2>/dev/null && any=0; done
  return "$any"
}
stop_running() {
  # SIGINT lets pytest and molecule clean up; what is still there after 20 s is killed.
  signal_running INT || return 0
  echo "stopping the set-up and tests still running; their logs so far: ${logs:-$lane_logs}" >&2
  for _ in $(seq 20); do
    signal_running 0 || return 0
    sleep 1
  done
  signal_running KILL || return 0
  # A SIGKILL takes effect a moment later on a busy machine: wait for it (5 s at most).
  for _ in $(seq 10); do
    signal_running 0 || return 0
    sleep 0.5
  done
}
trap stop_running EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
lane_command() { # log, command...
  local log=$1
  shift
  "$@" >"$log" 2>&1
}
lane() { # name, command...
  local name=$1
  shift
  in_group lane_command "$lane_logs/$name.log" "$@"
  lane_pids[$name]=$!
}
wait_lane() { # name: fails the set-up when the lane failed
  local name=$1 status="done"
  [ -n "${lane_pids[$name]:-}" ] || return 0
  reap "${lane_pids[$name]}" || status=FAILED
  unset "lane_pids[$name]"
  step "$name: $status"
  # pip's notes on the extra local indexes this machine may not have are noise.
  grep -v "^WARNING: Location 'file:" "$lane_logs/$name.log" || true
  [ "$status" = "done" ] || { echo "set-up failed: $name" >&2; exit 1; }
}
lint() {
  yamllint --strict . && ansible-lint --profile production && ruff check . \
    && ruff format --check . && python scripts/role_readmes.py --check
}
# Ansible first: the stack's images are read from role prefect_stack and wait for it; then the
# test tools.
controller() {
  bash scripts/setup-controller.sh || { touch "$lane_logs/ansible.failed"; return 1; }
  touch "$lane_logs/ansible.ready"
  bash scripts/setup-controller.sh --test
}
engine_and_images() {
  bash scripts/install-docker-engine.sh && bash scripts/build-test-images.sh --instances || return 1
  touch "$lane_logs/instances.ready"
  until [ -e "$lane_logs/ansible.ready" ]; do
    [ -e "$lane_logs/ansible.failed" ] && return 1
    sleep 2
  done
  bash scripts/build-test-images.sh
}
browser_and_postgres() {
  bash scripts/install-browser.sh && bash scripts/install-postgres-binaries.sh
}

step "set-up, in lanes"
lane "controller tools" controller
lane "Docker engine, then the test images" engine_and_images
lane "Chromium and Postgres binaries" browser_and_postgres
wait_lane "controller tools"
wait_lane "Chromium and Postgres binaries"
until [ -e "$lane_logs/instances.ready" ]; do
  kill -0 "${lane_pids["Docker engine, then the test images"]}" 2>/dev/null \
    || wait_lane "Docker engine, then the test images"
  sleep 2
done
failed=()
logs=$(mktemp -d)

# pytest's servers run niced: the scenarios are the longest path and get the CPU first; pytest
# takes what their waits leave.
step "pytest (niced, in the background)"
in_group nice -n 10 pytest >"$logs/pytest.log" 2>&1
pytest_pid=$!

# The scenarios run side by side (each has its own instances), beside pytest: much of the
# scenarios' time is spent waiting on services, so together they take less wall time on 2 cores.
wait_lane "Docker engine, then the test images"
scenarios=${PREFECT_STACK_SCENARIOS:-default upgrade}
step "molecule scenarios (in the background): $scenarios"
pids=()
for name in $scenarios; do
  [ -f "molecule/$name/molecule.yml" ] || { echo "no molecule scenario $name" >&2; exit 1; }
  in_group molecule test --scenario-name "$name" >"$logs/$name.log" 2>&1
  pids+=("$name:$!")
done
rm -rf "$lane_logs"

# Lint only reads the tree: niced too, beside the tests (a lint failure fails the tests).
step "lint (niced)"
in_group nice -n 10 bash -c "$(declare -f lint); lint"
reap "$!" || failed+=(lint)

pytest_status=passed
reap "$pytest_pid" || { failed+=(pytest); pytest_status=FAILED; }
step "pytest: $pytest_status"
cat "$logs/pytest.log"

# Passing scenarios' output first, failing ones' last, then where each failed: CI shows the end
# of the output, and that is where the reason must be.
failed_logs=()
for entry in "${pids[@]}"; do
  name=${entry%%:*}
  if reap "${entry#*:}"; then
    step "molecule scenario $name: passed"
    cat "$logs/$name.log"
  else
    failed+=("molecule:$name")
    failed_logs+=("$name")
  fi
done
for name in "${failed_logs[@]}"; do
  step "molecule scenario $name: FAILED"
  cat "$logs/$name.log"
done
for name in "${failed_logs[@]}"; do
  step "molecule scenario $name: where it failed"
  # Each error that was not ignored, with the lines around it (molecule prints boxed output).
  awk '{ line[NR] = $0 }
    END {
      for (i = 1; i <= NR; i++) {
        if (line[i] !~ /(fatal|failed): \[|FAILED!|^ERROR|CRITICAL/) continue
        ignored = 0
        for (j = i; j <= i + 60 && j <= NR; j++) if (line[j] ~ /\.\.\.ignoring/) { ignored = 1; break }
        if (ignored) continue
        for (j = (i > 12 ? i - 12 : 1); j <= i + 25 && j <= NR; j++) print j ": " line[j]
        print "--"
      }
    }' "$logs/$name.log" | head -n 400 || true
done
rm -rf "$logs"
[ ${#failed[@]} -eq 0 ] || { echo "failed: ${failed[*]}" >&2; exit 1; }
step "all tests passed"
