"""Diarization quality and speed on pyannote.audio's packaged two-speaker recording (30 s); prints JSON.

    .venv/bin/python bench/diarize_bench.py [--repeats 3]

DER with a 0.25 s collar against the recording's RTTM (pyannote.metrics; its miss, false alarm and
confusion too), with the speaker count found and with `num_speakers=2`; RTF = seconds of compute per
second of audio, the best of --repeats runs after a warm-up (models loaded, librosa compiled).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from cinedub import media  # noqa: E402
from cinedub.diarize import diarize  # noqa: E402
from cinedub.samples import packaged_file  # noqa: E402

HINT = "pip install --no-deps pyannote.audio==3.3.2"


def annotation(turns):
    from pyannote.core import Annotation, Segment

    result = Annotation()
    for turn in turns:
        result[Segment(turn.start, turn.end)] = turn.speaker
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    from pyannote.database.util import load_rttm
    from pyannote.metrics.diarization import DiarizationErrorRate

    warnings.filterwarnings("ignore", message="'uem' was approximated")  # the whole file is scored
    audio, rate = media.load_audio(packaged_file("pyannote.audio", "sample/sample.wav", HINT))
    reference = next(iter(load_rttm(packaged_file("pyannote.audio", "sample/sample.rttm", HINT)).values()))
    duration = len(audio) / rate
    machine = {"cpu_count": os.cpu_count(), "python": platform.python_version()}
    result: dict = {"recording": "pyannote.audio sample.wav", "duration_s": duration, "collar_s": 0.25,
                    "machine": machine}  # fmt: skip
    diarize(audio, rate)  # warm-up
    for name, speakers in (("auto", None), ("two_speakers", 2)):
        seconds = []
        for _ in range(args.repeats):
            start = time.perf_counter()
            turns = diarize(audio, rate, num_speakers=speakers)
            seconds.append(time.perf_counter() - start)
        metric = DiarizationErrorRate(collar=0.25)
        components = metric(reference, annotation(turns), detailed=True)
        total = components["total"]
        result[name] = {
            "der": round(components["diarization error rate"], 4),
            "miss": round(components["missed detection"] / total, 4),
            "false_alarm": round(components["false alarm"] / total, 4),
            "confusion": round(components["confusion"] / total, 4),
            "speakers_found": len({turn.speaker for turn in turns}),
            "turns": len(turns),
            "rtf": round(min(seconds) / duration, 4),
        }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
