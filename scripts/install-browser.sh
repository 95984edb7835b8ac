#!/usr/bin/env bash
# The browser tests (tests/browser/check_uis.py) drive Debian's chromium through Playwright; the
# Playwright wheel comes from requirements/test.txt and never downloads a browser of its own.
# certutil (libnss3-tools) loads the test CA into the throwaway NSS db that chromium reads.
set -euo pipefail
bash "$(dirname "$0")/apt-install.sh" chromium libnss3-tools

if [[ ! -x /usr/bin/chromium ]] || ! /usr/bin/chromium --version; then
  echo "install-browser: /usr/bin/chromium does not run" >&2
  exit 1
fi
if ! command -v certutil >/dev/null; then
  echo "install-browser: certutil (libnss3-tools) is missing" >&2
  exit 1
fi
