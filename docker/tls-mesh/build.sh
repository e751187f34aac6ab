#!/usr/bin/env bash
# Build the TLS mesh's image (docker/tls-mesh/Dockerfile) offline, after docker/build-images.sh:
# the production image plus the mesh app and the secrets agent, in a temporary build context.
#
# Usage: docker/tls-mesh/build.sh [TAG]   (default runsecrets-tls-mesh:local)
# Environment: APP_IMAGE (default runsecrets-app:local), DOCKER.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
docker_dir="$(dirname "$here")"
tag="${1:-runsecrets-tls-mesh:local}"
# shellcheck source=../build-lib.sh
source "$docker_dir/build-lib.sh"
app="${APP_IMAGE:-runsecrets-app:local}"

context="$(mktemp -d)"
trap 'rm -rf "$context"' EXIT
cp "$here/Dockerfile" "$here/mesh.py" "$docker_dir/seed002/deliver.py" "$context/"
build_offline "$tag" --build-arg "APP_IMAGE=$app" --label org.runsecrets.image=tls-mesh \
    "$context"
echo "tls-mesh/build: built $tag" >&2
