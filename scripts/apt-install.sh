#!/usr/bin/env bash
# Installs Debian packages for the controller scripts: only those missing, without recommends,
# refreshing the package lists only when one of them has no candidate. Several scripts run side by
# side (scripts/test.sh), so apt is taken under one lock: each waits for the other's turn.
#   scripts/apt-install.sh PACKAGE...
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive

missing=()
for pkg in "$@"; do
  if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q '^install ok installed$'; then
    missing+=("$pkg")
  fi
done
((${#missing[@]})) || exit 0

exec 9>"${TMPDIR:-/tmp}/prefect-stack-apt.lock"
flock 9
for pkg in "${missing[@]}"; do
  candidate=$(apt-cache policy "$pkg" 2>/dev/null | awk '/Candidate:/ {print $2}')
  if [[ -z "$candidate" || "$candidate" == "(none)" ]]; then
    apt-get update -qq
    break
  fi
done
apt_get_install() { apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null; }
# Lists that name a version the archive no longer has: refresh them and try once more.
apt_get_install || { apt-get update -qq && apt_get_install; }
