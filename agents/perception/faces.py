"""Faces in each sampled frame: MediaPipe 0.10.21 face detection (boxes) and the 478-point face mesh."""

from __future__ import annotations

import contextlib
import functools
import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

# Full-range detector (model 1): dubbing shots are often wide, with faces a few percent of the frame.
DETECTION_MODEL = 1
MIN_DETECTION_CONFIDENCE = 0.5
MAX_FACES = 6
# The detector runs on every n-th frame; in between, the mesh (which tracks faces itself) boxes them.
DETECT_EVERY = 2
# Mesh landmarks (MediaPipe's canonical face model).
FOREHEAD, CHIN = 10, 152
UPPER_LIP_INNER, LOWER_LIP_INNER = 13, 14
MOUTH_LEFT, MOUTH_RIGHT = 61, 291


@dataclass
class FaceObservation:
    """One face in one frame. Coordinates are normalised to the frame (0..1)."""

    box: tuple[float, float, float, float]  # x, y, w, h
    score: float
    landmarks: np.ndarray | None = None  # (478, 2) x, y; None when the mesh did not fit this face

    @property
    def centre(self) -> tuple[float, float]:
        x, y, w, h = self.box
        return x + w / 2, y + h / 2

    def mouth_opening(self, aspect: float) -> float | None:
        """Inner-lip gap over face height (forehead to chin); `aspect` = frame width / height."""
        if self.landmarks is None:
            return None
        points = self.landmarks * np.array([aspect, 1.0])
        face_height = np.linalg.norm(points[FOREHEAD] - points[CHIN])
        if face_height <= 0:
            return None
        return float(np.linalg.norm(points[UPPER_LIP_INNER] - points[LOWER_LIP_INNER]) / face_height)


@functools.cache
def _solutions():
    import mediapipe as mp

    return mp.solutions


@contextlib.contextmanager
def native_logs_silenced() -> Iterator[None]:
    """MediaPipe's C++ side (TFLite, absl) writes INFO / WARNING lines straight to file descriptor 2,
    which would break cinedub's one-line errors; send them to /dev/null (CINEDUB_DEBUG=1 keeps them)."""
    if os.environ.get("CINEDUB_DEBUG"):
        yield
        return
    sys.stderr.flush()
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


class FaceFinder:
    """Detection + mesh over the frames of one clip (the mesh tracks across frames, so one per clip).

    Use it as a context manager: it holds native resources, and MediaPipe's native logging is
    silenced while it is open.
    """

    def __init__(self, *, max_faces: int = MAX_FACES, detect_every: int = DETECT_EVERY) -> None:
        self._detect_every = detect_every
        self._frame = 0
        self._resources = contextlib.ExitStack()
        self._resources.enter_context(native_logs_silenced())
        try:
            solutions = _solutions()
            self._detector = self._resources.enter_context(solutions.face_detection.FaceDetection(
                model_selection=DETECTION_MODEL, min_detection_confidence=MIN_DETECTION_CONFIDENCE
            ))  # fmt: skip
            self._mesh = self._resources.enter_context(solutions.face_mesh.FaceMesh(
                static_image_mode=False, max_num_faces=max_faces, refine_landmarks=True,
                min_detection_confidence=MIN_DETECTION_CONFIDENCE, min_tracking_confidence=0.5,
            ))  # fmt: skip
        except BaseException:
            self._resources.close()
            raise

    def close(self) -> None:
        self._resources.close()

    def __enter__(self) -> FaceFinder:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def find(self, rgb: np.ndarray) -> list[FaceObservation]:
        """Faces in an RGB frame (H, W, 3) uint8; each detection gets the mesh whose centre falls in it."""
        detect = self._frame % self._detect_every == 0
        self._frame += 1
        detections = (self._detector.process(rgb).detections or []) if detect else []
        faces = []
        for detection in detections:
            box = detection.location_data.relative_bounding_box
            faces.append(FaceObservation(box=(box.xmin, box.ymin, box.width, box.height), score=float(detection.score[0])))
        meshes = self._mesh.process(rgb).multi_face_landmarks or []
        for mesh in meshes:
            points = np.array([(p.x, p.y) for p in mesh.landmark], dtype=np.float32)  # (478, 2)
            cx, cy = points.mean(axis=0)
            owner = next((f for f in faces if f.landmarks is None and _inside(cx, cy, f.box)), None)
            if owner is None:
                # The mesh found a face the detector missed (profile, small): keep it, boxed by its points.
                x0, y0 = points.min(axis=0)
                x1, y1 = points.max(axis=0)
                owner = FaceObservation(box=(float(x0), float(y0), float(x1 - x0), float(y1 - y0)), score=0.5)
                faces.append(owner)
            owner.landmarks = points
        return faces


def _inside(x: float, y: float, box: tuple[float, float, float, float]) -> bool:
    bx, by, bw, bh = box
    return bx <= x <= bx + bw and by <= y <= by + bh
