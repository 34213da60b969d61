"""Face-mesh descriptors: the one place a face's 478 MediaPipe landmarks become numbers.

Perception measures them for every face in every sampled frame (`FaceObservation.summary`) and keeps
them per person (`Perception.face_series`); the reference library's face vector and the F5 actor's
per-frame visual features are read off those series, never off the landmarks again.

All distances are in face heights (forehead to chin), measured in square pixels (x scaled by the
frame's width / height). The order is `cinedub.types.MESH_DESCRIPTORS`.
"""

from __future__ import annotations

import numpy as np

from cinedub.types import MESH_DESCRIPTORS

# Landmarks of MediaPipe's canonical face model.
FOREHEAD, CHIN, NOSE_TIP = 10, 152, 1
UPPER_LIP_INNER, LOWER_LIP_INNER = 13, 14
UPPER_LIP_OUTER, LOWER_LIP_OUTER = 0, 17
MOUTH_LEFT, MOUTH_RIGHT = 61, 291
LEFT_EYE_TOP, LEFT_EYE_BOTTOM, RIGHT_EYE_TOP, RIGHT_EYE_BOTTOM = 159, 145, 386, 374
LEFT_EYE_OUTER, RIGHT_EYE_OUTER = 33, 263
LEFT_BROW, RIGHT_BROW = 105, 334  # middle of each brow
LEFT_BROW_INNER, RIGHT_BROW_INNER = 55, 285
LEFT_FACE_EDGE, RIGHT_FACE_EDGE = 234, 454  # the cheeks' outline at eye height

MOUTH_OPENING = MESH_DESCRIPTORS.index("mouth_opening")


def descriptors(landmarks: np.ndarray, aspect: float) -> np.ndarray | None:
    """The descriptors (len(MESH_DESCRIPTORS),) float32 of one face's mesh (478, 2), normalised to the
    frame; `aspect` = frame width / height. None when the mesh is degenerate (zero face height).

    - mouth_opening: inner-lip gap; mouth_width: corner to corner; corner_lift: how far the corners sit
      above the lip centre (positive: a smile, negative: drooping; image y grows downward);
    - eye_opening: mean lid gap; brow_raise: brow middle above the upper lid; brow_gap: inner brow ends;
    - jaw_open: nose tip to chin (the jaw drops, it grows);
    - lip_pucker: lip thickness (outer minus inner lip height) over mouth width: pursed, pushed-out
      lips are thick and narrow;
    - head_yaw: the nose tip's offset from the middle of the cheeks, in half face widths (-1..1, 0
      facing the camera, positive turned toward the image's right);
    - head_pitch: the nose tip's height between the eye line and the chin (about 0.4 facing the
      camera; lower looking up, higher looking down).
    """
    p = np.asarray(landmarks, dtype=np.float64) * np.array([aspect, 1.0])
    height = np.linalg.norm(p[FOREHEAD] - p[CHIN])
    if height <= 0:
        return None

    def dist(a: int, b: int) -> float:
        return float(np.linalg.norm(p[a] - p[b]))

    mouth_width = dist(MOUTH_LEFT, MOUTH_RIGHT)
    gap = dist(UPPER_LIP_INNER, LOWER_LIP_INNER)
    lips = dist(UPPER_LIP_OUTER, LOWER_LIP_OUTER)
    eyes = (dist(LEFT_EYE_TOP, LEFT_EYE_BOTTOM) + dist(RIGHT_EYE_TOP, RIGHT_EYE_BOTTOM)) / 2
    lip_centre_y = (p[UPPER_LIP_INNER, 1] + p[LOWER_LIP_INNER, 1]) / 2
    corners_y = (p[MOUTH_LEFT, 1] + p[MOUTH_RIGHT, 1]) / 2
    half_width = dist(LEFT_FACE_EDGE, RIGHT_FACE_EDGE) / 2
    cheek_mid_x = (p[LEFT_FACE_EDGE, 0] + p[RIGHT_FACE_EDGE, 0]) / 2
    eye_y = (p[LEFT_EYE_OUTER, 1] + p[RIGHT_EYE_OUTER, 1]) / 2
    values = {
        "mouth_opening": gap / height,
        "mouth_width": mouth_width / height,
        "corner_lift": (lip_centre_y - corners_y) / height,
        "eye_opening": eyes / height,
        "brow_raise": (dist(LEFT_BROW, LEFT_EYE_TOP) + dist(RIGHT_BROW, RIGHT_EYE_TOP)) / 2 / height,
        "brow_gap": dist(LEFT_BROW_INNER, RIGHT_BROW_INNER) / height,
        "jaw_open": dist(NOSE_TIP, CHIN) / height,
        "lip_pucker": (lips - gap) / mouth_width if mouth_width > 0 else 0.0,
        "head_yaw": (p[NOSE_TIP, 0] - cheek_mid_x) / half_width if half_width > 0 else 0.0,
        "head_pitch": (p[NOSE_TIP, 1] - eye_y) / (p[CHIN, 1] - eye_y) if p[CHIN, 1] != eye_y else 0.0,
    }
    return np.array([values[name] for name in MESH_DESCRIPTORS], dtype=np.float32)
