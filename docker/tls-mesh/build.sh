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
if [[ -z "${DOCKER:-}" ]]; then
    if [[ -x /usr/bin/docker ]]; then DOCKER=/usr/bin/docker; else DOCKER=docker; fi
fi
app="${APP_IMAGE:-runsecrets-app:local}"

context="$(mktemp -d)"
trap 'rm -rf "$context"' EXIT
cp "$here/Dockerfile" "$here/mesh.py" "$docker_dir/seed002/deliver.py" "$context/"
old_id="$("$DOCKER" image inspect "$tag" --format '{{.Id}}' 2>/dev/null || true)"
DOCKER_BUILDKIT=1 "$DOCKER" build --quiet --network none --build-arg "APP_IMAGE=$app" \
    --label org.runsecrets.image=tls-mesh -t "$tag" "$context" >/dev/null
new_id="$("$DOCKER" image inspect "$tag" --format '{{.Id}}')"
if [[ -n "$old_id" && "$old_id" != "$new_id" ]]; then
    "$DOCKER" image rm "$old_id" >/dev/null 2>&1 || true
fi
echo "tls-mesh/build: built $tag" >&2
