"""What the director knows about the shot beyond the Direction (`Shot`), and the speaker's per-frame visual
features the F5 ControlNet takes, read off perception's face-mesh series (nothing is decoded here)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from cinedub.types import MESH_DESCRIPTORS, Conclusion, Perception

# What each column of the per-frame visual features holds (the F5 ControlNet's ModelDims.visual_dim of
# them): perception's mesh descriptors of the main speaker (agents/perception/mesh.py says how each is
# measured), the mouth opening's velocity per second, and whether the face was seen.
VISUAL_FEATURES = ("mouth_open", "mouth_open_velocity", "mouth_width", "jaw_open", "lip_pucker", "face_present",
                   "head_yaw", "head_pitch")  # fmt: skip
# visual column -> Perception.face_series column
_FROM_MESH = {"mouth_open": "mouth_opening", "mouth_width": "mouth_width", "jaw_open": "jaw_open",
              "lip_pucker": "lip_pucker", "head_yaw": "head_yaw", "head_pitch": "head_pitch"}  # fmt: skip


@dataclass(frozen=True)
class Shot:
    """What the director knows about the shot beyond the Direction, for actors that can use it."""

    conclusion: Conclusion | None = None
    visual: np.ndarray | None = None  # (num_video_frames, num_features) of the whole clip, from 0 s
    visual_fps: float | None = None

    @classmethod
    def from_perception(cls, perception: Perception, conclusion: Conclusion | None = None) -> Shot:
        visual = visual_features(perception)
        return cls(conclusion=conclusion, visual=visual[0] if visual else None, visual_fps=visual[1] if visual else None)


def _mesh_rows(perception: Perception, speaker: int) -> np.ndarray:
    """(T, len(MESH_DESCRIPTORS)) of the speaker, NaN where unseen. A perception saved before it kept the
    face series (an older session) has only the mouth opening: the other columns are NaN there."""
    rows = perception.face_series.get(speaker)
    if rows is None:
        rows = [None if v is None else [v] + [np.nan] * (len(MESH_DESCRIPTORS) - 1)
                for v in perception.mouth_series[speaker]]  # fmt: skip
    blank = [np.nan] * len(MESH_DESCRIPTORS)
    table = [blank if row is None else row for row in rows]
    return np.array(table, np.float64).reshape(-1, len(MESH_DESCRIPTORS))


def visual_features(perception: Perception) -> tuple[np.ndarray, float] | None:
    """The main speaker's per-video-frame features (T, len(VISUAL_FEATURES)) and their fps, from perception;
    0 in the frames the speaker's face is not seen (face_present says which). None when nobody speaks
    on screen."""
    speaker = perception.speaker_id
    if speaker is None or (speaker not in perception.face_series and speaker not in perception.mouth_series):
        return None
    mesh = _mesh_rows(perception, speaker)
    fps = perception.sample_fps
    seen = ~np.isnan(mesh[:, MESH_DESCRIPTORS.index("mouth_opening")])
    mesh = np.nan_to_num(mesh, nan=0.0)
    features = np.zeros((len(mesh), len(VISUAL_FEATURES)), np.float32)
    for column, descriptor in _FROM_MESH.items():
        features[:, VISUAL_FEATURES.index(column)] = mesh[:, MESH_DESCRIPTORS.index(descriptor)]
    opening = features[:, VISUAL_FEATURES.index("mouth_open")]
    velocity = np.gradient(opening) * fps if len(mesh) > 1 else 0.0
    features[:, VISUAL_FEATURES.index("mouth_open_velocity")] = velocity
    features[:, VISUAL_FEATURES.index("face_present")] = seen
    return features, fps
