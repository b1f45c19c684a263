#!/usr/bin/env bash
# System packages for the sandbox (bubblewrap; setpriv from util-linux to drop root for it) and the
# Docker engine plus images (docker-setup.sh). Needs root. Idempotent.
set -euo pipefail
repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
log() { printf '[system-setup %(%H:%M:%S)T] %s\n' -1 "$*" >&2; }

need=()
command -v bwrap >/dev/null || need+=(bubblewrap)
command -v setpriv >/dev/null || need+=(util-linux)
if ((${#need[@]})); then
    log "apt-get install ${need[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi
"$repo_root/scripts/docker-setup.sh"
