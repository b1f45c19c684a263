#!/usr/bin/env bash
# Create .venv and install the project into it (editable). Idempotent; re-runs only reinstall when needed.
#
#   scripts/setup.sh            the service and its built-in plugins
#   scripts/setup.sh dev        plus the test and lint tools
#   scripts/setup.sh dev,trainer   any extras from pyproject.toml, comma-separated
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo_root"
extras="${1:-}"

python="${PYTHON:-python3}"
if ! "$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
    echo "setup: Python 3.11 or newer is needed (found: $("$python" --version 2>&1))" >&2
    exit 1
fi
if [[ ! -x .venv/bin/python ]]; then
    # Resolve a pyenv shim to the real interpreter once, so the venv never goes through the shim.
    real="$("$python" -c 'import sys; print(sys.executable)')"
    "$real" -m venv .venv
    .venv/bin/python -m pip install --quiet --upgrade pip
fi

# torch must come from its CPU build pin before anything (trl) asks for an unpinned torch.
if [[ ",$extras," == *",trainer,"* ]] && ! .venv/bin/python -c 'import torch' 2>/dev/null; then
    .venv/bin/python -m pip install --quiet "torch==2.13.0"
fi

target="."
[[ -n "$extras" ]] && target=".[$extras]"
stamp=".venv/.installed-$(sha1sum pyproject.toml | cut -c1-12)-${extras//,/_}"
if [[ ! -f "$stamp" ]]; then
    .venv/bin/python -m pip install --quiet -e "$target"
    rm -f .venv/.installed-*
    touch "$stamp"
fi
