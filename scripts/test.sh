#!/usr/bin/env bash
# Set up everything the test suite needs, then run the linters and the whole suite.
#
# On a machine where we are root (CI, a fresh dev box) this installs the system packages the sandbox
# tests need and prepares the Docker engine and images; without root those steps are skipped with a
# warning and the tests that need them are skipped. With CI=true nothing may be skipped silently:
# a failing setup step fails the run, and docker/bubblewrap tests are required.
# Extra arguments go to pytest (e.g. scripts/test.sh -k format -x).
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo_root"
log() { printf '[test %(%H:%M:%S)T] %s\n' -1 "$*" >&2; }
ci="${CI:-}"

log "python environment"
scripts/setup.sh dev,trainer,ray

if [[ $(id -u) -eq 0 ]]; then
    log "system packages and docker engine"
    if [[ -x scripts/system-setup.sh ]]; then
        if ! scripts/system-setup.sh; then
            [[ -n "$ci" ]] && { log "system setup failed"; exit 1; }
            log "WARNING: system setup failed; sandbox and docker tests will be skipped"
        fi
    fi
else
    log "WARNING: not root: system packages and the docker engine are not set up here"
fi
[[ -n "$ci" ]] && export R1_REQUIRE_SYSTEM=1

log "lint: ruff, mypy, import-linter"
.venv/bin/ruff check .
.venv/bin/mypy
.venv/bin/lint-imports --no-cache

log "tests"
.venv/bin/pytest "$@"
