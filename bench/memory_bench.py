"""Peak memory and wall time of a dub with long inputs: a 40-minute reference voice, and a 10-minute clip
(looped real footage: the 1080x1920 LatentSync clip, or the bundled 176x144 carphone with --small-clip).
Each dub runs as its own `cinedub dub` process under `/usr/bin/time -v`; prints JSON.

    .venv/bin/python bench/memory_bench.py [--voice-minutes 40] [--clip-minutes 10] [--small-clip]
                                           [--only voice|clip] [--work DIR]

The goal (issue 20): both peaks under 3 GB, i.e. memory bounded by what a voice profile and perception
need, not by the inputs' length (a reference is cut to its best VOICE_EXCERPT_S of speech, decoded from
its first VOICE_SEARCH_S; perception keeps a few numbers per frame and at most MAX_KEPT_FRAMES frames).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from cinedub.media import ffmpeg_binary, probe
from cinedub.samples import bundled_sample

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
LINE = "I told you I would come back, and here I am."
GOAL_MB = 3 * 1024


def looped(source: Path, out: Path, seconds: float, *, video: bool) -> Path:
    """`source` played over and over for `seconds`, streams copied (no re-encoding), audio only or
    video only."""
    if not out.exists():
        streams = ["-an", "-c:v", "copy"] if video else ["-vn", "-c:a", "pcm_s16le"]
        subprocess.run([ffmpeg_binary(), "-nostdin", "-hide_banner", "-loglevel", "error", "-y",
                        "-stream_loop", "-1", "-i", str(source), "-t", str(seconds), *streams, str(out)],
                       check=True)  # fmt: skip
    return out


def timed_dub(clip: Path, voice: Path, work: Path, session: str) -> dict:
    """One `cinedub dub` process under /usr/bin/time -v, a new session in its own home: its peak RSS and
    wall time."""
    cinedub = Path(sys.executable).parent / "cinedub"
    for folder in (work / session, work / f"home-{session}"):
        shutil.rmtree(folder, ignore_errors=True)
    env = {**os.environ, "CINEDUB_HOME": str(work / f"home-{session}")}
    command = ["/usr/bin/time", "-v", str(cinedub), "dub", str(clip), "--line", LINE, "--voice", str(voice),
               "--session", session, "--out", str(work / session)]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
    peak_kb = re.search(r"Maximum resident set size \(kbytes\): (\d+)", result.stderr)
    wall = re.search(r"Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): ([\d:.]+)", result.stderr)
    parts = wall.group(1).split(":") if wall else []
    seconds = sum(float(part) * 60**i for i, part in enumerate(reversed(parts))) if wall else None
    report = work / session / "report.json"
    lines = json.loads(report.read_text())["applied"]["lines"] if report.exists() else [{}]
    return {
        "clip": str(clip), "clip_s": round(probe(clip).duration, 2), "voice": str(voice),
        "voice_s": round(probe(voice).duration, 2), "exit_code": result.returncode,
        "error": (result.stderr.strip() or "?").splitlines()[0] if result.returncode else None,
        "peak_rss_mb": round(int(peak_kb.group(1)) / 1024, 1) if peak_kb else None,
        "wall_s": round(seconds, 1) if seconds is not None else None,
        "reference_voice": lines[0].get("reference_voice"),
        "under_goal": bool(peak_kb) and int(peak_kb.group(1)) / 1024 < GOAL_MB,
    }  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--voice-minutes", type=float, default=40.0)
    parser.add_argument("--clip-minutes", type=float, default=10.0)
    parser.add_argument("--small-clip", action="store_true",
                        help="loop the 176x144 carphone clip, not the 1080x1920 one")  # fmt: skip
    parser.add_argument("--only", choices=("voice", "clip"), help="run one of the two dubs")
    parser.add_argument("--work", help="keep the inputs and outputs here (default: a temporary folder)")
    args = parser.parse_args()
    sample = bundled_sample()
    big_clip, long_voice = SHARED / "latentsync_demo2.mp4", SHARED / "latentsync_demo2_voice.wav"
    footage = sample.clip if args.small_clip or not big_clip.exists() else big_clip
    speech = long_voice if long_voice.exists() else sample.voice
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(args.work or tmp)
        work.mkdir(parents=True, exist_ok=True)
        runs = {}
        if args.only in (None, "voice"):
            name = f"{speech.stem}-{args.voice_minutes:g}min.wav"
            voice = looped(speech, work / name, args.voice_minutes * 60, video=False)
            runs["long_voice"] = timed_dub(sample.clip, voice, work, voice.stem)
        if args.only in (None, "clip"):
            clip = looped(footage, work / f"{footage.stem}-{args.clip_minutes:g}min{footage.suffix}",
                          args.clip_minutes * 60, video=True)  # fmt: skip
            runs["long_clip"] = timed_dub(clip, sample.voice, work, clip.stem)
    load = round(os.getloadavg()[0], 2)
    print(json.dumps({"bench": "memory", "goal_peak_rss_mb": GOAL_MB, "cpus": os.cpu_count(),
                      "load_average_1min": load, "runs": runs}, indent=2))  # fmt: skip


if __name__ == "__main__":
    main()
