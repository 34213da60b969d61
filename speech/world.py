"""WORLD (pyworld) analysis, frame-level time warping and resynthesis.

Prosody is edited on WORLD's three streams: F0 (T,), the smooth spectral envelope (T, F) and the band
aperiodicity (T, F), with T frames every FRAME_PERIOD_MS. Duration is changed by resampling the frame
sequence in time, so pitch and timbre are untouched by the warp, and the resynthesised signal is cut
to an exact sample count.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, replace

import numpy as np

with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # pyworld 0.3.5 imports pkg_resources, which warns on setuptools 80
    import pyworld

from .audio import F0_CEIL_HZ, F0_FLOOR_HZ, F0_METHOD, FRAME_PERIOD_MS

AP_DECIMATION = 2  # aperiodicity every 10 ms (see analyse)
FFT_SIZE = 1024  # CheapTrick's size at 22.05 kHz for F0 >= 71 Hz: 513 bins, ~21.5 Hz apart
# Share of a warp that internal pauses take relative to speech (per frame): pauses stretch and shrink
# this many times more than phones, so a long window doesn't drawl and a short one doesn't garble.
PAUSE_ELASTICITY = 3.0
MIN_FRAME_SCALE = (0.45, 0.2)  # (speech, pause): the shortest a source frame may become in the output
# A reading articulated faster than its neutral one (an emotion's rate) keeps its articulation: the pauses
# take the rest of the window, up to this many times their length; past it the speech takes the remainder.
MAX_PAUSE_SCALE = 4.0
PAUSE_BELOW_DB = 30.0  # a frame is pause when its envelope energy is this far below the loud frames


@dataclass(frozen=True)
class WorldFeatures:
    """WORLD's decomposition of a signal."""

    f0: np.ndarray  # (T,) Hz, 0 where unvoiced
    sp: np.ndarray  # (T, FFT_SIZE // 2 + 1) power spectral envelope
    ap: np.ndarray  # (T, FFT_SIZE // 2 + 1) aperiodicity, 0..1
    sample_rate: int
    frame_period_ms: float = FRAME_PERIOD_MS

    @property
    def num_frames(self) -> int:
        return len(self.f0)

    @property
    def voiced(self) -> np.ndarray:
        return self.f0 > 0

    @property
    def freqs(self) -> np.ndarray:
        """(F,) centre frequency of each envelope bin, Hz."""
        return np.arange(self.sp.shape[1]) * self.sample_rate / FFT_SIZE


# Harmonic-sum F0 candidates: 1/24 octave from the floor to the ceiling; up to this many harmonics,
# none above HS_MAX_HZ (where TTS and phone-band references stop being harmonic).
HS_STEP_OCT = 1.0 / 24.0
HS_HARMONICS = 10
HS_MAX_HZ = 4000.0
HS_WINDOW_S = 0.045  # ~3 periods at the 60 Hz floor
HS_NFFT = 2048  # zero-padded to ~11 Hz bins, a quarter of the 45 ms Hann window's main lobe
HS_JUMP_COST = 3.0  # Viterbi cost per octave of frame-to-frame jump, in units of the harmonic score


