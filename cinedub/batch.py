"""Batch work over many clips: each clip's CPU work in worker processes on this machine, or as Ray
tasks on a cluster, the results handed back as they finish.

A `Work` says what one clip needs: `setup()` runs once in each worker (what it returns is kept for
the worker's life: models, graphs; closed at the end if it has a `close()`) and `run(state, item)`
does one clip. Processes, not threads:
MediaPipe's log silencing swaps file descriptor 2 for the whole process, and the models hold the GIL.

`run_batch` yields `(key, result)` pairs in order of completion. A clip whose `run` raises gets
`Failed(reason)` and the run goes on; a clip whose worker process dies (killed, out of memory, a
native crash) is tried again on a fresh worker, `retries` times, then gets `Failed` too. With `then`,
each result goes through a second, driver-side stage in a thread pool of its own size (`concurrency`):
the requests to a model server, which overlap however many workers there are.

Resuming is the caller's: it knows which keys are done (cinedub classify's `.partial` journal) and
passes only the rest. Killing the driver stops its workers too (local workers see their pipe close;
Ray kills the tasks a dead driver owned).
"""

from __future__ import annotations

import functools
import logging
import os
import queue
import signal
import socket
import threading
from collections import Counter, deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Protocol

from cinedub import config
from cinedub.errors import CinedubError

# A clip whose worker process dies is tried this many more times, then recorded as failed.
WORKER_RETRIES = 2
# Ray: clips submitted ahead of the free CPUs, so a worker never waits for the driver.
RAY_TASKS_PER_CPU = 2
RAY_CONNECT_TIMEOUT_S = 10.0  # to open a TCP connection to the head's port
# Thread pools inside one worker (torch, OpenMP): one, because the workers already fill the cores.
WORKER_THREADS = "1"


class Work(Protocol):
    """One clip's work. Picklable (it is sent to the workers); `setup` is called once per worker."""

    def setup(self) -> Any: ...

    def run(self, state: Any, item: Any) -> Any: ...


@dataclass(frozen=True)
class Failed:
    """A clip the work could not do, and why (one line)."""

    reason: str


def default_workers() -> int:
    """The cores this process may use."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def one_line(err: BaseException) -> str:
    message = str(err).strip().splitlines()[0] if str(err).strip() else ""
    return message if isinstance(err, CinedubError) else f"{err.__class__.__name__}: {message}".rstrip(": ")


def _attempt(work: Work, state: Any, item: Any) -> Any:
    """`work.run`, with any exception turned into this clip's `Failed`."""
    if isinstance(state, Failed):
        return state
    try:
        return work.run(state, item)
    except Exception as err:  # one clip's failure is that clip's alone
        if os.environ.get("CINEDUB_DEBUG"):
            raise
        return Failed(one_line(err))


def _setup(work: Work) -> Any:
    try:
        return work.setup()
    except Exception as err:  # every clip of this worker then says why
        return Failed(f"worker setup failed: {one_line(err)}")


def run_batch(work: Work, items: Sequence[tuple[str, Any]], *, workers: int = 1, ray_address: str | None = None,
              retries: int = WORKER_RETRIES, then: Callable[[str, Any], Any] | None = None,
              concurrency: int = 1) -> Iterator[tuple[str, Any]]:  # fmt: skip
    """(key, result) for every (key, item), in order of completion; see the module's docstring.

    workers: local worker processes (1: in this process); ignored with `ray_address` ("auto" or
    HOST:PORT of a running Ray cluster), where the cluster's CPUs decide.
    """
    if workers < 1:
        raise CinedubError(f"--workers must be at least 1, got {workers}")
    if not items:
        results: Iterator[tuple[str, Any]] = iter(())
    elif ray_address is not None:
        ray = connect_ray(ray_address)  # here, in the caller's thread (ray.init wants the main thread)
        results = _on_ray(ray, work, items, retries)
    elif workers == 1:
        results = _in_process(work, items)
    else:
        results = _on_local_workers(work, items, min(workers, len(items)), retries)
    return _then(results, then, concurrency) if then is not None else _yielded(results)


def _yielded(results: Iterator[tuple[str, Any]]) -> Iterator[tuple[str, Any]]:
    """A generator, whatever ran it (its close() stops the workers)."""
    yield from results


