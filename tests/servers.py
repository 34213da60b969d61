"""Local server processes, for the studio's browser harness (tests/browser.py, used by the tests and
bench/ui_bench.py) and the test fixtures that start vLLM and `chroma run`: a free port on 127.0.0.1, and
waiting until a started server answers."""

from __future__ import annotations

import socket
import subprocess
import time
import urllib.request
from pathlib import Path


class ServerNotReady(RuntimeError):
    """A started server exited, or did not answer in time; the message carries its log's tail."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def log_tail(log: Path, chars: int = 6000) -> str:
    try:
        return Path(log).read_text(errors="replace")[-chars:]
    except OSError:
        return "(no log)"


def wait_until_answering(proc: subprocess.Popen, url: str, *, name: str, log: Path, timeout_s: float,
                         poll_s: float = 0.5) -> None:  # fmt: skip
    """Return once `url` answers 200; ServerNotReady if `proc` exits first or `timeout_s` passes."""
    deadline = time.monotonic() + timeout_s
    while True:
        if proc.poll() is not None:
            raise ServerNotReady(f"{name} exited with {proc.returncode} while starting; log tail:\n{log_tail(log)}")
        try:
            with urllib.request.urlopen(url, timeout=5) as reply:
                if reply.status == 200:
                    return
        except OSError:  # refused while it starts (urllib's URLError is an OSError)
            pass
        if time.monotonic() > deadline:
            raise ServerNotReady(f"{name} did not answer on {url} in {timeout_s:.0f} s; log tail:\n{log_tail(log)}")
        time.sleep(poll_s)
