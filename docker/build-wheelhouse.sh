#!/usr/bin/env bash
# Fill a wheelhouse with runsecrets (built from this checkout) and its dependencies, as wheels
# for the image's Python (Debian bookworm: CPython 3.11), so images install offline with
# `pip install --no-index --find-links`.
#
# Usage: docker/build-wheelhouse.sh [DIR [REQUIREMENT...]]   (default docker/wheels, inside the
#        build context; REQUIREMENTs are other packages to add, such as 'pymysql>=1.1')
# Environment: PYTHON (default python3), IMAGE_PYTHON_VERSION (default 3.11), RUNSECRETS_EXTRAS
# (runsecrets' extras to add, such as flask,sqlalchemy)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(dirname "$here")"
out="${1:-$here/wheels}"
shift || true
python="${PYTHON:-python3}"
pyver="${IMAGE_PYTHON_VERSION:-3.11}"
arch="$(uname -m)"

rm -rf "$out"
mkdir -p "$out"
"$python" -m pip wheel --quiet --no-deps --wheel-dir "$out" "$root"
wheel="$(ls "$out"/runsecrets-*.whl)"
extras="${RUNSECRETS_EXTRAS:+[$RUNSECRETS_EXTRAS]}"
# Binary wheels only, for the image's interpreter and platform, whatever the host runs.
"$python" -m pip download --quiet --dest "$out" --only-binary=:all: \
    --python-version "$pyver" --implementation cp \
    --platform "manylinux_2_36_$arch" --platform "manylinux_2_28_$arch" \
    --platform "manylinux_2_17_$arch" --platform "manylinux2014_$arch" \
    "$wheel$extras" "$@"
echo "build-wheelhouse: $(ls "$out" | wc -l) wheels in $out" >&2
