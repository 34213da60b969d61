"""Reference voices: load a recording and check it can describe a voice."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from cinedub.errors import CinedubError
from cinedub.media import load_audio
from cinedub.types import Voice

from .audio import MIN_VOICE_SPEECH_S, VAD_FLOOR_DBFS, frame_energy_db, speech_mask

SILENT_PEAK = 10.0 ** (VAD_FLOOR_DBFS / 20.0)  # nothing louder than -70 dBFS: silence
NOISE_MARGIN_DB = 10.0  # speech frames are at least this far above the recording's 10th-percentile frame


def check_voice(voice: Voice) -> Voice:
    """Raise CinedubError (one line) unless `voice` holds at least MIN_VOICE_SPEECH_S of speech."""
    name = Path(voice.path).name or str(voice.path)
    audio = np.asarray(voice.audio)
    if audio.ndim != 1:
        raise CinedubError(f"reference voice {name} must be mono, got shape {audio.shape}")
    if len(audio) == 0:
        raise CinedubError(f"reference voice {name} is empty (no audio samples)")
    if not np.all(np.isfinite(audio)):
        raise CinedubError(f"reference voice {name} contains invalid (NaN/inf) samples")
    if float(np.max(np.abs(audio))) < SILENT_PEAK:
        raise CinedubError(f"reference voice {name} is silent")
    energy, hop_s = frame_energy_db(audio, voice.sample_rate)
    # Speech must also stand out of the recording's own floor, so a steady hum or hiss isn't speech.
    floor = float(np.percentile(energy, 10))
    speech_s = float((speech_mask(energy) & (energy > floor + NOISE_MARGIN_DB)).sum() * hop_s)
    if speech_s < MIN_VOICE_SPEECH_S:
        raise CinedubError(
            f"reference voice {name} has only {speech_s:.2f} s of speech; at least {MIN_VOICE_SPEECH_S:.0f} s is needed"
        )
    return voice


def load_voice(path: str | Path) -> Voice:
    """Load a reference recording (any format ffmpeg reads) as mono float32 and check it."""
    audio, rate = load_audio(path, mono=True)
    return check_voice(Voice(path=Path(path), audio=audio, sample_rate=rate))
