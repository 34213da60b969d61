"""SECS / SPK-SIM: how much the take sounds like the reference voice.

The field uses a GE2E d-vector (StyleDubber) or a WavLM x-vector (DeepDubber); only resemblyzer's GE2E
ships its weights in a package, so cinedub reports its cosine x100 (protocols.SPEAKER_MODEL).
"""

from __future__ import annotations

import numpy as np

from cinedub import media
from cinedub.errors import CinedubError
from cinedub.speaker_encoder import ENCODER_LOCK, ENCODER_SAMPLE_RATE, encoder


def speaker_embedding(audio: np.ndarray, sample_rate: int) -> np.ndarray:
    """The L2-normalised 256-d GE2E embedding of mono float speech (resemblyzer's own preprocessing:
    volume normalisation and long-silence trimming, so the silence around a take does not count)."""
    from resemblyzer import preprocess_wav

    wav = preprocess_wav(media.resample(np.asarray(audio, np.float32), sample_rate, ENCODER_SAMPLE_RATE),
                         source_sr=ENCODER_SAMPLE_RATE)  # fmt: skip
    if len(wav) < ENCODER_SAMPLE_RATE // 4:
        raise CinedubError("too little speech for a speaker embedding (under 0.25 s after trimming silence)")
    with ENCODER_LOCK:
        return encoder().embed_utterance(wav)


def secs(generated: np.ndarray, reference: np.ndarray, sample_rate: int,
         reference_rate: int | None = None) -> float:  # fmt: skip
    """Cosine similarity x100 of the two recordings' speaker embeddings."""
    a = speaker_embedding(generated, sample_rate)
    b = speaker_embedding(reference, reference_rate or sample_rate)
    return float(100.0 * np.dot(a, b) / (np.linalg.norm(a) * np.linalg.norm(b)))