def _harmonic_f0(x: np.ndarray, sample_rate: int, times: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-frame F0 maximising harmonic minus inter-harmonic log magnitude, and that score (nats).

    Why not dio's or harvest's own F0: on Piper joe (true median ~95 Hz, checked with the harmonic
    spacing of steady vowels and autocorrelation) both report 1.5-2x the pitch on a third of the
    voiced frames, because VITS' output has a weak fundamental. Scoring harmonics against the
    half-way points can't prefer 2*F0 (its half-way points are harmonics) nor F0/2 (half its
    harmonics are missing), so it locks on the true spacing.
    """
    win = int(round(HS_WINDOW_S * sample_rate))
    padded = np.pad(x, (win // 2, win // 2))
    starts = np.clip(np.round(times * sample_rate).astype(int), 0, len(padded) - win)
    frames = padded[starts[:, None] + np.arange(win)[None, :]] * np.hanning(win)[None, :]  # (T, win)
    log_mag = np.log(np.abs(np.fft.rfft(frames, HS_NFFT, axis=1)) + 1e-9)  # (T, HS_NFFT/2+1)
    n_cand = int(np.floor(np.log2(F0_CEIL_HZ / F0_FLOOR_HZ) / HS_STEP_OCT)) + 1
    cands = F0_FLOOR_HZ * 2.0 ** (np.arange(n_cand) * HS_STEP_OCT)  # (C,)
    k = np.arange(1, HS_HARMONICS + 1)
    harm = cands[:, None] * k[None, :]  # (C, K)
    valid = harm <= HS_MAX_HZ
    bins_h = np.minimum(np.round(harm * HS_NFFT / sample_rate).astype(int), HS_NFFT // 2)
    bins_i = np.minimum(np.round((harm - cands[:, None] / 2) * HS_NFFT / sample_rate).astype(int), HS_NFFT // 2)
    weight = valid / valid.sum(axis=1, keepdims=True)  # (C, K)
    # (T, C): mean over the valid harmonics of log|S(k f)| - log|S((k - 1/2) f)|
    score = np.einsum("tck,ck->tc", log_mag[:, bins_h] - log_mag[:, bins_i], weight)
    # Viterbi through the candidates with a cost on frame-to-frame jumps (HS_JUMP_COST per octave),
    # so a frame with a stray spectral pattern can't pull the track to a far pitch.
    octaves = np.arange(n_cand) * HS_STEP_OCT
    jump = HS_JUMP_COST * np.abs(octaves[:, None] - octaves[None, :])  # (C_prev, C)
    total = score[0].copy()
    back = np.zeros(score.shape, dtype=np.int32)
    for t in range(1, len(score)):
        step = total[:, None] - jump
        back[t] = np.argmax(step, axis=0)
        total = step[back[t], np.arange(n_cand)] + score[t]
    path = np.empty(len(score), dtype=np.int32)
    path[-1] = int(np.argmax(total))
    for t in range(len(score) - 1, 0, -1):
        path[t - 1] = back[t, path[t]]
    return cands[path], score[np.arange(len(path)), path]  # (T,) Hz, (T,) harmonic score


def track_f0(
    audio: np.ndarray, sample_rate: int, method: str = F0_METHOD, min_strength: float = 0.0
) -> tuple[np.ndarray, np.ndarray]:
    """(f0 (T,), frame times (T,)) at FRAME_PERIOD_MS, 0 where unvoiced.

    The voicing decision is dio's ('dio', fast) or harvest's ('harvest', 4x slower, steadier on
    resynthesised and low-pitched speech); the F0 values are the harmonic-sum Viterbi track
    (see _harmonic_f0) refined by stonemask in both cases. Frames whose harmonic score is below
    `min_strength` are unvoiced (harvest errs toward voicing at voiced/unvoiced edges).
    """
    x = np.ascontiguousarray(audio, dtype=np.float64)
    kwargs = dict(f0_floor=F0_FLOOR_HZ, f0_ceil=F0_CEIL_HZ, frame_period=FRAME_PERIOD_MS)
    if method == "harvest":
        f0, times = pyworld.harvest(x, sample_rate, **kwargs)
    elif method == "dio":
        f0, times = pyworld.dio(x, sample_rate, **kwargs)
    else:
        raise ValueError(f"unknown F0 method {method!r}")
    voiced = f0 > 0
    if voiced.any():
        f0 = np.zeros_like(f0)
        f0[voiced], strength = _harmonic_f0(x, sample_rate, times[voiced])
        f0 = pyworld.stonemask(x, f0, times, sample_rate)
        if min_strength > 0:
            f0[np.flatnonzero(voiced)[strength < min_strength]] = 0.0
    return f0, times


def analyse(audio: np.ndarray, sample_rate: int, method: str = F0_METHOD) -> WorldFeatures:
    """F0, spectral envelope and aperiodicity of a mono signal."""
    x = np.ascontiguousarray(audio, dtype=np.float64)
    f0, times = track_f0(x, sample_rate, method)
    sp = pyworld.cheaptrick(x, f0, times, sample_rate, fft_size=FFT_SIZE)
    # D4C is the costliest analysis step (40% of it); aperiodicity changes slowly, so it is estimated
    # every AP_DECIMATION frames and interpolated in between.
    coarse = np.arange(0, len(times), AP_DECIMATION)
    if coarse[-1] != len(times) - 1:
        coarse = np.append(coarse, len(times) - 1)
    ap_coarse = pyworld.d4c(x, f0[coarse], times[coarse], sample_rate, fft_size=FFT_SIZE)
    position = np.interp(np.arange(len(times)), coarse, np.arange(len(coarse)))
    lo = np.floor(position).astype(int)
    hi = np.minimum(lo + 1, len(coarse) - 1)
    w = (position - lo)[:, None]
    ap = ap_coarse[lo] * (1.0 - w) + ap_coarse[hi] * w
    return WorldFeatures(f0=f0, sp=sp, ap=ap, sample_rate=sample_rate)


def frames_for(num_samples: int, sample_rate: int, frame_period_ms: float = FRAME_PERIOD_MS) -> int:
    """Fewest frames whose resynthesis is at least `num_samples` long.

    pyworld.synthesize returns int((T - 1) * period * fs) + 1 samples for T frames.
    """
    hop = frame_period_ms / 1000.0 * sample_rate
    return int(np.ceil((num_samples - 1) / hop)) + 1


def synthesise(features: WorldFeatures, num_samples: int) -> np.ndarray:
    """Resynthesise, cut or padded to exactly `num_samples` (float32)."""
    audio = pyworld.synthesize(
        np.ascontiguousarray(features.f0, dtype=np.float64),
        np.ascontiguousarray(features.sp, dtype=np.float64),
        np.ascontiguousarray(features.ap, dtype=np.float64),
        features.sample_rate,
        features.frame_period_ms,
    )
    if len(audio) < num_samples:
        audio = np.pad(audio, (0, num_samples - len(audio)))
    return audio[:num_samples].astype(np.float32)



def shift_pitch(audio: np.ndarray, sample_rate: int, semitones: float) -> np.ndarray:
    """The same speech `semitones` higher (or lower), same length and timing: WORLD with F0 scaled."""
    audio = np.asarray(audio, dtype=np.float32).reshape(-1)
    if semitones == 0.0 or not len(audio):
        return audio
    features = analyse(audio, sample_rate)
    shifted = WorldFeatures(f0=features.f0 * 2.0 ** (semitones / 12.0), sp=features.sp, ap=features.ap,
                            sample_rate=sample_rate, frame_period_ms=features.frame_period_ms)  # fmt: skip
    return synthesise(shifted, len(audio))

def pause_mask(features: WorldFeatures) -> np.ndarray:
    """(T,) True for frames whose envelope energy is PAUSE_BELOW_DB under the loud frames."""
    energy = 10.0 * np.log10(np.maximum(features.sp.mean(axis=1), 1e-20))
    return energy < np.percentile(energy, 95) - PAUSE_BELOW_DB


def _elastic_scales(widths: np.ndarray, pauses: np.ndarray, output_span: float, pause_elasticity: float) -> np.ndarray:
    """Each frame's scale d_k = max(floor_k, 1 + c * e_k), c solved so the scaled widths add up to
    `output_span` (see warp_positions)."""
    elasticity = np.where(pauses, pause_elasticity, 1.0)
    floor = np.where(pauses, MIN_FRAME_SCALE[1], MIN_FRAME_SCALE[0])
    free = widths > 0
    scale = np.ones(len(widths))
    for _ in range(8):  # re-solve on the frames not pinned at their floor
        pinned = (floor * widths)[~free].sum()
        c = (output_span - pinned - widths[free].sum()) / max((elasticity * widths)[free].sum(), 1e-9)
        scale = np.where(free, 1.0 + c * elasticity, floor)
        below = free & (scale < floor)
        if not below.any():
            break
        free &= ~below
    return scale


def warp_positions(
    source_span: float, output_span: float, num_output_frames: int, pauses: np.ndarray, pause_elasticity: float,
    articulation: float = 1.0,
) -> np.ndarray:
    """Fractional source frame index for each output frame, (num_output_frames,).

    Spans are in frames (samples / hop) from the first frame to the last sample. Each source frame k,
    covering [k - 0.5, k + 0.5] of source time, is scaled by d_k = max(floor_k, 1 + c * e_k) with
    elasticity e_k = 1 for speech and `pause_elasticity` for pauses, and c solved so the scaled widths
    add up to `output_span`. The map output time -> source time is piecewise linear with 0 -> 0 and
    output_span -> source_span, so the first and last sound land on the first and last output samples.

    articulation: how many times faster than its neutral reading the source was read (an emotion's
    rate). Its speech frames get the scales the neutral reading's would (so the output articulates that
    much faster), and the pauses take the rest of the span, within [MIN_FRAME_SCALE's pause floor,
    MAX_PAUSE_SCALE]; what they cannot take goes back to the speech.
    """
    n = int(np.ceil(source_span)) + 1
    source_edges = np.clip(np.concatenate([[0.0], np.arange(n) + 0.5]), 0.0, source_span)
    widths = np.diff(source_edges)  # (n,)
    pauses = np.resize(pauses, n) if len(pauses) < n else pauses[:n]
    scale = _elastic_scales(widths * articulation, pauses, output_span, pause_elasticity)
    pause_width = widths[pauses].sum()
    if articulation != 1.0 and pause_width > 0 and (~pauses).any():
        speech_out = (scale * widths)[~pauses].sum()
        pause_scale = float(np.clip((output_span - speech_out) / pause_width, MIN_FRAME_SCALE[1], MAX_PAUSE_SCALE))
        scale = np.where(pauses, pause_scale, scale * (output_span - pause_scale * pause_width) / speech_out)
    output_edges = np.concatenate([[0.0], np.cumsum(np.maximum(scale, 1e-6) * widths)])
    output_edges *= output_span / max(output_edges[-1], 1e-9)  # exact even if floors could not all hold
    return np.interp(np.arange(num_output_frames, dtype=np.float64), output_edges, source_edges)


def resample_frames(features: WorldFeatures, positions: np.ndarray) -> WorldFeatures:
    """Features read at fractional frame `positions` (linear between frames; log-F0 between voiced ones)."""
    last = features.num_frames - 1
    positions = np.clip(positions, 0.0, last)
    lo = np.floor(positions).astype(int)
    hi = np.minimum(lo + 1, last)
    w = (positions - lo)[:, None]
    sp = features.sp[lo] * (1.0 - w) + features.sp[hi] * w
    ap = features.ap[lo] * (1.0 - w) + features.ap[hi] * w
    f0_lo, f0_hi = features.f0[lo], features.f0[hi]
    nearest = np.where(w[:, 0] < 0.5, f0_lo, f0_hi)
    both = (f0_lo > 0) & (f0_hi > 0)
    f0 = nearest.copy()
    f0[both] = np.exp(np.log(f0_lo[both]) * (1.0 - w[both, 0]) + np.log(f0_hi[both]) * w[both, 0])
    return replace(features, f0=f0, sp=sp, ap=ap)


def fit_duration(
    features: WorldFeatures, source_samples: int, num_samples: int, pause_elasticity: float = PAUSE_ELASTICITY,
    articulation: float = 1.0,
) -> WorldFeatures:
    """Time-warp the frames so they resynthesise `num_samples` long with the speech edge to edge (a
    reading `articulation` times faster than its neutral one keeps that rate; see warp_positions).

    Output frame j sits at sample j * hop; the source's last sample maps to the output's last sample,
    so the spans are the exact sample spans in (fractional) frames, not frame counts.
    """
    hop = features.frame_period_ms / 1000.0 * features.sample_rate
    positions = warp_positions(
        source_span=(source_samples - 1) / hop,
        output_span=(num_samples - 1) / hop,
        num_output_frames=frames_for(num_samples, features.sample_rate, features.frame_period_ms),
        pauses=pause_mask(features),
        pause_elasticity=pause_elasticity,
        articulation=articulation,
    )
    return resample_frames(features, positions)
