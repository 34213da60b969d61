"""Voice identity of the parametric actor on issue 17's six real voices (tests/real_voices.py): resemblyzer
similarity (GE2E cosine x100) of a 3-line take to its reference, and the take's WER (packaged Whisper
tiny.en). Prints JSON. Goal (issue 17): >= 75 on every voice; the same speaker scores 87-91, different
speakers 48-67 (MODELS.md).

    .venv/bin/python bench/voice_identity_bench.py [--no-timbre | --no-voice-map]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from cinedub.asr import ASR_NAME
from cinedub.speech import ParametricActor

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests.real_voices: the voices and the measure


def main() -> None:
    from tests.real_voices import GOAL_SECS, identity, voices

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-timbre", action="store_true", help="Piper's own timbre (the step's baseline)")
    parser.add_argument("--no-voice-map", action="store_true", help="the long-term match alone (no frame-wise map)")
    args = parser.parse_args()
    actor = ParametricActor(timbre=not args.no_timbre, voice_map=not args.no_voice_map)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        results = {name: identity(actor, path).to_dict() for name, path in voices(Path(tmp)).items()}
    values = [r["secs"] for r in results.values()]
    print(json.dumps({
        "timbre": not args.no_timbre, "voice_map": not (args.no_timbre or args.no_voice_map),
        "speaker_model": "resemblyzer GE2E", "asr": ASR_NAME, "goal_secs": GOAL_SECS,
        "voices": results, "mean_secs": round(float(np.mean(values)), 1), "min_secs": min(values),
        "meets_goal": min(values) >= GOAL_SECS, "seconds": round(time.perf_counter() - started, 1),
    }, indent=1))  # fmt: skip


if __name__ == "__main__":
    main()
