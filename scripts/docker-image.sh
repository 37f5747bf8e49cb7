#!/usr/bin/env bash
# Builds onair's image from the project's Dockerfile on the local Docker engine:
# the base images first (scripts/base-images.sh: pulled, or local stand-ins made
# once per machine), then `docker build` with the legacy builder and the host's
# network (the engine runs without a bridge; apt-get and npm reach their
# registries through the host). Tags onair:<hash> and onair:latest, <hash> being
# that of every file that goes into the image.
#
#   bash scripts/docker-image.sh          # builds unless onair:<hash> exists
#   bash scripts/docker-image.sh --build  # builds in any case (CI on a clean clone)
# Prints the image's name and size on its last line.
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf 'docker-image: %s\n' "$*" >&2; }
IMAGE=${ONAIR_IMAGE:-onair}

hash=$( { find Dockerfile .dockerignore docker-entrypoint.sh package.json package-lock.json prisma.config.ts tsconfig.json \
            prisma/schema.prisma prisma/migrations src scripts schema/schema.graphql console \
            -path console/src/gql -prune -o -type f -print0 \
          | sort -z | xargs -0 sha256sum; } | sha256sum | cut -c1-16)
tag="$IMAGE:$hash"

if [ "${1:-}" != "--build" ] && docker image inspect "$tag" >/dev/null 2>&1; then
  say "$tag present; kept"
else
  bash scripts/base-images.sh >&2
  start=$(date +%s)
  say "building $tag (docker build --network host, legacy builder)"
  DOCKER_BUILDKIT=0 docker build --network host --label "onair.source-hash=$hash" -t "$tag" . >&2
  say "built $tag in $(( $(date +%s) - start ))s"
fi
docker tag "$tag" "$IMAGE:latest"
# Earlier builds on this machine lose their tags, so that the disk does not fill build by build.
docker image ls --filter label=onair.source-hash --format '{{.Repository}}:{{.Tag}}' \
  | grep -vx -e "$tag" -e "$IMAGE:latest" -e '<none>:<none>' | xargs -r docker rmi >/dev/null 2>&1 || true
size=$(docker image inspect "$tag" --format '{{.Size}}')
echo "$tag $size"
