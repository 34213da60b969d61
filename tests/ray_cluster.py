"""A real, local Ray cluster for the tests marked `ray` and bench/classify_bench.py: a head node on this
machine, started with `ray start --head --block` in its own session and stopped by ending that session
(never `ray stop`, which would stop every Ray cluster on the machine).

Token authentication (on by default since Ray 2.5x) is turned off for this loopback-only cluster; the
driver is given the same environment (`RAY_ENV`).
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from tests.servers import ServerNotReady, free_port, log_tail

RAY = Path(sys.executable).parent / "ray"
RAY_ENV = {"RAY_AUTH_MODE": "disabled", "RAY_USAGE_STATS_ENABLED": "0"}
START_TIMEOUT_S = 120.0
OBJECT_STORE_BYTES = 100 * 2**20  # the clips' perception results are small


@dataclass(frozen=True)
class RayHead:
    address: str  # HOST:PORT, what `cinedub classify --ray` takes
    session: int  # the session id every process of this cluster has


@contextmanager
def ray_head(num_cpus: int = 2) -> Iterator[RayHead]:
    """A Ray head with `num_cpus` CPUs on this machine. Stopped on exit, whatever happened inside."""
    # Short: Ray puts Unix sockets under it, and a socket path may not exceed 107 bytes.
    temp = Path(tempfile.mkdtemp(prefix="cdray", dir="/tmp"))
    port = free_port()
    log = temp / "head.log"
    command = [str(RAY), "start", "--head", "--block", "--port", str(port), "--node-ip-address", "127.0.0.1",
               "--num-cpus", str(num_cpus), "--include-dashboard=false", "--disable-usage-stats",
               "--ray-client-server-port", str(free_port()), "--dashboard-agent-listen-port", str(free_port()),
               "--object-store-memory", str(OBJECT_STORE_BYTES), "--temp-dir", str(temp)]  # fmt: skip
    with open(log, "w") as sink:
        head = subprocess.Popen(command, stdout=sink, stderr=subprocess.STDOUT, env={**os.environ, **RAY_ENV},
                                start_new_session=True)  # fmt: skip
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while "will now block" not in log.read_text(errors="replace"):
            if head.poll() is not None:
                raise ServerNotReady(f"ray start exited with {head.returncode}; log tail:\n{log_tail(log)}")
            if time.monotonic() > deadline:
                raise ServerNotReady(
                    f"ray start not ready in {START_TIMEOUT_S:.0f} s; log tail:\n{log_tail(log)}"
                )
            time.sleep(0.2)
        yield RayHead(f"127.0.0.1:{port}", head.pid)
    finally:
        head.terminate()  # `ray start --block` stops the processes it started on SIGTERM
        try:
            head.wait(timeout=30)
        except subprocess.TimeoutExpired:
            pass
        try:  # anything left of this cluster (its workers share the session)
            os.killpg(head.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        head.wait()
        shutil.rmtree(temp, ignore_errors=True)


def cluster_workers(head: RayHead, title: str) -> list[int]:
    """Pids of this cluster's worker processes whose title starts with `title` (Ray names a busy
    worker `ray::TASK`)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            if cmdline.startswith(title) and os.getsid(int(entry.name)) == head.session:
                pids.append(int(entry.name))
        except (OSError, ProcessLookupError):
            continue
    return pids
