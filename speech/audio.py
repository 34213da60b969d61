"""DSP constants of the actor, and the small signal helpers every stage shares.

All the actor's processing runs at Piper joe-medium's native rate, so nothing is resampled between
synthesis, WORLD analysis and resynthesis; only the reference voice is resampled once, on the way in.
"""

from __future__ import annotations

import numpy as np

# --- sampling and WORLD framing --------------------------------------------------------------------
SAMPLE_RATE = 22050  # Piper en_US-joe-medium's output rate (its config's audio.sample_rate)
FRAME_PERIOD_MS = 5.0  # WORLD's default hop; fine enough that a frame-level time warp lands within 5 ms
F0_FLOOR_HZ = 60.0  # covers low male voices (the LibriVox reader's median is ~90 Hz)
F0_CEIL_HZ = 600.0  # covers children and screamed anger
# F0 voicing decision (the F0 values come from a harmonic-sum tracker either way, see world.track_f0).
# The actor analyses Piper's clean speech with dio (RTF 0.005 vs harvest's 0.14 here, 2 cores, 22.05
# kHz); measurement uses harvest, whose voicing holds on WORLD-resynthesised and low (60-80 Hz)
# speech where dio drops up to 40% of the voiced frames and biases the percentiles.
F0_METHOD = "dio"
MEASURE_F0_METHOD = "harvest"
# Measurement keeps only clearly harmonic frames (mean harmonic/inter-harmonic log-magnitude contrast,
# nats): on resynthesised takes, frames WORLD made unvoiced score 0.9 at most (99th percentile) while
# the voiced ones score 1.1-1.9 (25th-50th percentile); harvest alone calls 30% of the former voiced.
MEASURE_MIN_HARMONICITY = 1.0
# Pitch is measured at this rate: the harmonics it scores stop at 4 kHz, and the FFTs that score them
# cost three times as much on a 48 kHz take.
MEASURE_SAMPLE_RATE = 16_000

# Piper reads at a tempo chosen from the window (its duration model phrases a faster or slower
# reading better than a uniform frame warp does); beyond these bounds its reading degrades, and the
# WORLD warp takes the rest.
LENGTH_SCALE_LIMITS = (0.6, 1.6)

# --- speech activity (shared by trimming and by measure.py, so the two agree) ------------------------
VAD_HOP_S = 0.005  # hop of the frame energy used to find where speech starts and ends
VAD_WIN_S = 0.020  # analysis window: short, so the detected edges are sharp
# A frame is speech when its energy is within this many dB of the loud (95th percentile) frames.
# 40 dB catches weak onsets such as /f/ and /h/ in TTS and in clean read speech.
VAD_RANGE_DB = 40.0
VAD_FLOOR_DBFS = -70.0  # never call anything quieter than this speech
VAD_MIN_RUN_S = 0.020  # ignore clicks shorter than this when locating the first / last speech

# --- levels ------------------------------------------------------------------------------------------
# Every take is first brought to this active-speech RMS, then the direction's energy and loudness
# changes are applied relative to it (so "+6 dB" means the same thing for every line). -24 dBFS leaves
# ~20 dB of headroom for speech's crest factor plus an angry +8 dB before the soft limiter acts.
REFERENCE_LEVEL_DBFS = -24.0
LIMIT_THRESHOLD = 0.89  # the soft limiter is transparent below this absolute sample value (~ -1 dBFS)
EDGE_FADE_S = 0.003  # raised-cosine fades at the take's edges so it cuts in and out without clicks

# --- timbre --------------------------------------------------------------------------------------------
TIMBRE_MAX_EQ_DB = 12.0  # clamp of the long-term envelope correction (a smooth EQ, not a voice clone)
TIMBRE_EQ_SMOOTH_OCT = 1.0 / 3.0  # the correction is smoothed over third-octave bands
# The envelope warp is (reference F0 / actor F0) ** WARP_F0_EXPONENT: formant frequencies differ between
# adult speakers by about the cube root of their F0 ratio (a woman's ~1.2-1.3x a man's at ~2x the F0);
# measured on six real voices, 1/3 and 0.4 score alike and beat a spectral fit (speech/timbre.py).
WARP_F0_EXPONENT = 1.0 / 3.0
TIMBRE_WARP_RANGE = (0.8, 1.4)  # the warp's bounds (a child's or a very deep voice stops there)
TIMBRE_BAND_HZ = (80.0, 7600.0)  # compare envelopes where a 16 kHz reference still has content
MIN_VOICE_SPEECH_S = 0.5  # a reference with less speech (Silero VAD) can't describe a voice; a film line may hold little more


