#!/usr/bin/env bash
# Install lock files into a virtual environment exactly: every package at its pinned version with a
# matching hash, no dependency resolution (the lock is the resolution), then check the result.
#   bash scripts/install_lock.sh VENV LOCK [LOCK ...]
# A file that matches no locked hash stops it before anything is installed; a version other than the
# lock's left installed fails check_env.py. Both with a non-zero exit.
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
INSTALLER_LOCK="$HERE/../requirements/installer.lock"
VENV=$1; shift
# uv installs (parallel downloads and builds: setup from nothing in about a third of pip's time); pip
# puts uv itself in, from its own hashed lock.
"$VENV/bin/python" -m pip install -q --disable-pip-version-check --no-deps --require-hashes -r "$INSTALLER_LOCK"
args=()
for lock in "$@"; do args+=(-r "$lock"); done
# The CPU build of torch lies on this machine's disk; uv does not read pip's configuration.
[ -d /opt/wheels ] && args+=(--find-links /opt/wheels)
# --compile-bytecode: every process starts from .pyc (Python reads them even under PYTHONDONTWRITEBYTECODE,
# which this machine sets); without them each start compiles its imports again, ~5 s of a batch worker's start.
"$VENV/bin/uv" pip install --quiet --python "$VENV/bin/python" --no-deps --require-hashes --compile-bytecode "${args[@]}"
"$VENV/bin/python" "$HERE/check_env.py" "$INSTALLER_LOCK" "$@"
