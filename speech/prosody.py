"""Emotion and intensity -> prosody targets, and the F0 / spectrum edits that render them.

The table gives each emotion's change at full intensity, after the classic acoustic profiles of
emotional speech (Murray & Arnott 1993; Banse & Scherer 1996): anger raises F0 level and range,
loudness and vocal effort (a flatter spectral tilt) and speeds articulation; sadness lowers and
narrows F0, softens, darkens and slows; fear is high, fast and unsteady; surprise is high with a
wide range and a rise; disgust is low and slow. Intensity scales every change from none (0.0) to
the table (1.0): additive changes linearly, ratios geometrically, so 0.2 -> 0.5 -> 0.9 moves each
measure monotonically.

Retrieved references (Authentic-Dubber: the retrieved audio guides the performance) then pull three
measures of the take toward their score-weighted mean, REFERENCE_BLEND of the way from what the
emotion alone would render: the F0 range (5th-95th percentile spread, semitones), the energy contour's
shape (the slope of the level over the line, dB/s) and the speaking rate (syllables per second of
speech). The window still wins: a faster reference makes the actor articulate faster and pause longer
inside the same window, a slower one the reverse. No references: the emotion's rendering unchanged.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, fields
from typing import Any

import numpy as np

from cinedub.types import Direction, Reference


FINAL_RISE_SHARE = 0.25  # surprise's rise happens over the last quarter of the line
JITTER_HZ = 7.0  # fear's pitch tremor: low-passed noise around this rate (physiological tremor band)
TILT_PIVOT_HZ = 1000.0  # spectral tilt turns about this frequency (vocal effort shows above it)
MAX_TILT_DB = 9.0
F0_LIMITS_HZ = (40.0, 900.0)

# --- references --------------------------------------------------------------------------------------
# Share of the way from the emotion's rendering to the references' measured prosody: 0 ignores them,
# 1 copies them. Half keeps the director's emotion and intensity audible while the references colour it.
REFERENCE_BLEND = 0.5
REFERENCE_TOP_K = 3  # Authentic-Dubber's best K; a library asked for more still lends only the top 3
# What the references may do to a take at most, so one odd clip (a whisper, a shout) can't break it:
REFERENCE_RANGE_FACTOR_LIMITS = (0.4, 2.5)  # factor on the F0 excursions
REFERENCE_RATE_FACTOR_LIMITS = (0.7, 1.45)  # factor on the articulation rate the window imposes
MAX_ENERGY_RAMP_DB = 10.0  # level change the energy contour may add from the first to the last sound


@dataclass(frozen=True)
class ProsodyTargets:
    """The changes one take applies to the voice's neutral reading."""

    f0_shift_st: float = 0.0  # F0 level, semitones
    f0_range: float = 1.0  # factor on log-F0 excursions around the line's median
    energy_db: float = 0.0  # active-speech level, dB
    rate: float = 1.0  # articulation rate factor (> 1 faster)
    tilt_db_per_oct: float = 0.0  # spectral tilt above TILT_PIVOT_HZ (+ brighter / more effort)
    declination_st: float = 0.0  # F0 drift from the start to the end of the line (negative falls)
    final_rise_st: float = 0.0  # F0 rise over the last FINAL_RISE_SHARE of the line
    jitter_st: float = 0.0  # RMS of a slow seeded F0 wobble, semitones

    def scaled(self, intensity: float) -> ProsodyTargets:
        """This change at `intensity` (0 none .. 1 all): sums linearly, factors geometrically."""
        ratios = {"f0_range", "rate"}
        return ProsodyTargets(
            **{
                f.name: (getattr(self, f.name) ** intensity if f.name in ratios else getattr(self, f.name) * intensity)
                for f in fields(self)
            }
        )

    def to_dict(self) -> dict[str, float]:
        return {k: round(float(v), 4) for k, v in asdict(self).items()}


