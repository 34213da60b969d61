"""Wall time per stage of a dub, the actor's real-time factor and perception time as a fraction of the
clip's duration, on the bundled sample and on a real 1080x1920 clip with its own sound. Prints JSON.

    .venv/bin/python bench/dub_bench.py [--runs 5] [--cases sample real_1080]

Cases:
- `sample`: the bundled carphone clip (176x144, no sound) and LibriVox voice.
- `real_1080`: LatentSync's kitchen clip (../shared/data/latentsync_demo2.mp4: 1080x1920, 25 fps, 20 s,
  a man talking with his kitchen's sound) with another real voice (latentsync_demo2_voice.wav) and a line
  as long as his speech: perception of full-HD frames, the sound split into dialogue and ambience, the
  line phrased over nine stretches of speech.

The first run of a case loads every model (reported as `cold`); the medians are over the warm runs that
follow, each a new session in the same process, so models stay loaded as they would in the studio.
The perception cache is emptied before every run: `watch` is measured, not read back.
`actor_rtf` is the actor's own time (inside Actor.perform) over the rendered line's duration (its
window, the pauses between phrases included); `act_stage_rtf` the whole act stage's (the reference
voice loaded, each phrase performed, the track assembled and written) over it.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from cinedub import config
from cinedub.samples import bundled_sample
from cinedub.studio import Studio
from cinedub.types import Line

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
REAL_LINE = ("When it comes to relationships and when it comes to the gym, you have to show up every day, even "
             "when you do not feel like it. That is the whole secret, and nobody wants to hear it, because it "
             "is boring. But it works, every single time, for everyone I know.")  # fmt: skip
GOALS = {"actor_rtf": 0.1, "act_stage_rtf": 0.1, "perception_fraction": 0.3}


@dataclass(frozen=True)
class Case:
    clip: Path
    voice: Path
    line: str


def cases() -> dict[str, Case]:
    sample = bundled_sample()
    return {
        "sample": Case(sample.clip, sample.voice, sample.line),
        "real_1080": Case(SHARED_DATA / "latentsync_demo2.mp4", SHARED_DATA / "latentsync_demo2_voice.wav", REAL_LINE),
    }


def one_run(studio: Studio, case: Case, session: str, out: Path) -> dict:
    shutil.rmtree(config.home() / "perception", ignore_errors=True)
    start = time.perf_counter()
    result = studio.dub(case.clip, [Line(text=case.line)], case.voice, session=session, out=out / session)
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
        "act_stage_rtf": timings["act"] / speech_s,
        "perception_fraction": timings["watch"] / clip_s,
        "speech_s": speech_s,
        "clip_s": clip_s,
        "duration_error_ms": max(abs(line["duration_error_ms"]) for line in report["lines"]),
    }


def run_case(studio: Studio, name: str, case: Case, runs: int, out: Path) -> dict:
    cold = one_run(studio, case, f"{name}-cold", out)
    warm = [one_run(studio, case, f"{name}-warm{i}", out) for i in range(runs)]
    med = lambda key: statistics.median(r[key] for r in warm)  # noqa: E731
    stages = {stage: statistics.median(r["stages_s"][stage] for r in warm) for stage in warm[0]["stages_s"]}
    measured = {
        "total_s": round(med("total_s"), 3),
        "stages_s": {k: round(v, 3) for k, v in stages.items()},
        "actor_rtf": round(med("actor_rtf"), 4),
        "act_stage_rtf": round(med("act_stage_rtf"), 4),
        "perception_fraction": round(med("perception_fraction"), 4),
        "duration_error_ms": med("duration_error_ms"),
    }
    return {
        "clip": case.clip.name,
        "clip_s": cold["clip_s"],
        "speech_s": cold["speech_s"],
        "cold": {"total_s": round(cold["total_s"], 3), "stages_s": {k: round(v, 3) for k, v in cold["stages_s"].items()}},
        "warm_runs": runs,
        "warm_median": measured,
        "meets": {goal: measured[goal] <= bound for goal, bound in GOALS.items()},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="warm runs after the cold one, per case")
    parser.add_argument("--cases", nargs="+", choices=sorted(cases()), default=sorted(cases()))
    args = parser.parse_args()
    config.apply_offline_env()
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["CINEDUB_HOME"] = str(Path(tmp) / "home")
        studio = Studio()
        for name in args.cases:
            case = cases()[name]
            if not case.clip.is_file():
                results[name] = {"skipped": f"{case.clip} is not here (../shared/data)"}
                continue
            results[name] = run_case(studio, name, case, args.runs, Path(tmp))
    print(json.dumps({
        "bench": "dub",
        "load_average_1min": round(os.getloadavg()[0], 2),
        "machine": {"cpus": os.cpu_count(), "processor": platform.processor() or platform.machine()},
        "goals": GOALS,
        "cases": results,
    }, indent=2))  # fmt: skip


if __name__ == "__main__":
    main()
