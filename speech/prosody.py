"""Emotion and intensity -> prosody targets, and the F0 / spectrum edits that render them.

The table gives each emotion's change at full intensity, after the classic acoustic profiles of
emotional speech (Murray & Arnott 1993; Banse & Scherer 1996): anger raises F0 level and range,
loudness and vocal effort (a flatter spectral tilt) and speeds articulation; sadness lowers and
narrows F0, softens, darkens and slows; fear is high, fast and unsteady; surprise is high with a
wide range and a rise; disgust is low and slow. Intensity scales every change from none (0.0) to
the table (1.0): additive changes linearly, ratios geometrically, so 0.2 -> 0.5 -> 0.9 moves each
measure monotonically.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields

import numpy as np

from cinedub.types import Direction

FINAL_RISE_SHARE = 0.25  # surprise's rise happens over the last quarter of the line
JITTER_HZ = 7.0  # fear's pitch tremor: low-passed noise around this rate (physiological tremor band)
TILT_PIVOT_HZ = 1000.0  # spectral tilt turns about this frequency (vocal effort shows above it)
MAX_TILT_DB = 9.0
F0_LIMITS_HZ = (40.0, 900.0)


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
    log_f0 = (
        np.log(target_hz)
        + (targets.f0_shift_st + contour_st[voiced]) * semitone
        + targets.f0_range * (np.log(f0[voiced]) - np.log(source_hz))
    )
    out[voiced] = np.clip(np.exp(log_f0), *F0_LIMITS_HZ)
    return out


def tilt_gain(freqs: np.ndarray, tilt_db_per_oct: float) -> np.ndarray:
    """(F,) power gain of a spectral tilt pivoting at TILT_PIVOT_HZ (flat below it)."""
    octaves = np.log2(np.maximum(freqs, TILT_PIVOT_HZ) / TILT_PIVOT_HZ)
    gain_db = np.clip(tilt_db_per_oct * octaves, -MAX_TILT_DB, MAX_TILT_DB)
    return 10.0 ** (gain_db / 10.0)
