"""Prosody-based emotion measures: what the take's voice does, alone and against a neutral take.

No speech-emotion-recognition model ships its weights in a package, so EMO-ACC / EMO-SIM can't be
computed offline. Instead cinedub reports the prosody that carries emotion in speech (F0 level and
range, energy, rate; measured with the actor's own `speech.measure.measure_prosody`) and, when a neutral
take of the same line exists, the change against it: an angry take should be higher, wider, louder and
faster (in articulation: at a window fixed by the lips the pauses take the difference) than the
neutral one, a sad take lower, narrower, softer and slower.
"""

from __future__ import annotations

import math

import numpy as np

from cinedub.asr import normalize
from cinedub.errors import CinedubError
from cinedub.speech.measure import articulation_rate_sps, measure_prosody


def prosody(audio: np.ndarray, sample_rate: int, line: str) -> dict[str, float]:
    """F0 mean (Hz), F0 range (semitones), active-speech energy (dBFS), rate (words per second of the
    speech span) and articulation rate (syllables per second of speech, pauses left out)."""
    p = measure_prosody(audio, sample_rate)
    if p["speech_duration"] <= 0:
        raise CinedubError("no speech found for the prosody measures")
    words = len(normalize(line).split())
    return {
        "f0_mean_hz": round(p["f0_mean_hz"], 2),
        "f0_median_hz": round(p["f0_median_hz"], 2),
        "f0_range_st": round(p["f0_range_semitones"], 3),
        "energy_db": round(p["energy_db"], 2),
        "rate_wps": round(words / p["speech_duration"], 3),
        "articulation_sps": round(articulation_rate_sps(audio, sample_rate, line), 3),
    }


def against_neutral(take: dict[str, float], neutral: dict[str, float]) -> dict[str, float | None]:
    """The take's prosody relative to a neutral take of the same line.

    The F0 shift compares medians: one octave slip of the tracker (common on 16 kHz, low male voices)
    moves a mean by semitones but a median hardly at all."""
    f0 = take["f0_median_hz"] > 0 and neutral["f0_median_hz"] > 0
    return {
        "f0_shift_st": round(12.0 * math.log2(take["f0_median_hz"] / neutral["f0_median_hz"]), 3) if f0 else None,
        "f0_range_delta_st": round(take["f0_range_st"] - neutral["f0_range_st"], 3),
        "energy_delta_db": round(take["energy_db"] - neutral["energy_db"], 2),
        "rate_ratio": round(take["rate_wps"] / neutral["rate_wps"], 4) if neutral["rate_wps"] > 0 else None,
        "articulation_ratio": (round(take["articulation_sps"] / neutral["articulation_sps"], 4)
                               if neutral.get("articulation_sps") else None),  # fmt: skip
    }
