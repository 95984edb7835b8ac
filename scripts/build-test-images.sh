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
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
ctx="$here/test-images"
archives=${TEST_IMAGE_ARCHIVES:-/var/cache/prefect-stack/images}
INSTANCE_IMAGE=${INSTANCE_IMAGE:-prefect-stack/debian13-systemd:latest}
MINIMAL_INSTANCE_IMAGE=${MINIMAL_INSTANCE_IMAGE:-prefect-stack/debian13-minimal:latest}
export DOCKER_BUILDKIT=0

log() { printf '[build-test-images] %s\n' "$*" >&2; }

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
    command -v debootstrap >/dev/null || apt-get install -y -qq debootstrap >/dev/null
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
  hash=$(recipe_hash "$ctx/$file" "$ctx"/*.sh <(echo "$base $*"))
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

base=$(base_image)
build "$INSTANCE_IMAGE" instance.Dockerfile "$base"
# A minimal image: no python3-apt, no sudo.
build "$MINIMAL_INSTANCE_IMAGE" instance.Dockerfile "$base" --build-arg CLOUD_PACKAGES=

if try_pull "$POSTGRES_IMAGE"; then
  log "pulled $POSTGRES_IMAGE"
else
  build "$POSTGRES_IMAGE" postgres.Dockerfile "$base"
fi
server_image() { # image, Prefect version, pins of its dependencies
  if try_pull "$1"; then
    log "pulled $1"
  else
    build "$1" prefect.Dockerfile "$base" --build-arg "PREFECT_VERSION=$2" --build-arg "PINS=$3" \
      --build-arg "PIP_INDEX_URL=${PIP_INDEX_URL:-}"
  fi
}
server_image "$SERVER_IMAGE" "$PREFECT_VERSION" ""
server_image "$OLD_SERVER_IMAGE" "$OLD_PREFECT_VERSION" "$OLD_SERVER_PINS"

# The MLflow server image is built by the mlflow_server role (the official image plus psycopg2):
# no registry has it under this reference, so the stand-in is always built here.
build "$MLFLOW_IMAGE" mlflow.Dockerfile "$base" \
  --build-arg "MLFLOW_VERSION=$MLFLOW_VERSION" --build-arg "PIP_INDEX_URL=${PIP_INDEX_URL:-}"

# Archives for side-loading, re-saved only when the image changed.
mkdir -p "$archives"
for image in "$POSTGRES_IMAGE" "$SERVER_IMAGE" "$OLD_SERVER_IMAGE" "$MLFLOW_IMAGE"; do
  file="$archives/$(echo "$image" | tr '/:' '__').tar"
  id=$(docker image inspect -f '{{ .Id }}' "$image")
  if [ -f "$file" ] && [ "$(cat "$file.id" 2>/dev/null)" = "$id" ]; then
    continue
  fi
  log "saving $image to $file"
  docker save -o "$file" "$image"
  echo "$id" >"$file.id"
done
log "images ready (archives in $archives)"
