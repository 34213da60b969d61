#!/usr/bin/env bash
# Install lock files into a virtual environment exactly: every package at its pinned version with a
# matching hash, no dependency resolution (the lock is the resolution), then check the result.
#   bash scripts/install_lock.sh VENV LOCK [LOCK ...]
# A package whose file does not match a locked hash, or a version other than the lock's left installed,
# stops it with pip's or check_env.py's message and a non-zero exit.
set -euo pipefail
VENV=$1; shift
requirements=()
for lock in "$@"; do requirements+=(-r "$lock"); done
"$VENV/bin/python" -m pip install -q --disable-pip-version-check --no-deps --require-hashes "${requirements[@]}"
"$VENV/bin/python" "$(dirname "$0")/check_env.py" "$@"
