"""Reference voices: load a recording (its best stretch of speech when it is long) and check it can
describe a voice."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from cinedub.errors import CinedubError
from cinedub.media import load_audio, probe
from cinedub.types import Voice
from cinedub.vad import spans_mask, speech_spans

from .audio import MIN_VOICE_SPEECH_S, VAD_FLOOR_DBFS
from .learned import ContentCache

SILENT_PEAK = 10.0 ** (VAD_FLOOR_DBFS / 20.0)  # nothing louder than -70 dBFS: silence
SPEECH_HOP_S = 0.02  # the grid the speech found is counted on
# A voice profile (median F0, mean spectral envelope of voiced speech) is settled by a few seconds of
# speech: a longer reference is cut to its best VOICE_EXCERPT_S (the most speech), found in the first
# VOICE_SEARCH_S of the recording, the only part decoded, so a 40-minute reference costs what 2 do.
VOICE_EXCERPT_S = 30.0
VOICE_SEARCH_S = 120.0
# Every take loads its voices again (a retake, each line of a cast); loading checks the speech with Silero
# (~30 ms for a 7 s reference, a sixth of a short line's warm act), so loaded voices are kept by the file's
# identity (path, size, modification time): a file changed on disk is loaded again.
VOICE_MEMORY_SIZE = 16


def _speech_frames(audio: np.ndarray, sample_rate: int) -> tuple[np.ndarray, float]:
    """Which SPEECH_HOP_S frames hold speech (Silero VAD: words under music or room tone count, a hum,
    hiss or music alone does not), and the hop in seconds."""
    frames = int(np.ceil(len(audio) / sample_rate / SPEECH_HOP_S))
    return spans_mask(speech_spans(audio, sample_rate), frames, SPEECH_HOP_S), SPEECH_HOP_S


def best_excerpt(audio: np.ndarray, sample_rate: int, seconds: float = VOICE_EXCERPT_S) -> tuple[int, int]:
    """(start, end) samples of the `seconds`-long stretch of `audio` holding the most speech."""
    length = round(seconds * sample_rate)
    if len(audio) <= length:
        return 0, len(audio)
    speech, hop_s = _speech_frames(audio, sample_rate)
    span = min(max(1, round(seconds / hop_s)), len(speech))
    total = np.concatenate([[0], np.cumsum(speech, dtype=np.int64)])
    counts = total[span:] - total[:-span]  # speech frames in each window of `span` frames
    best = np.flatnonzero(counts == counts.max())
    # of the windows holding the most speech, the middle one: the speech sits centred, not at an edge
    start = min(int(best[len(best) // 2]) * round(hop_s * sample_rate), len(audio) - length)
    return start, start + length


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
    speech, hop_s = _speech_frames(audio, voice.sample_rate)
    speech_s = float(speech.sum() * hop_s)
    if speech_s < MIN_VOICE_SPEECH_S:
        where = f" in the {voice.duration:.0f} s used of it" if voice.recording_duration is not None else ""
        raise CinedubError(f"reference voice {name} has only {speech_s:.2f} s of speech{where}; "
                           f"at least {MIN_VOICE_SPEECH_S:g} s is needed")  # fmt: skip
    return voice


def load_voice(path: str | Path, *, cleaned: bool = False) -> Voice:
    """Load a reference recording (any format ffmpeg reads) as mono float32 and check it. Of a recording
    longer than VOICE_EXCERPT_S, only its first VOICE_SEARCH_S are decoded and the best VOICE_EXCERPT_S
    of speech in them kept (`Voice.excerpt()` says which). `cleaned`: the recording is already the voice
    alone (a dialogue stem cinedub split). A file loaded before and unchanged since gives the same Voice
    (its audio read-only: every take shares it)."""
    try:
        stat = Path(path).stat()
    except OSError:  # not there (or unreadable): load_audio says so in one line
        return _load_voice(path, cleaned)
    # the path as given too: the Voice names the file as its caller did (reports, a Direction's voice)
    identity = f"{path}|{Path(path).resolve()}|{stat.st_size}|{stat.st_mtime_ns}|{cleaned}"
    return loaded.get(identity, lambda: _load_voice(path, cleaned))


def _load_voice(path: str | Path, cleaned: bool) -> Voice:
    recording_s = probe(path).duration
    audio, rate = load_audio(path, mono=True, max_seconds=VOICE_SEARCH_S)
    start, end = best_excerpt(audio, rate)
    recording_s = max(recording_s, len(audio) / rate)
    trimmed = end - start < len(audio) or recording_s > len(audio) / rate + 0.5
    kept = audio[start:end].copy() if trimmed else audio
    kept.flags.writeable = False
    voice = Voice(path=Path(path), audio=kept, sample_rate=rate, offset=start / rate,
                  recording_duration=recording_s if trimmed else None, cleaned=cleaned)  # fmt: skip
    return check_voice(voice)


# loaded voices by file identity (see load_voice)
loaded: ContentCache[Voice] = ContentCache(size=VOICE_MEMORY_SIZE)
