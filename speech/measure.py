"""Measure a take's prosody: the director's `review` step and the tests read these numbers."""

from __future__ import annotations

import numpy as np

from cinedub.media import resample
from cinedub.vad import speech_spans

from .audio import (
    MEASURE_F0_METHOD,
    MEASURE_MIN_HARMONICITY,
    MEASURE_SAMPLE_RATE,
    active_rms_db,
    frame_energy_db,
    speech_bounds,
    speech_mask,
)
from .frontend import count_syllables
from .world import track_f0


def speech_span(audio: np.ndarray, sample_rate: int) -> tuple[float, float] | None:
    """(start, end) of the speech in `audio`, seconds, or None when there is none (energy detector)."""
    audio = np.asarray(audio, dtype=np.float32).reshape(-1)
    bounds = speech_bounds(audio, sample_rate) if len(audio) else None
    return None if bounds is None else (bounds[0] / sample_rate, bounds[1] / sample_rate)


def measure_prosody(audio: np.ndarray, sample_rate: int) -> dict[str, float]:
    """Pitch, level and timing of the speech in `audio` (mono float).

    f0_* are over clearly voiced frames inside the speech span (robust F0, see world.track_f0);
    f0_range_semitones is the 5th-95th percentile spread; energy_db is the RMS in dBFS of the active
    (speech) frames only; speech_start / speech_end are seconds from the start of `audio`, from the
    energy-based detector the actor also trims with; voiced_ratio is voiced frames / speech-span frames.
    """
    audio = np.asarray(audio, dtype=np.float32).reshape(-1)
    result: dict[str, float] = {
        "f0_mean_hz": 0.0, "f0_median_hz": 0.0, "f0_range_semitones": 0.0, "energy_db": -120.0,
        "speech_start": 0.0, "speech_end": 0.0, "speech_duration": 0.0, "voiced_ratio": 0.0,
    }  # fmt: skip
    bounds = speech_bounds(audio, sample_rate) if len(audio) else None
    if bounds is None:
        return result
    start, end = bounds
    result.update(
        speech_start=start / sample_rate,
        speech_end=end / sample_rate,
        speech_duration=(end - start) / sample_rate,
        energy_db=active_rms_db(audio, sample_rate),
    )
    rate = min(sample_rate, MEASURE_SAMPLE_RATE)
    f0, times = track_f0(resample(audio, sample_rate, rate), rate, MEASURE_F0_METHOD, MEASURE_MIN_HARMONICITY)
    inside = (times * sample_rate >= start) & (times * sample_rate < end)
    voiced = f0[inside & (f0 > 0)]
    result["voiced_ratio"] = float(len(voiced) / max(inside.sum(), 1))
    if len(voiced):
        low, high = np.percentile(voiced, [5, 95])
        result.update(
            f0_mean_hz=float(np.mean(voiced)),
            f0_median_hz=float(np.median(voiced)),
            f0_range_semitones=float(12.0 * np.log2(high / low)),
        )
    return {k: round(float(v), 4) for k, v in result.items()}


def articulation_rate_sps(audio: np.ndarray, sample_rate: int, text: str) -> float:
    """Syllables of `text` per second of speech, pauses left out (Silero VAD's spans: a rest of
    100 ms or more is not speech). At a fixed window an angry reading articulates faster than a sad
    one even though both fill it edge to edge; this is the rate that shows it."""
    seconds = sum(end - start for start, end in speech_spans(audio, sample_rate))
    return round(count_syllables(text) / seconds, 4) if seconds > 0 else 0.0


def reference_prosody(audio: np.ndarray, sample_rate: int, text: str | None = None) -> dict[str, float]:
    """The prosody a reference clip lends a take: what the library stores and the actor blends.

    measure_prosody's numbers plus the energy contour's shape (energy_slope_db_per_s: the slope of a
    straight line fitted to the speech frames' level, negative when the voice falls away) and, when the
    words are known, speaking_rate_sps (syllables per second of speech).
    """
    result = measure_prosody(audio, sample_rate)
    result["energy_slope_db_per_s"] = round(energy_slope_db_per_s(audio, sample_rate), 4)
    if text and result["speech_duration"] > 0:
        result["speaking_rate_sps"] = round(count_syllables(text) / result["speech_duration"], 4)
    return result


def energy_slope_db_per_s(audio: np.ndarray, sample_rate: int) -> float:
    """Slope of a straight line fitted to the level of the speech frames (dB/s); 0 without speech."""
    audio = np.asarray(audio, dtype=np.float32).reshape(-1)
    if not len(audio):
        return 0.0
    energy, hop_s = frame_energy_db(audio, sample_rate)
    mask = speech_mask(energy)
    if mask.sum() < 2:
        return 0.0
    return float(np.polyfit(np.flatnonzero(mask) * hop_s, energy[mask], 1)[0])
