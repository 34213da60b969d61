"""The reader that first speaks a line. English has two: Piper en_US joe (a man, ~100 Hz; from PyPI, always
there) and Festival's HTS voice slt (a woman, ~170 Hz; Debian packages, used when installed); which one reads
a reference voice is ParametricActor.reader_for's choice (the one nearer its pitch, choose_reader, unless
an audition hears the other clearly nearer: audition.py). Any other language is read by espeak-ng's voice for it (the offline fallback; the F5 actor
with a multilingual checkpoint is the natural-sounding path). The parametric actor reshapes every reading
the same way (prosody, timing, timbre).

A reader is named by a string ("piper joe", "festival slt", "espeak-ng es"): the name a take's report
gives, and the key what is learned from a reading is kept under."""

from __future__ import annotations

from typing import Any

import numpy as np

from . import espeak_voice, festival_voice, piper_voice

ENGLISH = "en"
PIPER_JOE = "piper joe"
FESTIVAL_SLT = "festival slt"
ESPEAK_PREFIX = "espeak-ng "
FALLBACK_NOTE = ("offline fallback: espeak-ng's {language} voice reshaped toward the speaker; "
                 "the F5 actor with a multilingual checkpoint gives a natural voice")  # fmt: skip


def default_reader(language: str = ENGLISH) -> str:
    """Who reads `language` when no reference voice chooses: 'piper joe', or 'espeak-ng es'."""
    return PIPER_JOE if language == ENGLISH else ESPEAK_PREFIX + language


def reader_language(reader: str) -> str:
    """The language `reader` speaks."""
    return reader.removeprefix(ESPEAK_PREFIX) if reader.startswith(ESPEAK_PREFIX) else ENGLISH


def english_readers() -> tuple[str, ...]:
    """The English readers installed here, Piper joe first (Festival's voice when festival runs)."""
    return (PIPER_JOE, FESTIVAL_SLT) if festival_voice.available() else (PIPER_JOE,)


def choose_reader(language: str, reference_f0_hz: float | None) -> str:
    """The reader of `language` whose own median F0 (its calibration profile, timbre.actor_profile) is the
    fewest semitones from the reference's: a smaller pitch shift keeps WORLD's resynthesis nearer its
    source, and a reader of the reference's sex starts nearer its formants. Without a reference pitch, or
    off English, the default reader."""
    if language != ENGLISH or reference_f0_hz is None or reference_f0_hz <= 0:
        return default_reader(language)
    from .timbre import actor_profile

    readers = english_readers()
    distances = [abs(np.log2(actor_profile(reader).f0_median_hz / reference_f0_hz)) for reader in readers]
    return readers[int(np.argmin(distances))]


def check_reader(language: str = ENGLISH) -> None:
    """A one-line CinedubError when no reader speaks `language` (espeak-ng missing, or without a voice for
    it), before any work is done."""
    if language != ENGLISH:
        espeak_voice.check_language(language)


def read(text: str, reader: str = PIPER_JOE, *, length_scale: float = 1.0) -> np.ndarray:
    """`reader`'s rendering of `text` at SAMPLE_RATE: float32 (num_samples,), deterministic.
    `length_scale` > 1 reads slower."""
    if reader == PIPER_JOE:
        return piper_voice.speak(text, length_scale=length_scale)
    if reader == FESTIVAL_SLT:
        return festival_voice.speak(text, length_scale=length_scale)
    return espeak_voice.speak(text, reader_language(reader), length_scale=length_scale)


def reader_report(reader: str, length_scale: float) -> dict[str, Any]:
    """What a take's `applied` says about its reader: which one, at what settings, and, for espeak-ng,
    that it is the offline fallback."""
    if reader == PIPER_JOE:
        settings = {"length_scale": round(length_scale, 4), "noise_scale": piper_voice.NOISE_SCALE,
                    "noise_w": piper_voice.NOISE_W_SCALE}  # fmt: skip
        return {"reader": reader, "piper": settings}
    if reader == FESTIVAL_SLT:
        settings = {"voice": festival_voice.VOICE, "length_scale": round(length_scale, 4)}
        return {"reader": reader, "festival": settings}
    language = reader_language(reader)
    settings = {"length_scale": round(length_scale, 4),
                "words_per_minute": espeak_voice.words_per_minute(length_scale)}  # fmt: skip
    note = FALLBACK_NOTE.format(language=language)
    return {"reader": reader, "reader_note": note, "espeak": settings}
