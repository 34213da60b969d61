"""Scene colour statistics of the sampled frames (hue, saturation, brightness, contrast, motion).

They are accumulated frame by frame (`SceneStats`): running sums and the last frame's thumbnail are
all that is kept, so a long clip costs no more memory than a short one.
"""

from __future__ import annotations

import cv2
import numpy as np

from cinedub.types import SceneColour

# Frames are measured at this width: colour statistics don't need detail.
THUMB_WIDTH = 96


class SceneStats:
    """Mean colour, contrast and movement of RGB frames (H, W, 3) uint8, added one at a time."""

    def __init__(self) -> None:
        self._pixels = 0
        self._hue_sin = self._hue_cos = self._saturation = self._value = 0.0
        self._grey = self._grey_squared = 0.0
        self._motion, self._pairs = 0.0, 0
        self._last_grey: np.ndarray | None = None

    def add(self, rgb: np.ndarray) -> None:
        h, w = rgb.shape[:2]
        size = (THUMB_WIDTH, max(1, round(h * THUMB_WIDTH / w)))
        small = cv2.resize(rgb, size, interpolation=cv2.INTER_AREA)
        hsv = cv2.cvtColor(small, cv2.COLOR_RGB2HSV_FULL).reshape(-1, 3).astype(np.float64) / 255.0
        hue, sat = hsv[:, 0], hsv[:, 1]
        # Hue is an angle: sum unit vectors, weighted by saturation (grey pixels have no hue).
        angle, weight = hue * 2 * np.pi, sat + 1e-6
        self._hue_sin += float((np.sin(angle) * weight).sum())
        self._hue_cos += float((np.cos(angle) * weight).sum())
        self._saturation += float(sat.sum())
        self._value += float(hsv[:, 2].sum())
        self._pixels += len(hsv)
        grey = cv2.cvtColor(small, cv2.COLOR_RGB2GRAY).astype(np.float32) / 255.0
        self._grey += float(grey.sum(dtype=np.float64))
        self._grey_squared += float(np.square(grey, dtype=np.float64).sum())
        if self._last_grey is not None:
            self._motion += float(np.abs(grey - self._last_grey).mean())
            self._pairs += 1
        self._last_grey = grey

    def result(self) -> SceneColour:
        n = max(self._pixels, 1)
        mean_grey = self._grey / n
        return SceneColour(
            hue=float(np.degrees(np.arctan2(self._hue_sin, self._hue_cos)) % 360.0),
            saturation=self._saturation / n,
            brightness=self._value / n,
            contrast=float(np.sqrt(max(self._grey_squared / n - mean_grey**2, 0.0))),
            motion=self._motion / self._pairs if self._pairs else 0.0,
        )


def scene_colour(frames: list[np.ndarray]) -> SceneColour:
    """Mean colour and movement of RGB frames (H, W, 3) uint8."""
    stats = SceneStats()
    for rgb in frames:
        stats.add(rgb)
    return stats.result()
