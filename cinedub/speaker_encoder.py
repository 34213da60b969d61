"""resemblyzer's GE2E speaker encoder (a 3-layer LSTM d-vector model; its weights ship inside the wheel):
loaded once, shared by speaker similarity (evaluation/secs.py), diarization (diarize.py) and the actor's
reader audition (speech/audition.py)."""

from __future__ import annotations

import functools
import threading

import numpy as np

from cinedub import media
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


def speaker_embedding(audio: np.ndarray, sample_rate: int) -> np.ndarray:
    """The L2-normalised 256-d GE2E embedding of mono float speech (resemblyzer's own preprocessing:
    volume normalisation and long-silence trimming, so the silence around a take does not count)."""
    model = encoder()  # first: the one-line error when resemblyzer is missing
    from resemblyzer import preprocess_wav

    wav = preprocess_wav(media.resample(np.asarray(audio, np.float32), sample_rate, ENCODER_SAMPLE_RATE),
                         source_sr=ENCODER_SAMPLE_RATE)  # fmt: skip
    if len(wav) < ENCODER_SAMPLE_RATE // 4:
        raise CinedubError("too little speech for a speaker embedding (under 0.25 s after trimming silence)")
    with ENCODER_LOCK:
        return model.embed_utterance(wav)
