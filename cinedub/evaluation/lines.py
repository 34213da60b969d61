"""Each line of a take measured on its own (a scene with a cast, a localized clip): the words heard against its
text, the voice against the recording it was asked to speak in, and its speech against its window. The same
measures as a row's (item.py), on the line's own file (assembly.line_path), so one line's miss is not averaged
away by the others."""

from __future__ import annotations

from typing import Any

from cinedub import media
from cinedub.asr import transcribe, wer
from cinedub.evaluation import secs, timing
from cinedub.types import TakeRecord, Window


def measure_lines(take: TakeRecord) -> list[dict[str, Any]]:
    """Per line of `take`: line, speaker, text, language, wer (x100; tiny.en for English, Whisper base for
    another language), secs (x100, to the line's voice), duration and onset errors (ms) against its window."""
    voices: dict[str, tuple[Any, int]] = {}
    measured = []
    for rendering in take.lines:
        audio, rate = media.load_audio(rendering.path)
        language = rendering.applied.get("language", "en")
        voice = rendering.direction.voice
        if voice not in voices:
            voices[voice] = media.load_audio(voice)
        # the line's file starts at `start` in the clip: its window, in the file's own time
        window = Window(start=max(rendering.window.start - rendering.start, 0.0),
                        end=max(rendering.window.end - rendering.start, 0.0))  # fmt: skip
        timed = timing.window_timing(audio, rate, window)
        measured.append({
            "line": rendering.line, "speaker": rendering.direction.speaker, "text": rendering.text,
            "language": language, "rendered_in": rendering.rendered_in,
            "wer": round(100.0 * wer(rendering.text, transcribe(audio, rate, language=language), language=language), 2),
            "secs": round(secs.secs(audio, voices[voice][0], rate, voices[voice][1]), 2),
            "duration_error_ms": timed["duration_error_ms"], "onset_error_ms": timed["onset_error_ms"],
        })  # fmt: skip
    return measured
