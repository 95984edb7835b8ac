#!/usr/bin/env bash
# The module tests run a real Prefect server backed by a throwaway Postgres (initdb/pg_ctl).
set -euo pipefail
if compgen -G '/usr/lib/postgresql/*/bin/pg_ctl' >/dev/null; then
  exit 0
fi
bash "$(dirname "$0")/apt-install.sh" postgresql
