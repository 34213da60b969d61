"""The reader that first speaks a line, by the line's language: Piper en_US joe for English, espeak-ng's
voice for any other language (the offline fallback; the F5 actor with a multilingual checkpoint is the
natural-sounding path). The parametric actor reshapes either reading the same way (prosody, timing,
timbre)."""

from __future__ import annotations

from typing import Any

import numpy as np

from . import espeak_voice, piper_voice

ENGLISH = "en"
FALLBACK_NOTE = ("offline fallback: espeak-ng's {language} voice reshaped toward the speaker; "
                 "the F5 actor with a multilingual checkpoint gives a natural voice")  # fmt: skip


def reader_name(language: str = ENGLISH) -> str:
    """Which voice reads `language`: 'piper joe' or 'espeak-ng es'."""
    return "piper joe" if language == ENGLISH else f"espeak-ng {language}"


def check_reader(language: str = ENGLISH) -> None:
    """A one-line CinedubError when no reader speaks `language` (espeak-ng missing, or without a voice for
    it), before any work is done."""
    if language != ENGLISH:
        espeak_voice.check_language(language)


def read(text: str, language: str = ENGLISH, *, length_scale: float = 1.0) -> np.ndarray:
    """The reader's rendering of `text` at SAMPLE_RATE: float32 (num_samples,), deterministic.
    `length_scale` > 1 reads slower."""
    if language == ENGLISH:
        return piper_voice.speak(text, length_scale=length_scale)
    return espeak_voice.speak(text, language, length_scale=length_scale)


def reader_report(language: str, length_scale: float) -> dict[str, Any]:
    """What a take's `applied` says about its reader: which one, at what settings, and, for espeak-ng,
    that it is the offline fallback."""
    if language == ENGLISH:
        settings = {"length_scale": round(length_scale, 4), "noise_scale": piper_voice.NOISE_SCALE,
                    "noise_w": piper_voice.NOISE_W_SCALE}  # fmt: skip
        return {"reader": reader_name(language), "piper": settings}
    settings = {"length_scale": round(length_scale, 4),
                "words_per_minute": espeak_voice.words_per_minute(length_scale)}  # fmt: skip
    note = FALLBACK_NOTE.format(language=language)
    return {"reader": reader_name(language), "reader_note": note, "espeak": settings}
