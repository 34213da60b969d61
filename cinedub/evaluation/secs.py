"""SECS / SPK-SIM: how much the take sounds like the reference voice.

The field uses a GE2E d-vector (StyleDubber) or a WavLM x-vector (DeepDubber); only resemblyzer's GE2E
ships its weights in a package, so cinedub reports its cosine x100 (protocols.SPEAKER_MODEL).
"""

from __future__ import annotations

import numpy as np

from cinedub.speaker_encoder import speaker_embedding


def secs(generated: np.ndarray, reference: np.ndarray, sample_rate: int,
         reference_rate: int | None = None) -> float:  # fmt: skip
    """Cosine similarity x100 of the two recordings' speaker embeddings."""
    a = speaker_embedding(generated, sample_rate)
    b = speaker_embedding(reference, reference_rate or sample_rate)
    return float(100.0 * np.dot(a, b) / (np.linalg.norm(a) * np.linalg.norm(b)))
