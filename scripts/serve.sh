#!/usr/bin/env bash
# Set up .venv if needed, then run the verifier on http://127.0.0.1:8000 with embedded defaults.
# Any arguments go to `verifier serve` (e.g. --port 9000); settings also come from VERIFIER_* variables.
set -euo pipefail
repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$repo_root/scripts/setup.sh"
exec "$repo_root/.venv/bin/verifier" serve "$@"
