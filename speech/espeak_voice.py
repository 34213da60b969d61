"""espeak-ng's voice for a language: the reader that first speaks a line the English voice can't.

The Debian `espeak-ng` command (formant synthesis, 100+ languages, RTF ~0.005) reads UTF-8 text from
stdin and writes a WAV to stdout. It is deterministic: the same text, language and speed give the same
samples (checked in tests/test_languages.py). Its audio is brought to the actor's SAMPLE_RATE.
"""

from __future__ import annotations

import functools
import io
import re
import shutil
import subprocess

import numpy as np

from cinedub.errors import CinedubError
from cinedub.media import resample

from .audio import SAMPLE_RATE

ESPEAK = "espeak-ng"
DEFAULT_WPM = 175  # espeak-ng's default speed, words per minute (-s)
WPM_RANGE = (80, 450)  # espeakRATE_MINIMUM / espeakRATE_MAXIMUM of speak_lib.h
TIMEOUT_S = 60.0  # a line takes milliseconds; a hung process must not hang a dub
_ALIAS = re.compile(r"\((\S+) \d+\)")  # "(fr 5)" in --voices' last column: another code, its priority


def _binary() -> str:
    path = shutil.which(ESPEAK)
    if path is None:
        raise CinedubError("the offline voice for other languages than English needs espeak-ng "
                           "(install espeak-ng: apt-get install espeak-ng)")  # fmt: skip
    return path


def _run(args: list[str], text: str = "") -> bytes:
    try:
        done = subprocess.run([_binary(), *args], input=text.encode("utf-8"), capture_output=True,
                              timeout=TIMEOUT_S, check=False)  # fmt: skip
    except (OSError, subprocess.TimeoutExpired) as err:
        raise CinedubError(f"espeak-ng failed: {err}") from None
    if done.returncode != 0:
        message = " ".join(done.stderr.decode("utf-8", "replace").split()) or f"exit status {done.returncode}"
        raise CinedubError(f"espeak-ng failed: {message}")
    return done.stdout


@functools.cache
def languages() -> frozenset[str]:
    """The language codes espeak-ng has a voice for (`espeak-ng --voices`): each voice's own code
    ("pt-br"), its primary subtag ("pt") and the other codes it answers to ("fr" for "fr-fr")."""
    codes: set[str] = set()
    for row in _run(["--voices"]).decode("utf-8", "replace").splitlines()[1:]:
        fields = row.split()
        if len(fields) < 2:
            continue
        codes.add(fields[1].lower())
        codes.add(fields[1].lower().split("-")[0])
        codes.update(alias.lower() for alias in _ALIAS.findall(row))
    return frozenset(codes)


def check_language(language: str) -> str:
    """`language` if espeak-ng has a voice for it, else a one-line CinedubError."""
    if language.lower() not in languages():
        raise CinedubError(f"espeak-ng has no voice for language {language!r}")
    return language.lower()


def words_per_minute(length_scale: float) -> int:
    """espeak-ng's speed for a Piper-style length_scale (> 1 reads slower), within espeak's range."""
    return int(np.clip(round(DEFAULT_WPM / max(length_scale, 1e-3)), *WPM_RANGE))


def speak(text: str, language: str, *, length_scale: float = 1.0) -> np.ndarray:
    """espeak-ng's reading of `text` in `language` at SAMPLE_RATE: float32 (num_samples,), deterministic.

    `length_scale` > 1 reads slower (DEFAULT_WPM / length_scale words per minute, clipped to WPM_RANGE).
    """
    import soundfile as sf

    voice = check_language(language)
    wav = _run(["-b", "1", "-v", voice, "-s", str(words_per_minute(length_scale)), "--stdout"], text)
    try:
        audio, rate = sf.read(io.BytesIO(wav), dtype="float32", always_2d=True)
    except (RuntimeError, sf.LibsndfileError) as err:
        raise CinedubError(f"espeak-ng gave no audio for the line {text!r}: {err}") from None
    if len(audio) == 0:
        raise CinedubError(f"espeak-ng could not speak the line {text!r} (no audio)")
    audio = audio[:, 0]
    if rate != SAMPLE_RATE:
        audio = resample(audio, rate, SAMPLE_RATE)
    return np.ascontiguousarray(audio, dtype=np.float32)
