"""Speed and calibration of the parametric actor.

    .venv/bin/python bench/actor_rtf.py              # warm RTF, median of 5, per stage
    .venv/bin/python bench/actor_rtf.py --calibrate  # Piper joe's natural rate (frontend constants)
    .venv/bin/python bench/actor_rtf.py --f0-method harvest

RTF = wall time of `perform` / duration of the audio it returns.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import numpy as np

from cinedub.speech import ParametricActor, load_voice
from cinedub.speech.audio import SAMPLE_RATE, speech_bounds
from cinedub.speech.frontend import count_pauses, count_syllables, normalize_text
from cinedub.speech.piper_voice import speak
from cinedub.types import Direction, Line, Window

REFERENCE = Path("/usr/share/pocketsphinx/test/data/librivox/sense_and_sensibility_01_austen_64kb-0870.wav")
CALIBRATION = [
    "Get out of my car, I will not say it again.",
    "He was not an ill disposed young man.",
    "The weather tomorrow will be cold and windy, with rain in the afternoon.",
    "I never thought I would see you here again.",
    "Please put the box on the table.",
    "We have to leave now, before they find us, or we will never make it out of this city alive.",
    "Where were you last night?",
    "That is the most beautiful thing I have ever seen. Thank you.",
    "Run!",
    "The committee has decided, after a long and difficult discussion, to postpone the vote until next month.",
    "I am sorry. I didn't mean it. Please forgive me.",
    "Nobody knows what happened to the ship after it left the harbour in the middle of the night.",
]
TAKES = [  # (line, window seconds, emotion)
    ("Get out of my car, I will not say it again.", 3.0, "angry"),
    ("We have to leave now, before they find us, or we will never make it out of this city alive.", 5.0, "fear"),
    ("I never thought I would see you here again.", 2.6, "sad"),
]


def calibrate() -> dict[str, float]:
    rows, durations = [], []
    for text in CALIBRATION:
        audio = speak(normalize_text(text))
        start, end = speech_bounds(audio, SAMPLE_RATE)
        commas, sentences = count_pauses(text)
        rows.append([count_syllables(text), commas, sentences])
        durations.append((end - start) / SAMPLE_RATE)
    x, y = np.asarray(rows, float), np.asarray(durations)
    coef, *_ = np.linalg.lstsq(x, y, rcond=None)
    error = np.abs(x @ coef - y)
    return {
        "syllables_per_second": round(1.0 / coef[0], 3),
        "comma_pause_s": round(coef[1], 3),
        "sentence_pause_s": round(coef[2], 3),
        "median_abs_error_s": round(float(np.median(error)), 3),
        "max_abs_error_s": round(float(error.max()), 3),
    }


def rtf(f0_method: str, repeats: int) -> dict[str, object]:
    actor = ParametricActor(f0_method=f0_method)
    voice = load_voice(REFERENCE)
    result: dict[str, object] = {"f0_method": f0_method}
    for text, seconds, emotion in TAKES:
        direction = Direction(window=Window(start=0.0, end=seconds), voice=str(REFERENCE), emotion=emotion)
        actor.perform(Line(text=text), direction, voice)  # warm: model loaded, voice profiled
        walls, stages = [], []
        for _ in range(repeats):
            start = time.perf_counter()
            take = actor.perform(Line(text=text), direction, voice)
            walls.append(time.perf_counter() - start)
            stages.append(take.timings)
        median = statistics.median(walls)
        result[f"{emotion} {seconds:.1f}s"] = {
            "rtf": round(median / take.duration, 4),
            "wall_s": round(median, 4),
            "stage_rtf": {k: round(statistics.median(s[k] for s in stages) / take.duration, 4) for k in stages[0]},
        }
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calibrate", action="store_true")
    parser.add_argument("--f0-method", default="dio", choices=["dio", "harvest"])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    print(json.dumps(calibrate() if args.calibrate else rtf(args.f0_method, args.repeats), indent=2))


if __name__ == "__main__":
    main()
