#!/usr/bin/env bash
# The browser tests (tests/browser/check_uis.py) drive Debian's chromium through Playwright; the
# Playwright wheel comes from requirements/test.txt and never downloads a browser of its own.
# certutil (libnss3-tools) loads the test CA into the throwaway NSS db that chromium reads.
# Idempotent: installs nothing when both are present, refreshes the apt lists only when needed.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
packages=(chromium libnss3-tools)

missing=()
for pkg in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q '^install ok installed$'; then
    missing+=("$pkg")
  fi
done

if ((${#missing[@]})); then
  installable=true
  for pkg in "${missing[@]}"; do
    candidate=$(apt-cache policy "$pkg" 2>/dev/null | awk '/Candidate:/ {print $2}')
    if [[ -z "$candidate" || "$candidate" == "(none)" ]]; then
      installable=false
    fi
  done
  if ! $installable; then
    apt-get update -qq
  fi
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if [[ ! -x /usr/bin/chromium ]] || ! /usr/bin/chromium --version; then
  echo "install-browser: /usr/bin/chromium does not run" >&2
  exit 1
fi
if ! command -v certutil >/dev/null; then
  echo "install-browser: certutil (libnss3-tools) is missing" >&2
  exit 1
fi