# At intensity 1.0. Neutral is the identity: Piper's own reading.
EMOTION_PROSODY: dict[str, ProsodyTargets] = {
    "neutral": ProsodyTargets(),
    "angry": ProsodyTargets(f0_shift_st=5.0, f0_range=1.8, energy_db=9.0, rate=1.15, tilt_db_per_oct=2.5, declination_st=-1.0),
    "happy": ProsodyTargets(f0_shift_st=4.0, f0_range=1.6, energy_db=5.0, rate=1.08, tilt_db_per_oct=1.0),
    "fear": ProsodyTargets(f0_shift_st=4.0, f0_range=1.2, energy_db=2.0, rate=1.2, tilt_db_per_oct=0.5, jitter_st=0.8),
    "surprise": ProsodyTargets(f0_shift_st=5.0, f0_range=2.0, energy_db=4.0, rate=1.0, tilt_db_per_oct=1.0, final_rise_st=4.0),
    "sad": ProsodyTargets(f0_shift_st=-3.0, f0_range=0.55, energy_db=-8.0, rate=0.8, tilt_db_per_oct=-2.5, declination_st=-2.0),
    "disgust": ProsodyTargets(f0_shift_st=-2.5, f0_range=1.1, energy_db=-2.0, rate=0.8, tilt_db_per_oct=-1.0, declination_st=-1.5),
}  # fmt: skip


def prosody_targets(direction: Direction) -> ProsodyTargets:
    """The direction's emotion at its intensity, plus its pitch shift and loudness."""
    base = EMOTION_PROSODY[direction.emotion].scaled(direction.intensity)
    return ProsodyTargets(
        **{
            **asdict(base),
            "f0_shift_st": base.f0_shift_st + direction.pitch_shift,
            "energy_db": base.energy_db + direction.loudness,
        }
    )


def _slow_noise(num_frames: int, frame_period_ms: float, seed: int) -> np.ndarray:
    """Unit-RMS noise low-passed to ~JITTER_HZ (num_frames,), the same for the same seed."""
    rng = np.random.default_rng(seed)
    white = rng.standard_normal(num_frames + 64)
    width = max(1, int(round(1000.0 / (JITTER_HZ * frame_period_ms))))  # one tremor period of frames
    kernel = np.hanning(width + 2)[1:-1]
    smooth = np.convolve(white, kernel / kernel.sum(), mode="same")[32 : 32 + num_frames]
    return smooth / max(float(np.sqrt(np.mean(smooth**2))), 1e-9)


def render_f0(
    f0: np.ndarray, targets: ProsodyTargets, *, source_hz: float, target_hz: float, frame_period_ms: float, seed: int
) -> np.ndarray:
    """New F0 track (T,): level moved from `source_hz` to `target_hz` and shifted, excursions scaled,
    contour (declination, final rise) and seeded jitter added. Unvoiced frames stay 0."""
    out = np.zeros_like(f0)
    voiced = f0 > 0
    if not voiced.any():
        return out
    n = len(f0)
    position = np.linspace(0.0, 1.0, n)  # (T,) where in the line each frame is
    contour_st = targets.declination_st * (position - 0.5)  # centred: the mean level is the shift's
    rise_start = 1.0 - FINAL_RISE_SHARE
    contour_st = contour_st + targets.final_rise_st * np.clip((position - rise_start) / FINAL_RISE_SHARE, 0.0, 1.0)
    if targets.jitter_st > 0:
        contour_st = contour_st + targets.jitter_st * _slow_noise(n, frame_period_ms, seed)
    semitone = np.log(2.0) / 12.0
    log_f0 = contour_st[voiced] * semitone + targets.f0_range * (np.log(f0[voiced]) - np.log(source_hz))
    # The contour and the wider range are shapes around the level: the voiced median lands exactly on the
    # target shifted by f0_shift_st (a surprised final rise or an angry range no longer lift the level
    # past it: a deep voice shouts deep).
    log_f0 = log_f0 - np.median(log_f0) + np.log(target_hz) + targets.f0_shift_st * semitone
    out[voiced] = np.clip(np.exp(log_f0), *F0_LIMITS_HZ)
    return out


