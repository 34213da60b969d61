"""Speech-window agreement: does the take speak when the speaker's mouth moves?

The field's LSE-C / LSE-D need SyncNet, whose weights are not available offline. cinedub instead
compares two activity tracks on a 10 ms grid of the clip's timeline:
- speech activity of the take (the actor's own energy detector, `cinedub.speech.audio`), and
- mouth activity of the main speaker (`Perception.mouth_series[speaker_id]`: lip opening per sampled
  frame, and `Perception.speaking_windows`).
It reports the IoU of speech activity (short pauses filled) with the speaking windows, and the lag at
which the speech's loudness envelope best correlates with the mouth-opening series (+ = speech after
the mouth), searched over +-600 ms (SyncNet's +-15 frames at 25 fps).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from cinedub.speech.audio import VAD_FLOOR_DBFS, VAD_RANGE_DB, VAD_WIN_S, frame_energy_db, speech_mask
from cinedub.types import Perception, Window

GRID_S = 0.010
MAX_LAG_S = 0.600
# Pauses shorter than this inside speech count as speaking: lips keep moving through a comma, and the
# perception's speaking windows bridge short closures too.
GAP_FILL_S = 0.300
MIN_OVERLAP_S = 1.0  # a correlation over less than this much common signal is not trusted


def grid_size(duration: float) -> int:
    return max(1, int(np.ceil(duration / GRID_S - 1e-9)))


def grid_times(n: int) -> np.ndarray:
    return (np.arange(n) + 0.5) * GRID_S


def speech_activity(audio: np.ndarray, sample_rate: int, n: int | None = None) -> np.ndarray:
    """Speech (True) or not per grid step, from the take's frame energy."""
    energy, hop = frame_energy_db(np.asarray(audio, np.float32), sample_rate)
    mask = speech_mask(energy)
    n = n or grid_size(len(audio) / sample_rate)
    # VAD frame i is centred on i * hop + VAD_WIN_S / 2.
    index = np.round((grid_times(n) - VAD_WIN_S / 2) / hop).astype(int)
    inside = (index >= 0) & (index < len(mask))
    out = np.zeros(n, bool)
    out[inside] = mask[index[inside]]
    return out


def speech_envelope(audio: np.ndarray, sample_rate: int, n: int | None = None) -> np.ndarray:
    """The take's loudness per grid step (dB, floored VAD_RANGE_DB below its loud frames).

    The offset is found on this continuous envelope rather than on the on/off activity: lip aperture
    follows the amplitude envelope syllable by syllable, while an on/off track is one block per phrase
    whose edges are blurred by breaths and room noise, so its correlation peak is flat."""
    energy, hop = frame_energy_db(np.asarray(audio, np.float32), sample_rate)
    loud = float(np.percentile(energy, 95)) if len(energy) else 0.0
    energy = np.maximum(energy, max(loud - VAD_RANGE_DB, VAD_FLOOR_DBFS))
    n = n or grid_size(len(audio) / sample_rate)
    index = np.clip(np.round((grid_times(n) - VAD_WIN_S / 2) / hop).astype(int), 0, max(len(energy) - 1, 0))
    out = energy[index] if len(energy) else np.zeros(n)
    out[grid_times(n) > len(audio) / sample_rate] = np.nan
    return out


def fill_gaps(mask: np.ndarray, max_gap_s: float = GAP_FILL_S) -> np.ndarray:
    """Close runs of False shorter than `max_gap_s` that lie between two runs of True."""
    mask = mask.copy()
    on = np.flatnonzero(mask)
    if len(on) < 2:
        return mask
    gaps = np.flatnonzero(np.diff(on) > 1)
    for g in gaps:
        start, end = on[g] + 1, on[g + 1]
        if (end - start) * GRID_S <= max_gap_s:
            mask[start:end] = True
    return mask


def windows_mask(windows: Sequence[Window], n: int) -> np.ndarray:
    t = grid_times(n)
    mask = np.zeros(n, bool)
    for w in windows:
        mask |= (t >= w.start) & (t < w.end)
    return mask


def iou(a: np.ndarray, b: np.ndarray) -> float:
    union = np.logical_or(a, b).sum()
    return float(np.logical_and(a, b).sum() / union) if union else 0.0


