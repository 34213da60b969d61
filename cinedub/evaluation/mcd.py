"""MCD-DTW and MCD-DTW-SL with pymcd itself (the field's implementation), against ground-truth audio.

pymcd reads files (librosa, 22.05 kHz); files it can read are handed over as they are so the number is
exactly what `pymcd` prints, others (m4a, the audio of a video) are decoded with PyAV to a temporary
float WAV first.
"""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Iterator
from pathlib import Path

import soundfile as sf

from cinedub import media
from cinedub.errors import CinedubError

PYMCD_SAMPLE_RATE = 22_050  # pymcd's Calculate_MCD.SAMPLING_RATE


@contextlib.contextmanager
def _readable(path: str | Path) -> Iterator[str]:
    """`path` itself when libsndfile reads it, else a temporary WAV of its decoded audio."""
    try:
        sf.info(str(path))
        yield str(path)
        return
    except (sf.LibsndfileError, RuntimeError):
        pass
    audio, rate = media.load_audio(path, sample_rate=PYMCD_SAMPLE_RATE)
    with tempfile.TemporaryDirectory(prefix="cinedub-mcd-") as folder:
        wav = Path(folder) / "audio.wav"
        sf.write(wav, audio, rate, subtype="FLOAT")
        yield str(wav)


def mcd(reference: str | Path, generated: str | Path, mode: str = "dtw") -> float:
    """pymcd's mean MCD (dB) of `generated` against `reference`; mode "dtw" or "dtw_sl"."""
    try:
        from pymcd.mcd import Calculate_MCD
    except ImportError:
        raise CinedubError("MCD needs pymcd: pip install 'cinedub[eval]'") from None
    with _readable(reference) as ref, _readable(generated) as gen:
        return float(Calculate_MCD(MCD_mode=mode).calculate_mcd(ref, gen))


def mcd_pair(reference: str | Path, generated: str | Path) -> dict[str, float]:
    """Both variants, each from its own pymcd run (about a second each for a 5 s take)."""
    return {"mcd_dtw": mcd(reference, generated, "dtw"), "mcd_dtw_sl": mcd(reference, generated, "dtw_sl")}
