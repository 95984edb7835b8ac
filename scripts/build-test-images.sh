#!/usr/bin/env bash
# Provides the container images `molecule test` needs on this controller's Docker engine:
#   - the instance images (Debian 13 "VMs" with systemd): a cloud-like one, tagged $INSTANCE_IMAGE,
#     and a minimal one without python3-apt and sudo, tagged $MINIMAL_INSTANCE_IMAGE;
#   - the images the stack itself runs (Postgres, Prefect server, MLflow server), under the exact
#     references in role prefect_stack, and the server image of the release the upgrade scenario starts
#     from (molecule/upgrade/vars/upgrade.yml), saved as archives that molecule side-loads into the
#     instance's own Docker.
# Where a registry answers, the official images are pulled. Where none does (air-gapped CI),
# stand-ins with the same contract are built from Debian's packages and PyPI (scripts/test-images).
#   scripts/build-test-images.sh              all of them
#   scripts/build-test-images.sh --instances  the instance images only (no controller venv needed)
set -euo pipefail
only_instances=false
[ "${1:-}" = --instances ] && only_instances=true

here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
ctx="$here/test-images"
archives=${TEST_IMAGE_ARCHIVES:-/var/cache/prefect-stack/images}
INSTANCE_IMAGE=${INSTANCE_IMAGE:-prefect-stack/debian13-systemd:latest}
MINIMAL_INSTANCE_IMAGE=${MINIMAL_INSTANCE_IMAGE:-prefect-stack/debian13-minimal:latest}
export DOCKER_BUILDKIT=0

log() { printf '[build-test-images] %s\n' "$*" >&2; }

