#!/usr/bin/env bash
# Build the registry-free base image (Debian bookworm + python3 + pip) used by container-test.
#
# No container registry is reachable on the CI machines, so python:3.12-slim cannot be pulled.
# debootstrap makes an equivalent root filesystem from the Debian mirror this machine's apt
# already uses; the tarball is cached outside the repository and reused when present.
#
# Usage: tools/container-base.sh [--force]     (prints the image name on stdout)
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=tools/container-lib.sh
source tools/container-lib.sh

force=0
[ "${1:-}" = "--force" ] && force=1

ct_require_system_tools
[ -n "${CONTAINERS_CONF:-}" ] || ct_containers_conf "$CT_CACHE_DIR"

if [ "$force" -eq 0 ] && podman image exists "$CT_LOCAL_BASE"; then
    ct_log "base image $CT_LOCAL_BASE present, reused"
    echo "$CT_LOCAL_BASE"
    exit 0
fi

tarball="$CT_CACHE_DIR/debian-python-bookworm.tar"
mkdir -p "$CT_CACHE_DIR"
if [ "$force" -eq 1 ] || [ ! -s "$tarball" ]; then
    [ "$(id -u)" -eq 0 ] || ct_die "debootstrap needs root; run as root once (the result is cached in $CT_CACHE_DIR)"
    mirror="$(ct_debian_mirror)"
    rootfs="$(mktemp -d "$CT_CACHE_DIR/rootfs.XXXXXX")"
    trap 'rm -rf "$rootfs"' EXIT
    ct_log "debootstrap bookworm from $mirror (about 40 s)"
    debootstrap --variant=minbase \
        --include=python3,python3-pip,python3-venv,python-is-python3,ca-certificates \
        bookworm "$rootfs" "$mirror" >"$CT_CACHE_DIR/debootstrap.log" 2>&1 ||
        ct_die "debootstrap failed, see $CT_CACHE_DIR/debootstrap.log"
    # The official python image has no PEP 668 marker; remove it so pip behaves the same.
    rm -f "$rootfs"/usr/lib/python3*/EXTERNALLY-MANAGED
    # Keep the image small and free of the build host's apt lists.
    rm -rf "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/apt/*.bin "$rootfs"/var/cache/apt/archives/*.deb
    tar -C "$rootfs" -cf "$tarball.tmp" . && mv "$tarball.tmp" "$tarball"
fi

ct_log "importing $tarball as $CT_LOCAL_BASE"
podman import -q --change 'ENV LANG=C.UTF-8' --change 'CMD ["python3"]' \
    "$tarball" "$CT_LOCAL_BASE" >/dev/null
echo "$CT_LOCAL_BASE"
