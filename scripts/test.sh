#!/usr/bin/env bash
# The whole test suite, as CI runs it (as root, on a fresh Debian/Ubuntu machine):
# controller tools, Docker engine, test images, linters, pytest, then every molecule scenario.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
export PATH="$root/.venv/bin:$PATH"
step() { printf '\n=== %s (%s)\n' "$*" "$(date +%T)"; }

step "controller tools"
bash scripts/setup-controller.sh --test
step "Docker engine"
bash scripts/install-docker-engine.sh
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

step "molecule"
molecule test --all
step "all tests passed"
