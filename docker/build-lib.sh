# Sourced by the build scripts in docker/: the docker client they use, and an offline build
# that does not leave the previous image behind.

# DOCKER, else Debian's /usr/bin/docker when present (its 20.10 client runs BuildKit without a
# `# syntax=` line), else the docker on PATH.
if [[ -z "${DOCKER:-}" ]]; then
    if [[ -x /usr/bin/docker ]]; then DOCKER=/usr/bin/docker; else DOCKER=docker; fi
fi

# build_offline TAG [DOCKER BUILD ARGUMENTS...] CONTEXT: `docker build --network none -t TAG`,
# quietly. A rebuild leaves the image TAG named before untagged: it is removed, unless
# something still uses it.
build_offline() {
    local tag="$1" old_id new_id
    shift
    old_id="$("$DOCKER" image inspect "$tag" --format '{{.Id}}' 2>/dev/null || true)"
    DOCKER_BUILDKIT=1 "$DOCKER" build --quiet --network none -t "$tag" "$@" >/dev/null
    new_id="$("$DOCKER" image inspect "$tag" --format '{{.Id}}')"
    if [[ -n "$old_id" && "$old_id" != "$new_id" ]]; then
        "$DOCKER" image rm "$old_id" >/dev/null 2>&1 || true
    fi
}
