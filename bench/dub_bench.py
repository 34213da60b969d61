"""Wall time per stage of a dub of the bundled sample, the actor's real-time factor and perception time
as a fraction of the clip's duration. Prints JSON.

    .venv/bin/python bench/dub_bench.py [--runs 5]

The first run loads every model (reported as `cold`); the medians are over the warm runs that follow,
each a new session in the same process, so models stay loaded as they would in the studio.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path

from cinedub import config
from cinedub.samples import bundled_sample
from cinedub.studio import Studio
from cinedub.types import Line


def one_run(studio: Studio, session: str, out: Path) -> dict:
    sample = bundled_sample()
    start = time.perf_counter()
    result = studio.dub(sample.clip, [Line(text=sample.line)], sample.voice, session=session, out=out / session)
    total = time.perf_counter() - start
    report = json.loads((result.out_dir / "report.json").read_text())
    timings = report["stage_timings"]
    speech_s = result.take.duration
    clip_s = json.loads((result.out_dir / "direction.json").read_text())["perception"]["duration"]
    actor_s = sum(report["applied"]["actor_timings"].values())  # inside Actor.perform only
    return {
        "total_s": total,
        "stages_s": timings,
        "actor_rtf": actor_s / speech_s,
        "act_stage_rtf": timings["act"] / speech_s,  # + loading the voice, the 48 kHz track, the WAV
        "perception_fraction": timings["watch"] / clip_s,
        "speech_s": speech_s,
        "clip_s": clip_s,
        "duration_error_ms": max(abs(line["duration_error_ms"]) for line in report["lines"]),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="warm runs after the cold one")
    args = parser.parse_args()
    config.apply_offline_env()
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["CINEDUB_HOME"] = str(Path(tmp) / "home")
        studio = Studio()
        cold = one_run(studio, "cold", Path(tmp))
        warm = [one_run(studio, f"warm{i}", Path(tmp)) for i in range(args.runs)]
    med = lambda key: statistics.median(r[key] for r in warm)  # noqa: E731
    stages = {stage: statistics.median(r["stages_s"][stage] for r in warm) for stage in warm[0]["stages_s"]}
    print(json.dumps({
        "bench": "dub",
        "load_average_1min": round(os.getloadavg()[0], 2),
        "machine": {"cpus": os.cpu_count(), "processor": platform.processor() or platform.machine()},
        "sample": {"clip_s": cold["clip_s"], "speech_s": cold["speech_s"]},
        "cold": {"total_s": round(cold["total_s"], 3), "stages_s": {k: round(v, 3) for k, v in cold["stages_s"].items()}},
        "warm_runs": args.runs,
        "warm_median": {
            "total_s": round(med("total_s"), 3),
            "stages_s": {k: round(v, 3) for k, v in stages.items()},
            "actor_rtf": round(med("actor_rtf"), 4),
            "act_stage_rtf": round(med("act_stage_rtf"), 4),
            "perception_fraction": round(med("perception_fraction"), 4),
            "duration_error_ms": med("duration_error_ms"),
        },
        "goals": {"actor_rtf": 0.1, "perception_fraction": 0.3},
    }, indent=2))  # fmt: skip


if __name__ == "__main__":
    main()
