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

# The scenarios start first and run side by side (each has its own instances), while the linters
# and pytest run here: much of the scenarios' time is spent waiting on services, so together they
# take less wall time on 2 cores. Each scenario's output follows when it ends.
scenarios=${PREFECT_STACK_SCENARIOS:-default upgrade}
step "molecule scenarios (in the background): $scenarios"
logs=$(mktemp -d)
pids=()
for name in $scenarios; do
  [ -f "molecule/$name/molecule.yml" ] || { echo "no molecule scenario $name" >&2; exit 1; }
  molecule test --scenario-name "$name" >"$logs/$name.log" 2>&1 &
  pids+=("$name:$!")
done

failed=()
step "lint"
if ! { yamllint --strict . && ansible-lint --profile production && ruff check . \
  && ruff format --check . && python scripts/role_readmes.py --check; }; then
  failed+=(lint)
fi

step "pytest"
pytest || failed+=(pytest)

# Passing scenarios' output first, failing ones' last, then where each failed: CI shows the end
# of the output, and that is where the reason must be.
failed_logs=()
for entry in "${pids[@]}"; do
  name=${entry%%:*}
  if wait "${entry#*:}"; then
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
