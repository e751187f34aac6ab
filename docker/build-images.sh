#!/usr/bin/env bash
# Build everything the containers need, offline: the base image (cached by recipe), the
# wheelhouse from this checkout, then the production image.
#
# Usage: docker/build-images.sh [TAG]   (default runsecrets-app:local)
# Environment: DOCKER (default /usr/bin/docker when present: Debian's 20.10 client runs BuildKit
# without a `# syntax=` line), RUNSECRETS_BASE_IMAGE, PYTHON.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
tag="${1:-runsecrets-app:local}"
if [[ -z "${DOCKER:-}" ]]; then
    if [[ -x /usr/bin/docker ]]; then DOCKER=/usr/bin/docker; else DOCKER=docker; fi
fi
export DOCKER
base="${RUNSECRETS_BASE_IMAGE:-runsecrets-base:bookworm}"

"$here/build-base-image.sh"
"$here/build-wheelhouse.sh" "$here/wheels"
old_id="$("$DOCKER" image inspect "$tag" --format '{{.Id}}' 2>/dev/null || true)"
DOCKER_BUILDKIT=1 "$DOCKER" build --quiet --network none --build-arg "BASE_IMAGE=$base" \
    --label org.runsecrets.image=app -t "$tag" "$here" >/dev/null
# A rebuild (a new wheel) leaves the previous image untagged: drop it unless something uses it.
new_id="$("$DOCKER" image inspect "$tag" --format '{{.Id}}')"
if [[ -n "$old_id" && "$old_id" != "$new_id" ]]; then
    "$DOCKER" image rm "$old_id" >/dev/null 2>&1 || true
fi
echo "build-images: built $tag" >&2
