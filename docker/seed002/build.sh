#!/usr/bin/env bash
# Build seed 002's app image (docker/seed002/Dockerfile) offline, after docker/build-images.sh:
# a wheelhouse with runsecrets and its Flask, SQLAlchemy and gunicorn extras plus PyMySQL, the
# example app and the secrets agent, in a temporary build context.
#
# Usage: docker/seed002/build.sh [TAG]   (default runsecrets-seed002:local)
# Environment: APP_IMAGE (default runsecrets-app:local), RUNSECRETS_BASE_IMAGE, DOCKER, PYTHON.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
docker_dir="$(dirname "$here")"
root="$(dirname "$docker_dir")"
tag="${1:-runsecrets-seed002:local}"
# shellcheck source=../build-lib.sh
source "$docker_dir/build-lib.sh"
base="${RUNSECRETS_BASE_IMAGE:-runsecrets-base:bookworm}"
app="${APP_IMAGE:-runsecrets-app:local}"

context="$(mktemp -d)"
trap 'rm -rf "$context"' EXIT
RUNSECRETS_EXTRAS=flask,sqlalchemy,gunicorn "$docker_dir/build-wheelhouse.sh" "$context/wheels" \
    'pymysql>=1.1'
cp "$here/Dockerfile" "$here/deliver.py" "$root/examples/flask_sqlalchemy/app.py" "$context/"
build_offline "$tag" --build-arg "BASE_IMAGE=$base" --build-arg "APP_IMAGE=$app" \
    --label org.runsecrets.image=seed002 "$context"
echo "seed002/build: built $tag" >&2
