#!/usr/bin/env bash
# System packages for the sandbox (bubblewrap; setpriv from util-linux to drop root for it; the languages'
# toolchains of scripts/toolchains.txt, for the process backend) and the Docker engine plus images
# (docker-setup.sh). Needs root. Idempotent. SANDBOX_TOOLCHAINS=none skips the toolchains.
set -euo pipefail
repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
log() { printf '[system-setup %(%H:%M:%S)T] %s\n' -1 "$*" >&2; }

need=()
command -v bwrap >/dev/null || need+=(bubblewrap)
command -v setpriv >/dev/null || need+=(util-linux)
if [[ "${SANDBOX_TOOLCHAINS:-}" != none ]]; then
    # shellcheck disable=SC2207
    toolchains=($(sed 's/#.*//' "$repo_root/scripts/toolchains.txt"))
    for package in "${toolchains[@]}"; do
        dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "ok installed" || need+=("$package")
    done
fi
if ((${#need[@]})); then
    log "apt-get install ${need[*]}"
    started=$SECONDS
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
    log "installed in $((SECONDS - started)) s"
fi
"$repo_root/scripts/docker-setup.sh"
