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
# shellcheck source=build-lib.sh
source "$here/build-lib.sh"
export DOCKER
base="${RUNSECRETS_BASE_IMAGE:-runsecrets-base:bookworm}"

"$here/build-base-image.sh"
"$here/build-wheelhouse.sh" "$here/wheels"
build_offline "$tag" --build-arg "BASE_IMAGE=$base" --label org.runsecrets.image=app "$here"
echo "build-images: built $tag" >&2