def series_on_grid(times: Sequence[float], values: Sequence[float | None], n: int) -> np.ndarray:
    """A per-frame series (None where no face was found) on the grid; NaN where it is unknown."""
    t = np.asarray(times, float)
    v = np.array([np.nan if x is None else float(x) for x in values], float)
    ok = ~np.isnan(v)
    out = np.full(n, np.nan)
    if ok.sum() < 2:
        return out
    grid = grid_times(n)
    out = np.interp(grid, t[ok], v[ok])
    # Unknown outside the sampled span and where the nearest frame had no face.
    known = np.interp(grid, t, ok.astype(float)) >= 0.5
    known &= (grid >= t[ok][0] - GRID_S) & (grid <= t[ok][-1] + GRID_S)
    out[~known] = np.nan
    return out


def best_offset(speech: np.ndarray, mouth: np.ndarray, max_lag_s: float = MAX_LAG_S) -> tuple[float, float] | None:
    """(lag in ms, normalised cross-correlation) at which speech[t] best matches mouth[t - lag]; None
    when there is too little signal.

    Both tracks are standardised once over their known samples (unknown mouth samples become 0, the
    mean) and the correlation at every lag is normalised by the same whole-track energies, so lags are
    compared on equal terms; a per-lag Pearson r over the changing overlap biases the peak towards lags
    whose overlap happens to drop a loud or silent stretch. The peak is refined to a fraction of a grid
    step by a parabola through its neighbours."""
    n = min(len(speech), len(mouth))
    s = np.asarray(speech, float)[:n]
    m = np.asarray(mouth, float)[:n]
    s, m = _standardise(s), _standardise(m)
    if s is None or m is None:
        return None
    norm = np.sqrt(np.dot(s, s) * np.dot(m, m))
    max_lag = min(int(round(max_lag_s / GRID_S)), n - 1)
    lags = np.arange(-max_lag, max_lag + 1)
    # np.correlate(s, m, "full")[n - 1 + lag] = sum_t s[t + lag] * m[t], i.e. speech lagging the mouth.
    full = np.correlate(s, m, mode="full") / norm
    scores = full[n - 1 + lags]
    k = int(np.argmax(scores))
    shift = 0.0
    if 0 < k < len(lags) - 1:
        a, b, c = scores[k - 1], scores[k], scores[k + 1]
        denom = a - 2 * b + c
        shift = 0.5 * (a - c) / denom if denom < 0 else 0.0
    return float((lags[k] + shift) * GRID_S * 1000.0), float(scores[k])


def _standardise(x: np.ndarray) -> np.ndarray | None:
    """Zero mean, unit variance over the known samples; unknown (NaN) samples become 0."""
    known = ~np.isnan(x)
    if known.sum() < int(round(MIN_OVERLAP_S / GRID_S)) or x[known].std() == 0:
        return None
    return np.where(known, (x - x[known].mean()) / x[known].std(), 0.0)


def sync_measures(audio: np.ndarray, sample_rate: int, *, duration: float, frame_times: Sequence[float],
                  mouth_openings: Sequence[float | None], speaking_windows: Sequence[Window]) -> dict[str, float | None]:  # fmt: skip
    """IoU of speech activity with the speaking windows, and the best speech/mouth offset."""
    n = grid_size(duration)
    audio = audio[: int(round(duration * sample_rate))]
    speech = speech_activity(audio, sample_rate, n)
    found = best_offset(speech_envelope(audio, sample_rate, n), series_on_grid(frame_times, mouth_openings, n))
    return {
        "sync_iou": round(iou(fill_gaps(speech), windows_mask(speaking_windows, n)), 4)
        if speaking_windows else None,
        "sync_offset_ms": round(found[0], 1) if found else None,
        "sync_corr": round(found[1], 4) if found else None,
    }


def mouth_of_speaker(perception: Perception) -> tuple[list[float], list[float | None], list[Window]] | None:
    """The main speaker's mouth-opening series and speaking windows; None when nobody talks on screen."""
    if perception.speaker_id is None:
        return None
    series = perception.mouth_series.get(perception.speaker_id)
    if series is None:  # JSON round trips turn int keys into strings
        series = perception.mouth_series.get(str(perception.speaker_id))  # type: ignore[call-overload]
    if series is None:
        return None
    return list(perception.frame_times), list(series), list(perception.speaking_windows)
