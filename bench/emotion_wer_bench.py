"""Intelligibility and pitch under emotion: WER of the parametric actor's takes over 7 emotions x
intensities 0.3 / 0.6 / 0.8 x 3 lines x 2 real voices (LatentSync demo 1, female ~208 Hz; demo 2, a deep
male ~120 Hz), and each take's F0 median against its reference's. Prints JSON.

    .venv/bin/python bench/emotion_wer_bench.py

WER: cinedub.asr (faster-whisper tiny.en float32, the field's normalisation), mean of the 3 lines per cell.
F0: speech.measure.measure_prosody's median on the take and on the reference; `f0_st` is the take's
distance from the reference's, semitones (goal: within 6 at intensity 0.8). Windows are the lines'
estimated natural length, so timing is not what is tested.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np

from cinedub.asr import ASR_NAME, transcribe, wer
from cinedub.speech import ParametricActor, estimate_speech_seconds, load_voice, measure_prosody
from cinedub.speech.prosody import EMOTION_PROSODY
from cinedub.types import Direction, Line, Window

VOICES = {name: Path(__file__).resolve().parents[2] / "shared" / "data" / f"latentsync_{name}_voice.wav"
          for name in ("demo1", "demo2")}  # fmt: skip
LINES = ("Get out of my car, I will not say it again.", "The wayward child is gone, and now I hunt alone.",
         "We have to leave now, before they find us.")  # fmt: skip
INTENSITIES = (0.3, 0.6, 0.8)
WER_GOAL = 0.10
F0_GOAL_ST = 6.0


def main() -> None:
    actor = ParametricActor()
    start = time.perf_counter()
    table: dict[str, dict] = {}
    worst = 0.0
    for name, path in VOICES.items():
        voice = load_voice(path)
        reference_hz = measure_prosody(voice.audio, voice.sample_rate)["f0_median_hz"]
        rows = table[name] = {"reference_f0_median_hz": round(reference_hz, 1)}
        for emotion in EMOTION_PROSODY:
            for intensity in INTENSITIES:
                errors, f0s = [], []
                for text in LINES:
                    window = Window(start=0.0, end=estimate_speech_seconds(text))
                    direction = Direction(window=window, voice=str(path), emotion=emotion,
                                          intensity=intensity)
                    take = actor.perform(Line(text=text), direction, voice)
                    errors.append(wer(text, transcribe(take.audio, take.sample_rate)))
                    f0s.append(measure_prosody(take.audio, take.sample_rate)["f0_median_hz"])
                f0_st = 12.0 * np.log2(np.median(f0s) / reference_hz)
                worst = max(worst, float(np.mean(errors)))
                rows[f"{emotion}@{intensity}"] = {"wer": round(float(np.mean(errors)), 3),
                                                  "f0_median_hz": round(float(np.median(f0s)), 1),
                                                  "f0_st": round(float(f0_st), 2)}  # fmt: skip
    print(json.dumps({"asr": ASR_NAME, "goals": {"wer_per_cell": WER_GOAL, "f0_st_at_0.8": F0_GOAL_ST},
                      "worst_cell_wer": round(worst, 3), "seconds": round(time.perf_counter() - start, 1),
                      "table": table}, indent=1))  # fmt: skip


if __name__ == "__main__":
    main()
