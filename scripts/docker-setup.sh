#!/usr/bin/env bash
# Prepare a Docker engine and the sandbox image on a machine that reaches no container registry.
#
#   1. install docker.io, debootstrap and docker-compose from Debian (skipped when present),
#   2. start dockerd if no engine answers,
#   3. build a minimal Debian base image with debootstrap + `docker import` (skipped when the tag exists),
#   4. build the sandbox runtime image (sandbox/Dockerfile) on that base,
#   5. hand pip's CA bundle to the service image build (deploy/build-extra/), for networks that intercept TLS.
#
# Idempotent: a second run only re-checks and lets Docker's build cache answer.
# Needs root (apt-get, dockerd, debootstrap). Environment knobs, all optional:
#   DEBIAN_SUITE        suite for the base image (default: the host's VERSION_CODENAME, else bookworm)
#   DEBIAN_MIRROR       mirror for debootstrap (default: the first Debian URI in the host's apt sources)
#   SANDBOX_BASE_IMAGE  tag of the base image (default: r1-verifier/debian:$DEBIAN_SUITE)
#   SANDBOX_IMAGE       tag of the sandbox image (default: r1-verifier/sandbox:runner-3, the runner protocol)
#   SANDBOX_EXTRA_PACKAGES  Debian packages for the sandbox image beyond python3 and g++ (default: the
#                       languages' toolchains of scripts/toolchains.txt; "" for a python/C++-only image)
#   DOCKERD_LOG         dockerd's log file (default: /var/log/dockerd.log)
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
log() { printf '[docker-setup %(%H:%M:%S)T] %s\n' -1 "$*" >&2; }

if [[ $(id -u) -ne 0 ]]; then
    log "must run as root (apt-get, dockerd and debootstrap need it)"
    exit 1
fi

host_codename() {
    # shellcheck disable=SC1091
    (. /etc/os-release 2>/dev/null && printf '%s' "${VERSION_CODENAME:-}")
}

# The mirror apt already uses here: CI reaches Debian's packages and nothing else, so reuse it verbatim.
host_debian_mirror() {
    local uri
    uri="$(grep -hE '^URIs:' /etc/apt/sources.list.d/*.sources 2>/dev/null \
        | awk '{print $2}' | grep -vE 'security|updates' | head -n1 || true)"
    if [[ -z "$uri" ]]; then
        uri="$(grep -hE '^deb ' /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null \
            | awk '{for (i = 2; i <= NF; i++) if ($i ~ /^[a-z]+:\/\//) {print $i; exit}}' \
            | grep -vE 'security' | head -n1 || true)"
    fi
    printf '%s' "${uri:-http://deb.debian.org/debian}"
}

suite="${DEBIAN_SUITE:-$(host_codename)}"
suite="${suite:-bookworm}"
mirror="${DEBIAN_MIRROR:-$(host_debian_mirror)}"
base_image="${SANDBOX_BASE_IMAGE:-r1-verifier/debian:${suite}}"
sandbox_image="${SANDBOX_IMAGE:-r1-verifier/sandbox:runner-3}"
dockerd_log="${DOCKERD_LOG:-/var/log/dockerd.log}"
extra_packages="${SANDBOX_EXTRA_PACKAGES-$(sed 's/#.*//' "$repo_root/scripts/toolchains.txt" | xargs)}"

install_packages() {
    local missing=()
    command -v dockerd >/dev/null || missing+=(docker.io)
    command -v debootstrap >/dev/null || missing+=(debootstrap)
    # Compose for the whole-stack test: Debian's docker-compose (v1) unless a compose v2 plugin is here.
    command -v docker-compose >/dev/null || docker compose version >/dev/null 2>&1 || missing+=(docker-compose)
    if [[ ${#missing[@]} -eq 0 ]]; then
        log "docker.io, debootstrap and compose already installed"
        return
    fi
    log "installing ${missing[*]} from Debian"
    apt-get update -q
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
}

engine_answers() { timeout 10 docker info >/dev/null 2>&1; }

start_engine() {
    if engine_answers; then
        log "Docker engine already running"
        return
    fi
    log "starting dockerd (log: $dockerd_log)"
    mkdir -p "$(dirname "$dockerd_log")"
    # setsid: the engine must outlive this script (CI runs the tests after it returns).
    setsid nohup dockerd >>"$dockerd_log" 2>&1 </dev/null &
    for _ in $(seq 60); do
        engine_answers && { log "Docker engine is up"; return; }
        sleep 0.5
    done
    log "dockerd did not come up within 30 s; last lines of its log:"
    tail -n 20 "$dockerd_log" >&2 || true
    exit 1
}

build_base_image() {
    if docker image inspect "$base_image" >/dev/null 2>&1; then
        log "base image $base_image already present"
        return
    fi
    local rootfs
    rootfs="$(mktemp -d /var/tmp/r1-verifier-rootfs.XXXXXX)"
    # The rootfs is large and owned by root: never leave it behind, even on failure.
    trap 'rm -rf --one-file-system "$rootfs"' EXIT
    log "debootstrap --variant=minbase $suite from $mirror"
    debootstrap --variant=minbase --components=main "$suite" "$rootfs" "$mirror" >/dev/null
    # Trim what no sandbox run needs; the Dockerfile installs the toolchains on top.
    chroot "$rootfs" apt-get clean
    rm -rf "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/apt/*.bin \
        "$rootfs"/usr/share/doc/* "$rootfs"/usr/share/man/* "$rootfs"/usr/share/info/* \
        "$rootfs"/usr/share/locale/* "$rootfs"/var/log/*.log "$rootfs"/tmp/*
    log "importing the rootfs as $base_image"
    tar --numeric-owner -C "$rootfs" -c . | docker import \
        --change 'CMD ["/bin/bash"]' --change 'ENV LANG=C.UTF-8' - "$base_image" >/dev/null
    rm -rf --one-file-system "$rootfs"
    trap - EXIT
}

build_sandbox_image() {
    log "building $sandbox_image on $base_image with: python3 g++ $extra_packages"
    # Host networking for the build only: apt inside the build reaches the same mirror as the host,
    # without depending on the bridge network or NAT rules. Sandbox containers run with no network.
    docker build --network host --quiet \
        --build-arg "BASE_IMAGE=$base_image" \
        --build-arg "EXTRA_PACKAGES=$extra_packages" \
        --tag "$sandbox_image" \
        --file "$repo_root/sandbox/Dockerfile" "$repo_root/sandbox" >/dev/null
    log "sandbox image ready: $sandbox_image ($(docker image inspect -f '{{.Size}}' "$sandbox_image" \
        | awk '{printf "%.0f MB", $1 / 1e6}'))"
}

# Networks that intercept TLS: hand the CA bundle pip trusts here to the service image build (Dockerfile).
share_ca_bundle() {
    local bundle="${PIP_CERT:-}"
    [[ -n "$bundle" ]] || bundle="$(python3 -m pip config get global.cert 2>/dev/null || true)"
    if [[ -n "$bundle" && -f "$bundle" ]]; then
        cp "$bundle" "$repo_root/deploy/build-extra/ca-certificates.crt"
        log "service image builds will trust $bundle"
    fi
}

start=$SECONDS
install_packages
start_engine
build_base_image
build_sandbox_image
share_ca_bundle
log "done in $((SECONDS - start)) s"
