#!/usr/bin/env bash
# Installs and starts the Docker engine the test suite drives (Debian/Ubuntu controller).
# Safe to re-run: an engine that already answers is left alone.
set -euo pipefail

log() { printf '[install-docker-engine] %s\n' "$*"; }

if docker info >/dev/null 2>&1; then
  log "a Docker engine already answers: leaving it alone"
  exit 0
fi

if ! command -v dockerd >/dev/null 2>&1; then
  log "installing docker.io"
  bash "$(dirname "$0")/apt-install.sh" docker.io
fi

if [ -d /run/systemd/system ]; then
  systemctl enable --now docker
else
  # No systemd on this host (CI sandbox, container): run the daemon in the background.
  log "starting dockerd without systemd (log: /var/log/dockerd.log)"
  nohup dockerd >/var/log/dockerd.log 2>&1 &
fi

for _ in $(seq 1 60); do
  docker info >/dev/null 2>&1 && { log "engine ready"; exit 0; }
  sleep 1
done
log "dockerd did not answer within 60 s; see /var/log/dockerd.log" >&2
exit 1
