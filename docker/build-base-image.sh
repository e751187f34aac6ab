#!/usr/bin/env bash
# Build the local base image (Debian bookworm + python3) from Debian packages alone.
#
# No registry can be reached from the machines this project is tested on, so the image is made
# with debootstrap from the Debian mirror apt is already configured with, then `docker import`ed.
# The result is tagged $RUNSECRETS_BASE_IMAGE (default runsecrets-base:bookworm) and labelled
# with a hash of its recipe: a second run with the same recipe reuses the image (a few ms).
#
# Environment:
#   RUNSECRETS_BASE_IMAGE   image name to produce (default runsecrets-base:bookworm)
#   RUNSECRETS_APT_MIRROR   Debian mirror URL (default: read from this machine's apt sources)
#   DOCKER                  docker client (default /usr/bin/docker when present, else docker)
#   FORCE=1                 rebuild even when the cached image matches the recipe
set -euo pipefail

image="${RUNSECRETS_BASE_IMAGE:-runsecrets-base:bookworm}"
suite=bookworm
variant=minbase
# python3-venv brings ensurepip (the builder stage makes a venv); ca-certificates for TLS clients.
include=python3,python3-venv,ca-certificates
# shellcheck source=build-lib.sh
source "$(cd "$(dirname "$0")" && pwd)/build-lib.sh"

rootfs=""
log() { echo "build-base-image: $*" >&2; }

# The first deb URI that serves $suite, from deb822 .sources files or one-line sources.list.
apt_mirror() {
    local file
    for file in /etc/apt/sources.list.d/*.sources; do
        [[ -f "$file" ]] || continue
        awk -v suite="$suite" '
            function flush() {
                if (types ~ /(^| )deb( |$)/ && (" " suites " ") ~ (" " suite " ") && uri != "") {
                    print uri; found = 1; exit
                }
                types = ""; suites = ""; uri = ""
            }
            /^[[:space:]]*$/ { flush(); next }
            /^Types:/  { sub(/^Types:[[:space:]]*/, ""); types = $0 }
            /^Suites:/ { sub(/^Suites:[[:space:]]*/, ""); suites = $0 }
            /^URIs:/   { sub(/^URIs:[[:space:]]*/, ""); split($0, u, " "); uri = u[1] }
            END { if (!found) flush() }
        ' "$file" | head -n1 | grep . && return 0
    done
    for file in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
        [[ -f "$file" ]] || continue
        awk -v suite="$suite" '
            $1 == "deb" {
                i = 2; if ($i ~ /^\[/) { while ($i !~ /\]$/) i++; i++ }
                if ($(i + 1) == suite) { print $i; exit }
            }' "$file" | head -n1 | grep . && return 0
    done
    return 1
}

recipe_hash() {
    # Everything that decides the image's content: this script, the suite, variant and packages.
    { cat "$0"; echo "$suite $variant $include"; } | sha256sum | cut -c1-16
}

main() {
    local hash current mirror old_id
    hash="$(recipe_hash)"
    current="$("$DOCKER" image inspect "$image" \
        --format '{{ index .Config.Labels "org.runsecrets.recipe" }}' 2>/dev/null || true)"
    if [[ "$current" == "$hash" && "${FORCE:-0}" != 1 ]]; then
        log "$image is up to date (recipe $hash)"
        return 0
    fi
    old_id="$("$DOCKER" image inspect "$image" --format '{{.Id}}' 2>/dev/null || true)"
    mirror="${RUNSECRETS_APT_MIRROR:-$(apt_mirror || true)}"
    if [[ -z "$mirror" ]]; then
        log "no Debian mirror for $suite in the apt sources; set RUNSECRETS_APT_MIRROR"
        return 1
    fi
    command -v debootstrap >/dev/null || { log "debootstrap is not installed"; return 1; }
    rootfs="$(mktemp -d /tmp/runsecrets-rootfs.XXXXXX)"
    trap 'rm -rf "${rootfs:-}"' EXIT
    log "debootstrap $variant $suite from $mirror (about a minute)"
    debootstrap --variant="$variant" --include="$include" "$suite" "$rootfs" "$mirror" \
        >"$rootfs.log" 2>&1 || { tail -n 30 "$rootfs.log" >&2; rm -f "$rootfs.log"; return 1; }
    rm -f "$rootfs.log"
    # Downloaded packages and indexes are dead weight in an image.
    rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/* \
        "$rootfs"/var/log/*.log
    log "importing as $image"
    tar -C "$rootfs" -c . | "$DOCKER" import \
        --change "LABEL org.runsecrets.recipe=$hash" \
        --change 'ENV LANG=C.UTF-8' \
        --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
        --change 'CMD ["/bin/bash"]' \
        - "$image" >/dev/null
    # The previous build is now untagged: drop it unless a container still uses it.
    [[ -z "$old_id" ]] || "$DOCKER" image rm "$old_id" >/dev/null 2>&1 || true
    log "built $image (recipe $hash)"
}

main "$@"