def _close(state: Any) -> None:
    if hasattr(state, "close") and not isinstance(state, Failed):
        state.close()


def _in_process(work: Work, items: Sequence[tuple[str, Any]]) -> Iterator[tuple[str, Any]]:
    state = _setup(work)
    try:
        for key, item in items:
            yield key, _attempt(work, state, item)
    finally:
        _close(state)


# -- the second stage: threads in the driver ------------------------------------------------------


def _then(results: Iterator[tuple[str, Any]], then: Callable[[str, Any], Any],
          concurrency: int) -> Iterator[tuple[str, Any]]:  # fmt: skip
    """Each first-stage result through `then` in `concurrency` threads, yielded as they finish.

    A feeder thread drains the workers, so a slow `then` never holds them up."""
    done: queue.Queue = queue.Queue()
    end = object()  # the feeder's last message: how many results it handed on
    stop = threading.Event()
    pool = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="batch-then")

    def finish(key: str, value: Any) -> None:
        try:
            done.put((key, then(key, value)))
        except BaseException as err:  # a bug in `then`: stop the run and say it in the driver
            done.put((None, err))

    def feed() -> None:
        handed = 0
        try:
            for key, value in results:
                if stop.is_set():
                    break
                pool.submit(finish, key, value)
                handed += 1
        except BaseException as err:
            done.put((None, err))
        finally:
            done.put((end, handed))

    feeder = threading.Thread(target=feed, name="batch-feed", daemon=True)
    feeder.start()
    expected, received = None, 0
    try:
        while expected is None or received < expected:
            key, value = done.get()
            if key is end:
                expected = value
            elif key is None:
                raise value
            else:
                received += 1
                yield key, value
    finally:
        stop.set()
        pool.shutdown(wait=False, cancel_futures=True)


# -- local worker processes -------------------------------------------------------------------------


def _worker_main(work: Work, conn: Any, cpu: int | None = None) -> None:
    """A local worker: set up once, then one clip per message until told to stop or the driver is gone.

    cpu: the one core this worker runs on, when there are no more workers than cores. MediaPipe's graph
    threads busy-wait for each other; unpinned, two workers' threads spin on each other's core.
    """
    for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ.setdefault(name, WORKER_THREADS)
    if cpu is not None:
        os.sched_setaffinity(0, {cpu})
    config.apply_offline_env()
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the driver's to handle
    state = _setup(work)
    try:
        while True:
            try:
                message = conn.recv()
                if message is None:
                    return
                key, item = message
                conn.send((key, _attempt(work, state, item)))
            except (EOFError, OSError):  # the driver is gone (killed): nothing left to do it for
                return
    finally:
        _close(state)


@dataclass
class _Worker:
    process: Any
    conn: Any
    cpu: int | None  # the core it is pinned to, if any
    task: tuple[str, Any] | None = None


def _exit_reason(code: int | None) -> str:
    if code is not None and code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exited with code {code}"


def _on_local_workers(work: Work, items: Sequence[tuple[str, Any]], workers: int,
                      retries: int) -> Iterator[tuple[str, Any]]:  # fmt: skip
    """`workers` spawned processes, one clip in flight each (so a death is charged to its own clip)."""
    import multiprocessing
    from multiprocessing.connection import wait

    # spawn, not fork: the driver may already hold thread pools (torch, CTranslate2) that fork breaks.
    context = multiprocessing.get_context("spawn")
    todo = deque(items)
    deaths: Counter[str] = Counter()

    cores = sorted(os.sched_getaffinity(0))
    pinned = workers <= len(cores)  # one core each, when they fit

    def start(cpu: int | None) -> _Worker:
        parent, child = context.Pipe()
        process = context.Process(target=_worker_main, args=(work, child, cpu), name="cinedub-worker", daemon=True)
        process.start()
        child.close()
        return _Worker(process, parent, cpu)

    def give(worker: _Worker) -> None:
        if todo:
            worker.task = todo.popleft()
            try:
                worker.conn.send(worker.task)
            except OSError:  # it just died: the wait below sees it, and the clip is handled as its death
                pass

    pool = [start(cores[index] if pinned else None) for index in range(workers)]
    try:
        for worker in pool:
            give(worker)
        while True:
            busy = [w for w in pool if w.task is not None]
            if not busy:
                return
            ready = set(wait([w.conn for w in busy] + [w.process.sentinel for w in busy]))
            for index, worker in enumerate(pool):
                if worker.task is None or not ({worker.conn, worker.process.sentinel} & ready):
                    continue
                try:
                    key, result = worker.conn.recv()
                except (EOFError, OSError):  # it died with this clip in hand
                    worker.process.join()
                    key, item = worker.task
                    deaths[key] += 1
                    if deaths[key] > retries:
                        yield key, Failed(f"worker process {_exit_reason(worker.process.exitcode)}, "
                                          f"{deaths[key]} times on this clip")  # fmt: skip
                    else:
                        todo.appendleft((key, item))
                    worker.conn.close()
                    pool[index] = worker = start(worker.cpu)
                    give(worker)
                    continue
                worker.task = None
                give(worker)
                yield key, result
    finally:
        for worker in pool:
            if worker.task is not None:  # abandoned mid-clip: the driver stops early
                worker.process.terminate()
            else:
                try:
                    worker.conn.send(None)
                except OSError:
                    pass
        for worker in pool:
            worker.process.join()
            worker.conn.close()