def tilt_gain(freqs: np.ndarray, tilt_db_per_oct: float) -> np.ndarray:
    """(F,) power gain of a spectral tilt pivoting at TILT_PIVOT_HZ (flat below it)."""
    octaves = np.log2(np.maximum(freqs, TILT_PIVOT_HZ) / TILT_PIVOT_HZ)
    gain_db = np.clip(tilt_db_per_oct * octaves, -MAX_TILT_DB, MAX_TILT_DB)
    return 10.0 ** (gain_db / 10.0)


# ---------------------------------------------------------------------------------------------------
# References: what the top retrieved clips lend a take.


@dataclass(frozen=True)
class ReferenceBlend:
    """The score-weighted mean prosody of the top references; None where none of them measured it.

    Weights are the references' retrieval scores (clipped at 0; equal when all are 0), renormalised
    over the references that have each measure (a clip without a transcript has no speaking rate).
    """

    f0_range_semitones: float | None
    energy_slope_db_per_s: float | None
    speaking_rate_sps: float | None
    clips: list[dict[str, Any]] = field(default_factory=list)  # clip_id, score, emotion, weight

    def record(self, **measures: tuple[float, float]) -> dict[str, Any]:
        """What the take records in applied["references"]: per measure {reference, own, target}."""
        result: dict[str, Any] = {"blend": REFERENCE_BLEND, "clips": self.clips}
        for name, (own, target) in measures.items():
            result[name] = {"reference": round(float(getattr(self, name)), 4), "own": round(float(own), 4),
                            "target": round(float(target), 4)}  # fmt: skip
        return result


def reference_blend(references: Sequence[Reference], top_k: int = REFERENCE_TOP_K) -> ReferenceBlend | None:
    """The top `top_k` references' blended prosody, or None when there are no references."""
    top = sorted(references, key=lambda r: r.score, reverse=True)[:top_k]
    if not top:
        return None
    scores = np.array([max(r.score, 0.0) for r in top])
    weights = scores / scores.sum() if scores.sum() > 0 else np.full(len(top), 1.0 / len(top))

    def mean(key: str, valid) -> float | None:
        values = [(w, r.prosody[key]) for w, r in zip(weights, top) if key in r.prosody and valid(r.prosody[key])]
        total = sum(w for w, _ in values)
        if not values or total <= 0:
            return None
        return float(sum(w * v for w, v in values) / total)

    return ReferenceBlend(
        f0_range_semitones=mean("f0_range_semitones", lambda v: v > 0),  # 0: no voiced frames measured
        energy_slope_db_per_s=mean("energy_slope_db_per_s", np.isfinite),
        speaking_rate_sps=mean("speaking_rate_sps", lambda v: v > 0),
        clips=[{"clip_id": r.clip_id, "score": round(r.score, 4), "emotion": r.emotion, "weight": round(float(w), 4)}
               for r, w in zip(top, weights)],  # fmt: skip
    )


def blend_toward(own: float, reference: float, weight: float = REFERENCE_BLEND) -> float:
    """`weight` of the way from `own` to `reference`."""
    return own + weight * (reference - own)


def blended_rate(rate: float, reference_factor: float, weight: float = REFERENCE_BLEND) -> float:
    """The emotion's rate factor moved toward the references' (geometrically: rates are ratios)."""
    reference_factor = float(np.clip(reference_factor, *REFERENCE_RATE_FACTOR_LIMITS))
    return float(rate ** (1.0 - weight) * reference_factor**weight)


def energy_ramp(num_samples: int, sample_rate: int, slope_db_per_s: float) -> tuple[np.ndarray, float]:
    """(amplitude gain (num_samples,), the slope applied): a level ramp of `slope_db_per_s` through
    the middle of the take (the speech fills it edge to edge), at most MAX_ENERGY_RAMP_DB end to end."""
    seconds = num_samples / sample_rate
    slope = float(np.clip(slope_db_per_s, -MAX_ENERGY_RAMP_DB / seconds, MAX_ENERGY_RAMP_DB / seconds))
    gain_db = slope * (np.arange(num_samples) / sample_rate - seconds / 2.0)
    return (10.0 ** (gain_db / 20.0)).astype(np.float32), slope
