#!/usr/bin/env bash
# Set up .venv if needed, then run the verifier on http://127.0.0.1:8000 with embedded defaults.
# Any arguments go to `verifier serve` (e.g. --port 9000); settings also come from VERIFIER_* variables.
#
# The `code` reward runs model-written programs under bubblewrap and runs none without it. As root this
# script installs bubblewrap (Debian/Ubuntu: apt-get); otherwise it says what to do, and the service
# still starts: the code reward's items then get null + an error and /readyz says why.
set -euo pipefail
repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
log() { printf '[serve] %s\n' "$*" >&2; }

if ! command -v bwrap >/dev/null; then
    if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null; then
        log "installing bubblewrap (the code reward's sandbox)"
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq bubblewrap >/dev/null
    else
        log "bubblewrap (bwrap) is not installed: the code reward will run NO programs (items get null + an error)."
        log "  fix: sudo apt-get install bubblewrap   (or: sudo scripts/system-setup.sh),"
        log "  or use plugin_options.code.backend = \"docker\"; isolation = \"none\" runs programs unisolated (trusted code only)."
    fi
fi
if command -v bwrap >/dev/null; then
    if bwrap --unshare-all --ro-bind / / true 2>/dev/null; then
        log "code reward isolation: bubblewrap ($(bwrap --version)), per-run namespaces + seccomp"
    else
        log "bubblewrap cannot create namespaces here (user namespaces disabled?): the code reward will run NO programs;"
        log "  see docs/sandbox.md (kernel.unprivileged_userns_clone / apparmor), or use backend = \"docker\"."
    fi
fi
"$repo_root/scripts/setup.sh"
exec "$repo_root/.venv/bin/verifier" serve "$@"
