"""Talking from mouth movement: the mouth-opening series of a person, its activity, speaking windows.

Speech opens and closes the mouth several times a second; a smile or a held expression changes the
opening once. So activity is measured on the opening minus its running median (the slow part), and a
person talks where that residual keeps moving.
"""

from __future__ import annotations

import numpy as np
from scipy.ndimage import median_filter, uniform_filter1d

from cinedub.types import Window

# Running median over this long takes out expressions (smiles, a held open mouth).
TREND_S = 0.7
# Local activity: the residual's RMS over this long.
ACTIVITY_S = 0.5
# A person talks when the residual's spread over their frames exceeds this (units: face heights).
# Measured on packaged footage at 10 / 15 fps: the man talking in the car 0.036 / 0.039; a smiling
# man 0.001 / 0.0016; a crying, then laughing woman 0.005 / 0.007.
TALKING_THRESHOLD = 0.015
# Speaking windows: frames whose local activity exceeds this, gaps shorter than MERGE_GAP_S merged,
# windows shorter than MIN_WINDOW_S dropped. Set low, and only asked of people who talk: the man in
# the car talks quietly for his first 1.6 s (local activity 0.004-0.008 at 15 fps, found; 0.001-0.004
# at 10 fps, at the mesh's noise floor on a 60-pixel face, missed).
WINDOW_THRESHOLD = 0.004
MERGE_GAP_S = 0.5
MIN_WINDOW_S = 0.3


def _filled(series: np.ndarray) -> np.ndarray:
    """Missing frames (NaN) filled by linear interpolation between the frames the mesh saw."""
    valid = ~np.isnan(series)
    if valid.all() or not valid.any():
        return series
    idx = np.arange(len(series))
    return np.interp(idx, idx[valid], series[valid])


def residual(series: np.ndarray, fps: float) -> np.ndarray:
    """The opening minus its running median: the fast, speech-like part of the movement."""
    filled = _filled(series)
    size = max(3, int(round(TREND_S * fps)) | 1)
    return filled - median_filter(filled, size=size, mode="nearest")


def mouth_activity(series: np.ndarray, fps: float) -> float:
    """Spread of the residual over the frames where the mouth was seen (0 when too few)."""
    seen = ~np.isnan(series)
    if seen.sum() < 5:
        return 0.0
    return float(np.std(residual(series, fps)[seen]))


def speaking_windows(series: np.ndarray, times: np.ndarray, fps: float) -> list[Window]:
    """Where the mouth moves like speech, in seconds."""
    seen = ~np.isnan(series)
    if seen.sum() < 5:
        return []
    mean_square = uniform_filter1d(residual(series, fps) ** 2, size=max(3, int(round(ACTIVITY_S * fps))))
    local = np.sqrt(np.maximum(mean_square, 0.0))  # the filter's rounding can dip below zero
    active = (local > WINDOW_THRESHOLD) & seen
    half_frame = 0.5 / fps
    windows: list[list[float]] = []
    for i in np.flatnonzero(active):
        start, end = times[i] - half_frame, times[i] + half_frame
        if windows and start - windows[-1][1] <= MERGE_GAP_S:
            windows[-1][1] = end
        else:
            windows.append([start, end])
    last = float(times[-1]) + half_frame
    return [Window(start=max(0.0, round(s, 3)), end=round(min(e, last), 3)) for s, e in windows if e - s >= MIN_WINDOW_S]