# -- Ray ------------------------------------------------------------------------------------------


@functools.cache
def _ray_worker_state(work: Work) -> Any:
    """A Ray worker process runs many tasks: the work is set up on its first and kept."""
    config.apply_offline_env()
    return _setup(work)


def _ray_task(work: Work, item: Any, cwd: str) -> Any:
    if os.getcwd() != cwd and os.path.isdir(cwd):  # relative paths mean what they mean to the driver
        os.chdir(cwd)
    return _attempt(work, _ray_worker_state(work), item)


def connect_ray(address: str) -> Any:
    """The `ray` module, connected to the running cluster at `address` ("auto" or HOST:PORT)."""
    try:
        import ray
    except ImportError:
        raise CinedubError("--ray needs Ray: pip install 'cinedub[batch]'") from None
    if ray.is_initialized():
        return ray
    host, sep, port = address.rpartition(":")
    if sep and port.isdigit() and "://" not in address:
        try:  # ray.init waits a long time for a head that is not there: ask the port first
            socket.create_connection((host, int(port)), timeout=RAY_CONNECT_TIMEOUT_S).close()
        except OSError as err:
            raise CinedubError(f"no Ray cluster at {address} ({err.strerror or err}); start one with "
                               "`ray start --head`") from None  # fmt: skip
    try:
        # Worker logs stay on the nodes (each clip's failure comes back as its one-line reason).
        ray.init(address=address, logging_level=logging.WARNING, log_to_driver=bool(os.environ.get("CINEDUB_DEBUG")),
                 configure_logging=True)  # fmt: skip
    except (ConnectionError, RuntimeError, ValueError) as err:
        raise CinedubError(f"no Ray cluster at {address} ({one_line(err)}); start one with "
                           "`ray start --head`") from None  # fmt: skip
    return ray


def _on_ray(ray: Any, work: Work, items: Sequence[tuple[str, Any]],
            retries: int) -> Iterator[tuple[str, Any]]:  # fmt: skip
    """Each clip a Ray task (one CPU); Ray runs a task whose worker died again, `retries` times."""
    try:
        task = ray.remote(_ray_task).options(num_cpus=1, max_retries=retries, retry_exceptions=False,
                                             name="cinedub-clip")  # fmt: skip
        shared = ray.put(work)
        ahead = max(1, int(ray.cluster_resources().get("CPU", 1)) * RAY_TASKS_PER_CPU)
        todo = deque(items)
        pending: dict[Any, str] = {}
        while todo or pending:
            while todo and len(pending) < ahead:
                key, item = todo.popleft()
                pending[task.remote(shared, item, os.getcwd())] = key
            finished, _ = ray.wait(list(pending), num_returns=1)
            for ref in finished:
                key = pending.pop(ref)
                try:
                    result = ray.get(ref)
                except ray.exceptions.RayError as err:  # its worker died `retries` + 1 times, or the node did
                    result = Failed(f"Ray task failed after {retries + 1} tries: {one_line(err)}")
                yield key, result
    finally:
        ray.shutdown()