if [ "$only_instances" = false ]; then
  # The references the roles use, read from role prefect_stack so the two cannot drift apart.
  # Also the release (and its server image) the upgrade scenario starts from.
  read -r PREFECT_VERSION SERVER_IMAGE POSTGRES_IMAGE MLFLOW_VERSION MLFLOW_IMAGE \
    OLD_PREFECT_VERSION OLD_SERVER_IMAGE OLD_SERVER_PINS < <(
    cd "$root" && ANSIBLE_LOAD_CALLBACK_PLUGINS=true ANSIBLE_STDOUT_CALLBACK=ansible.posix.json \
      "$root/.venv/bin/ansible-playbook" "$here/image-references.yml" \
      | python3 -c 'import json, sys
tasks = json.load(sys.stdin)["plays"][0]["tasks"]
print(" ".join(task["hosts"]["localhost"]["msg"] for task in tasks
               if task["task"]["name"].startswith("Print ")))')
  version='^[0-9]+\.[0-9]+\.[0-9]+$'
  [[ $PREFECT_VERSION =~ $version && $MLFLOW_VERSION =~ $version && $OLD_PREFECT_VERSION =~ $version \
    && -n $OLD_SERVER_PINS && $OLD_SERVER_PINS != *" "* ]] || {
    log "could not read the image references from role prefect_stack (got: $PREFECT_VERSION ...)"
    exit 1
  }
fi

try_pull() { timeout 60 docker pull -q "$1" >/dev/null 2>&1; }

# A stand-in is rebuilt only when its recipe changes: the recipe's hash is kept as a label.
recipe_hash() { cat "$@" | sha256sum | cut -c1-16; }
have_image() { # image, hash
  [ "$(docker image inspect -f '{{ index .Config.Labels "prefect-stack.recipe" }}' "$1" 2>/dev/null)" = "$2" ]
}

base_image() {
  if try_pull docker.io/library/debian:trixie; then
    echo docker.io/library/debian:trixie
    return
  fi
  local base=prefect-stack/debian13-base:debootstrap
  if ! docker image inspect "$base" >/dev/null 2>&1; then
    log "no registry: bootstrapping Debian 13 with debootstrap (about a minute)"
    command -v debootstrap >/dev/null || bash "$here/apt-install.sh" debootstrap
    local dir
    dir=$(mktemp -d)
    debootstrap --variant=minbase --include=ca-certificates trixie "$dir" \
      "${DEBIAN_MIRROR:-http://deb.debian.org/debian}" >/dev/null
    tar -C "$dir" -c . | docker import - "$base" >/dev/null
    rm -rf "$dir"
  fi
  echo "$base"
}

build() { # tag, dockerfile, base, extra build args...
  local tag=$1 file=$2 base=$3
  shift 3
  local hash
  hash=$(recipe_hash "$ctx/$file" "$ctx"/*.sh "$ctx"/*.py <(echo "$base $*"))
  if have_image "$tag" "$hash"; then
    log "$tag is up to date"
    return
  fi
  log "building $tag"
  docker build -q -f "$ctx/$file" --build-arg "BASE=$base" --label "prefect-stack.recipe=$hash" \
    "$@" -t "$tag" "$ctx" >/dev/null
}

# Extra CA certificates the controller trusts (an intercepting proxy, a corporate CA) are needed by
# pip inside the Prefect stand-in's build.
mkdir -p "$ctx/extra-ca-certificates"
find "$ctx/extra-ca-certificates" -name '*.crt' -delete
if compgen -G '/usr/local/share/ca-certificates/*.crt' >/dev/null; then
  cp /usr/local/share/ca-certificates/*.crt "$ctx/extra-ca-certificates/"
fi

# Each image is built (and its archive saved) in its own background job: the builds mostly wait on
# the package archives and PyPI, so side by side they take a fraction of the time. A job's output
# is kept and shown only when it fails.
jobs_dir=$(mktemp -d)
trap 'rm -rf "$jobs_dir"' EXIT
job_pids=()
exec 3>&2
in_background() { # name, command...
  local name=$1
  shift
  (
    "$@"
    log "$name: ready, $SECONDS s after the start" 2>&3
  ) >"$jobs_dir/$name.log" 2>&1 &
  job_pids+=("$name:$!")
}
wait_jobs() {
  local entry failed=0
  for entry in "${job_pids[@]}"; do
    if ! wait "${entry#*:}"; then
      log "${entry%%:*} FAILED:"
      cat "$jobs_dir/${entry%%:*}.log" >&2
      failed=1
    fi
  done
  job_pids=()
  return "$failed"
}

# Archives for side-loading, re-saved only when the image changed. Written under a temporary name
# and renamed: a reader never sees a half-written archive.
save_archive() { # image
  local file id
  file="$archives/$(echo "$1" | tr '/:' '__').tar"
  id=$(docker image inspect -f '{{ .Id }}' "$1")
  if [ -f "$file" ] && [ "$(cat "$file.id" 2>/dev/null)" = "$id" ]; then
    return
  fi
  log "saving $1 to $file"
  docker save -o "$file.partial" "$1"
  mv "$file.partial" "$file"
  echo "$id" >"$file.id"
}

base=$(base_image)
in_background instance build "$INSTANCE_IMAGE" instance.Dockerfile "$base"
# A minimal image: no python3-apt, no sudo.
in_background minimal build "$MINIMAL_INSTANCE_IMAGE" instance.Dockerfile "$base" --build-arg CLOUD_PACKAGES=
if [ "$only_instances" = true ]; then
  wait_jobs
  log "instance images ready"
  exit 0
fi

mkdir -p "$archives"
postgres_image() {
  if try_pull "$POSTGRES_IMAGE"; then
    log "pulled $POSTGRES_IMAGE"
  else
    build "$POSTGRES_IMAGE" postgres.Dockerfile "$base"
  fi
  save_archive "$POSTGRES_IMAGE"
}
server_image() { # image, Prefect version, pins of its dependencies
  if try_pull "$1"; then
    log "pulled $1"
  else
    build "$1" prefect.Dockerfile "$base" --build-arg "PREFECT_VERSION=$2" --build-arg "PINS=$3" \
      --build-arg "PIP_INDEX_URL=${PIP_INDEX_URL:-}"
  fi
  save_archive "$1"
}
# The MLflow server image is built by the mlflow_server role (the official image plus psycopg2):
# no registry has it under this reference, so the stand-in is always built here.
mlflow_image() {
  build "$MLFLOW_IMAGE" mlflow.Dockerfile "$base" \
    --build-arg "MLFLOW_VERSION=$MLFLOW_VERSION" --build-arg "PIP_INDEX_URL=${PIP_INDEX_URL:-}"
  save_archive "$MLFLOW_IMAGE"
}
in_background postgres postgres_image
in_background server server_image "$SERVER_IMAGE" "$PREFECT_VERSION" ""
in_background old-server server_image "$OLD_SERVER_IMAGE" "$OLD_PREFECT_VERSION" "$OLD_SERVER_PINS"
in_background mlflow mlflow_image
wait_jobs
log "images ready (archives in $archives)"
