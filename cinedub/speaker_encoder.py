"""resemblyzer's GE2E speaker encoder (a 3-layer LSTM d-vector model; its weights ship inside the wheel):
loaded once, shared by speaker similarity (evaluation/secs.py) and diarization (diarize.py)."""

from __future__ import annotations

import functools
import threading

from cinedub.errors import CinedubError

ENCODER_SAMPLE_RATE = 16_000  # Hz, resemblyzer's hparams.sampling_rate
ENCODER_LOCK = threading.Lock()  # one forward pass at a time when rows run in threads


@functools.cache
def encoder():
    """The loaded `resemblyzer.VoiceEncoder`, on the CPU."""
    try:
        from resemblyzer import VoiceEncoder
    except ImportError:
        raise CinedubError("speaker embeddings need resemblyzer: pip install 'cinedub[eval]'") from None
    return VoiceEncoder("cpu", verbose=False)
