#!/usr/bin/env bash
# Set up cinedub from nothing on a Debian/Ubuntu machine: system packages, a virtual environment at
# .venv/ installed exactly from the lock files in requirements/ (CPU torch included), and cinedub itself
# (editable). Idempotent: running it again installs only what is missing or differs from the lock.
set -euo pipefail
cd "$(dirname "$0")/.."

# ffmpeg muxes the dub; pocketsphinx-testdata holds the LibriVox voice of the bundled sample;
# chromium runs the studio's browser tests (driven by playwright, which downloads no browser); apertium and
# its pairs translate offline for `cinedub localize`, espeak-ng reads the languages Piper's voice can't, and
# festival with its HTS voice slt is the second English reader (speech/reader.py).
APT_PACKAGES=(ffmpeg pocketsphinx-testdata chromium apertium apertium-eng-spa apertium-es-pt espeak-ng festival festvox-us-slt-hts)
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
# Every package at the version and hash the lock gives (requirements/, refreshed by scripts/lock.sh):
# nothing is resolved here, so a fresh install is the environment the tests ran against. no-deps.lock
# holds the packages whose own pins fight the rest (see requirements/no-deps.in).
bash scripts/install_lock.sh .venv requirements/cinedub.lock requirements/no-deps.lock
.venv/bin/python -m pip install -q --disable-pip-version-check --no-deps --no-build-isolation -e .
# cinedub's own bytecode too (an editable install compiles nothing; see install_lock.sh for why it matters)
# (the folders are pyproject.toml's package-dir, read from it: one list to keep)
.venv/bin/python -m compileall -q -j 0 $(.venv/bin/python -c \
  'import tomllib; print(*tomllib.load(open("pyproject.toml", "rb"))["tool"]["setuptools"]["package-dir"].values())') >/dev/null
.venv/bin/python -c "import chromadb" # fails loudly here, not in the tests, if the no-deps set is incomplete
# f5-tts (tests) needs torchaudio, whose compiled parts are CUDA builds that fail to load on CPU
# (MODELS.md): move its .so files aside; its pure-Python parts (MelSpectrogram, used by f5's MelSpec)
# keep working. (torchcodec, the other such build, is left out of the lock.)
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
