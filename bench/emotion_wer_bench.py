"""Intelligibility and pitch under emotion: WER of the parametric actor's takes over 7 emotions x
intensities 0.3 / 0.6 / 0.8 x 3 lines x 2 real voices (LatentSync demo 1, female ~208 Hz; demo 2, a deep
male ~122 Hz), and each take's F0 median against its reference's. Prints JSON.

    .venv/bin/python bench/emotion_wer_bench.py

The measure is tests/real_voices.py's emotion_cell (shared with tests/test_emotion_wer.py). WER:
cinedub.asr (faster-whisper tiny.en float32, the field's normalisation), mean of the 3 lines per cell.
F0: speech.measure.measure_prosody's median on the take and on the reference; `f0_st` is the take's
distance from the reference's, semitones (goal: within 6 at intensity 0.8). Windows are the lines'
estimated natural length, so timing is not what is tested. `reader_alone`: the same lines read by the reader
that plays each voice, as it reads them (no timbre, no emotion, its natural pace): the floor the recogniser
sets on these lines before cinedub changes anything.
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from cinedub.asr import ASR_NAME, transcribe, wer
from cinedub.speech import ParametricActor, load_voice, measure_prosody
from cinedub.speech.audio import SAMPLE_RATE
from cinedub.speech.prosody import EMOTION_PROSODY
from cinedub.speech.reader import read

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests.real_voices: the voices and the measure


def main() -> None:
    from tests.real_voices import (
        EMOTION_LINES,
        EMOTION_VOICES,
        F0_GOAL_ST,
        INTENSITIES,
        WER_GOAL,
        emotion_cell,
        voices,
    )

    actor = ParametricActor()
    start = time.perf_counter()
    table: dict[str, dict] = {}
    cells = []
    with tempfile.TemporaryDirectory() as folder:
        paths = voices(Path(folder))
        for name in EMOTION_VOICES:
            voice = load_voice(paths[name])
            reference_hz = measure_prosody(voice.audio, voice.sample_rate)["f0_median_hz"]
            rows = table[name] = {"reference_f0_median_hz": round(reference_hz, 1)}
            for emotion in EMOTION_PROSODY:
                for intensity in INTENSITIES:
                    cell = emotion_cell(actor, voice, emotion, intensity, reference_hz)
                    rows[f"{emotion}@{intensity}"] = cell.to_dict()
                    cells.append(cell)
            heard = {text: transcribe(read(text, cell.reader), SAMPLE_RATE) for text in EMOTION_LINES}
            rows["reader_alone"] = {"reader": cell.reader, "heard": heard,
                                    "wer": round(float(np.mean([wer(t, h) for t, h in heard.items()])), 3)}  # fmt: skip
    wers = [cell.wer for cell in cells]
    print(json.dumps({"asr": ASR_NAME, "goals": {"wer_per_cell": WER_GOAL, "f0_st_at_0.8": F0_GOAL_ST},
                      "worst_cell_wer": round(max(wers), 3), "mean_cell_wer": round(float(np.mean(wers)), 3),
                      "cells_within_goal": sum(w <= WER_GOAL for w in wers), "cells": len(wers),
                      "seconds": round(time.perf_counter() - start, 1), "table": table}, indent=1))  # fmt: skip


if __name__ == "__main__":
    main()
