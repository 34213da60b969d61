#!/usr/bin/env bash
# Refresh the lock files that scripts/setup.sh installs from (every package pinned with its hashes):
#   requirements/cinedub.lock   .venv: pyproject.toml's `test` extra (which holds every other extra) and
#                               requirements/tools.in, under constraints.txt
#   requirements/no-deps.lock   .venv: requirements/no-deps.in, installed without their dependencies
#   requirements/vllm.lock      .venv-vllm: requirements/vllm.in
#   requirements/installer.lock uv, which installs the locks (requirements/installer.in)
#   requirements/apt.txt        the Debian packages' versions this machine has (recorded, not enforced)
#
#   bash scripts/lock.sh              # keep the locked versions the inputs still allow
#   bash scripts/lock.sh --upgrade    # the newest versions the inputs allow
# then `bash scripts/setup.sh` and the tests. Needs uv (in .venv from the lock; UV=... for another).
set -euo pipefail
cd "$(dirname "$0")/.."
UV=${UV:-.venv/bin/uv}
# Python 3.11 on this machine's platform; torch is the CPU build that lies on disk in /opt/wheels
# (PyPI's x86_64 torch is the CUDA build).
COMPILE=("$UV" pip compile --quiet --python-version 3.11 --find-links /opt/wheels --generate-hashes
         --custom-compile-command "bash scripts/lock.sh" "$@")

# torchcodec (pulled by f5-tts) is a CUDA build that fails to load on a CPU, and qwen-vl-utils would
# pick it over decord: it is left out (MODELS.md).
"${COMPILE[@]}" pyproject.toml requirements/tools.in --extra test -c constraints.txt \
    --no-emit-package torchcodec -o requirements/cinedub.lock

# The OTLP exporter's versions follow the locked opentelemetry-sdk and semantic conventions.
locked() { sed -n "s/^$1==\([^ ]*\).*/\1/p" requirements/cinedub.lock; }
OTEL=$(locked opentelemetry-sdk)
OTEL_CONTRIB=$(locked opentelemetry-semantic-conventions)
OTEL_PINS=requirements/otel-pins.txt  # a fixed name: the lock's annotations quote it
trap 'rm -f "$OTEL_PINS"' EXIT
printf '%s\n' "opentelemetry-exporter-otlp-proto-grpc==$OTEL" "opentelemetry-proto==$OTEL" \
    "opentelemetry-exporter-otlp-proto-common==$OTEL" "opentelemetry-exporter-otlp-common==$OTEL_CONTRIB" \
    > "$OTEL_PINS"
"${COMPILE[@]}" requirements/no-deps.in --no-deps -c "$OTEL_PINS" -o requirements/no-deps.lock

"${COMPILE[@]}" requirements/vllm.in --no-emit-package torchaudio --no-emit-package torchcodec \
    -o requirements/vllm.lock
"${COMPILE[@]}" requirements/installer.in -o requirements/installer.lock

{
    echo "# Debian packages scripts/setup.sh installs, as this machine has them (bash scripts/lock.sh)."
    dpkg-query -W -f='${Package}=${Version}\n' $(sed -n 's/^APT_PACKAGES=(\(.*\))$/\1/p' scripts/setup.sh)
} > requirements/apt.txt
echo "locked: $(grep -c '^[a-z0-9]' requirements/cinedub.lock) + $(grep -c '^[a-z0-9]' requirements/no-deps.lock)" \
     "packages (.venv), $(grep -c '^[a-z0-9]' requirements/vllm.lock) (.venv-vllm)"