def db(x: float | np.ndarray) -> float | np.ndarray:
    """Power ratio or mean square to dB (floored so silence is finite)."""
    return 10.0 * np.log10(np.maximum(x, 1e-12))


def frame_energy_db(audio: np.ndarray, sample_rate: int) -> tuple[np.ndarray, float]:
    """RMS energy in dBFS of VAD frames: (energies (n_frames,), hop in seconds).

    Frame i covers samples [i*hop, i*hop + win).
    """
    hop = max(1, int(round(VAD_HOP_S * sample_rate)))
    win = max(hop, int(round(VAD_WIN_S * sample_rate)))
    x = audio.astype(np.float64)
    if len(x) < win:
        x = np.pad(x, (0, win - len(x)))
    n = 1 + (len(x) - win) // hop
    csum = np.concatenate([[0.0], np.cumsum(x * x)])
    starts = np.arange(n) * hop
    ms = (csum[starts + win] - csum[starts]) / win  # (n,)
    return db(ms), hop / sample_rate  # plain RMS dBFS: a full-scale square wave reads 0


def speech_mask(energy_db: np.ndarray) -> np.ndarray:
    """Which VAD frames are speech (bool (n_frames,)): within VAD_RANGE_DB of the loud frames."""
    if len(energy_db) == 0:
        return np.zeros(0, bool)
    loud = float(np.percentile(energy_db, 95))
    return energy_db > max(loud - VAD_RANGE_DB, VAD_FLOOR_DBFS)


def speech_bounds(audio: np.ndarray, sample_rate: int) -> tuple[int, int] | None:
    """(first, last+1) sample of speech, or None when there is none.

    The edges are the first and last runs of at least VAD_MIN_RUN_S of speech frames; within the edge
    frame the boundary sits where the frame's window first / last reaches the speech, i.e. the frame
    start for the onset and the frame end for the offset.
    """
    energy, hop_s = frame_energy_db(audio, sample_rate)
    mask = speech_mask(energy)
    if not mask.any():
        return None
    min_run = max(1, int(round(VAD_MIN_RUN_S / hop_s)))
    # Runs of consecutive speech frames at least min_run long.
    padded = np.concatenate([[False], mask, [False]])
    edges = np.flatnonzero(padded[1:] != padded[:-1])
    runs = [(s, e) for s, e in zip(edges[::2], edges[1::2]) if e - s >= min_run]
    if not runs:
        return None
    hop = int(round(VAD_HOP_S * sample_rate))
    win = int(round(VAD_WIN_S * sample_rate))
    # Onset: the frame window starts before the sound; the sound is centred-ish in the first frame.
    first = runs[0][0] * hop + (win - hop) // 2
    last = (runs[-1][1] - 1) * hop + (win + hop) // 2
    return max(0, first), min(len(audio), last)


def active_rms_db(audio: np.ndarray, sample_rate: int) -> float:
    """RMS level in dBFS over the speech frames only (pauses don't dilute it)."""
    energy, _ = frame_energy_db(audio, sample_rate)
    mask = speech_mask(energy)
    if not mask.any():
        return -120.0
    return float(db(np.mean(10.0 ** (energy[mask] / 10.0))))


def soft_limit(audio: np.ndarray, threshold: float = LIMIT_THRESHOLD) -> np.ndarray:
    """Transparent below `threshold`, then a tanh knee that never exceeds 1.0."""
    x = audio.astype(np.float32, copy=True)
    over = np.abs(x) > threshold
    if over.any():
        headroom = 1.0 - threshold
        excess = (np.abs(x[over]) - threshold) / headroom
        x[over] = np.sign(x[over]) * (threshold + headroom * np.tanh(excess))
    return x


def edge_fades(audio: np.ndarray, sample_rate: int, seconds: float = EDGE_FADE_S) -> np.ndarray:
    """Raised-cosine fade-in and fade-out of `seconds` (in place on a copy)."""
    n = min(len(audio) // 2, int(round(seconds * sample_rate)))
    if n < 2:
        return audio
    ramp = (0.5 - 0.5 * np.cos(np.linspace(0.0, np.pi, n))).astype(audio.dtype)
    out = audio.copy()
    out[:n] *= ramp
    out[-n:] *= ramp[::-1]
    return out
