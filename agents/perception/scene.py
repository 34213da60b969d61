"""Scene colour statistics of the sampled frames (hue, saturation, brightness, contrast, motion)."""

from __future__ import annotations

import cv2
import numpy as np

from cinedub.types import SceneColour

# Frames are measured at this width: colour statistics don't need detail.
THUMB_WIDTH = 96


def scene_colour(frames: list[np.ndarray]) -> SceneColour:
    """Mean colour and movement of RGB frames (H, W, 3) uint8."""
    hues, sats, values, greys = [], [], [], []
    for rgb in frames:
        h, w = rgb.shape[:2]
        small = cv2.resize(rgb, (THUMB_WIDTH, max(1, round(h * THUMB_WIDTH / w))), interpolation=cv2.INTER_AREA)
        hsv = cv2.cvtColor(small, cv2.COLOR_RGB2HSV_FULL).reshape(-1, 3).astype(np.float32) / 255.0
        hues.append(hsv[:, 0])
        sats.append(hsv[:, 1])
        values.append(hsv[:, 2])
        greys.append(cv2.cvtColor(small, cv2.COLOR_RGB2GRAY).astype(np.float32) / 255.0)
    hue, sat, value = np.concatenate(hues), np.concatenate(sats), np.concatenate(values)
    # Hue is an angle: average unit vectors, weighted by saturation (grey pixels have no hue).
    angle = hue * 2 * np.pi
    weight = sat + 1e-6
    mean_angle = np.arctan2((np.sin(angle) * weight).sum(), (np.cos(angle) * weight).sum())
    motion = float(np.mean([np.abs(a - b).mean() for a, b in zip(greys, greys[1:], strict=False)])) if len(greys) > 1 else 0.0
    return SceneColour(
        hue=float(np.degrees(mean_angle) % 360.0),
        saturation=float(sat.mean()),
        brightness=float(value.mean()),
        contrast=float(np.std(np.concatenate(greys))),
        motion=motion,
    )
