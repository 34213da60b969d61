"""Take assembly: each line of a take in its own audio file, the soundtrack built from those files, the
take measured, muxed with the clip and reported (dub.mp4, direction.json, report.json).

The director's nodes decide what to render; this module does the media work. It lives in the core, not
in agents/, because the evaluation measures takes with the same functions (`duration_errors`) and must
not need the director (LangGraph, the reasoners) to do so.
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path
from typing import Any

import numpy as np

from cinedub import media
from cinedub.files import atomic_path, storage_error, write_json
from cinedub.speech.measure import measure_prosody, speech_span
from cinedub.types import LineRendering, TakeRecord, Window

# Sample rate of the dub's soundtrack and of every line's audio file.
TRACK_SAMPLE_RATE = 48_000
# A line's speech is looked for this far past the end of its window, so a late end is measured.
LATE_MARGIN_S = 0.5
# Perception keys too bulky for direction.json (per-frame series).
PERCEPTION_SERIES = ("mouth_series", "face_series", "frame_times")


def duration_errors(spoken_s: float, window: Window) -> dict[str, float]:
    """How far the speech's length is from its window's, in ms: `duration_error_ms` is EVAL.md's
    |speech - window| (what the review judges and the evaluation reports), `duration_error_signed_ms` the
    same with its sign (+ = the speech is longer). The one definition: the review and the evaluation
    use it."""
    signed = round(1000 * (spoken_s - window.duration), 1)
    return {"duration_error_ms": abs(signed), "duration_error_signed_ms": signed}


def take_path(out_dir: str | Path, index: int) -> Path:
    """The take's soundtrack (the clip-long WAV)."""
    return Path(out_dir) / f"take-{index:03d}.wav"


def line_path(out_dir: str | Path, index: int, line: int) -> Path:
    """Line `line` (1-based) of take `index`: take-NNN/line-MM.wav beside the take's soundtrack."""
    return Path(out_dir) / f"take-{index:03d}" / f"line-{line:02d}.wav"


def write_line(path: Path, speech: np.ndarray) -> None:
    """A line's audio at the track's rate, float32 samples kept exactly (the soundtrack is re-assembled
    from these files, so a kept line sounds in the next take sample for sample as it did)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    media.write_wav(path, speech, TRACK_SAMPLE_RATE, subtype="FLOAT")


def keep_line(previous: str | Path, path: Path) -> None:
    """Copy a line's audio unchanged from an earlier take into this take's folder (atomically)."""
    previous = Path(previous)
    if previous.resolve() == path.resolve():
        return  # an automatic retake re-uses its own line
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        with atomic_path(path) as tmp:
            shutil.copyfile(previous, tmp)
    except OSError as err:
        raise storage_error(err, path) or err from None


def soundtrack(lines: list[LineRendering], duration: float) -> np.ndarray:
    """The clip-long track: every line's file placed where it sits, summed, clipped to [-1, 1]."""
    track = np.zeros(int(round(duration * TRACK_SAMPLE_RATE)), np.float32)
    for line in lines:
        audio, _ = media.load_audio(line.path, sample_rate=TRACK_SAMPLE_RATE)
        track += media.place(audio, TRACK_SAMPLE_RATE, line.start, duration)
    return np.clip(track, -1.0, 1.0)


def write_take(path: Path, lines: list[LineRendering], duration: float) -> None:
    """Assemble the take's soundtrack from its line files and write it (16-bit PCM, atomically)."""
    media.write_wav(path, soundtrack(lines, duration), TRACK_SAMPLE_RATE)


def measure_line(audio: np.ndarray, rate: int, window: Window, duration: float) -> dict[str, Any]:
    """Where a line's speech starts and ends in the take, and its duration errors."""
    segment = audio[int(window.start * rate) : int(min(duration, window.end + LATE_MARGIN_S) * rate)]
    span = speech_span(segment, rate)
    spoken = span[1] - span[0] if span else 0.0
    return {
        "window": window.model_dump(mode="json"),
        "speech_start": round(window.start + span[0], 4) if span else None,
        "speech_end": round(window.start + span[1], 4) if span else None,
        "speech_duration": round(spoken, 4),
        **duration_errors(spoken, window),
    }


def measure_take(take: TakeRecord, windows: list[Window], duration: float) -> dict[str, Any]:
    """The take's measurements: each line against its window, and the prosody of the speech in the
    take's (first line's) window."""
    audio, rate = media.load_audio(take.path)
    lines = [measure_line(audio, rate, window, duration) for window in windows]
    speech = audio[int(take.window.start * rate) : int(take.window.end * rate)]
    return {"lines": lines, "prosody": measure_prosody(speech, rate)}


def export_take(out_dir: str | Path, clip: str | Path, take: TakeRecord, takes: list[TakeRecord], *,
                director: dict[str, Any], perception: dict[str, Any], stage_timings: dict[str, float],
                auto_retakes: int) -> Path:  # fmt: skip
    """Write dub.mp4 (the clip with the take's soundtrack), direction.json (`director`: reasoner, cot,
    conclusion, references ...) and report.json (`stage_timings` plus this export's). Returns dub.mp4's
    path."""
    started = time.perf_counter()
    out = Path(out_dir)
    dub = media.mux(clip, take.path, out / "dub.mp4")
    write_json(out / "direction.json", {
        "take": take.index,
        **director,
        "direction": take.direction.model_dump(mode="json"),
        "plan": [line.direction.model_dump(mode="json") for line in take.lines],
        "perception": {k: v for k, v in perception.items() if k not in PERCEPTION_SERIES},
    })  # fmt: skip
    write_json(out / "report.json", {
        "take": take.index,
        "take_path": take.path,
        "dub_path": str(dub),
        "target_window": take.window.model_dump(mode="json"),
        "take_duration": take.duration,
        "lines": take.measured["lines"],
        "prosody": take.measured["prosody"],
        "applied": take.applied,
        "line_files": [{"line": r.line, "path": r.path, "start": r.start, "rendered_in": r.rendered_in}
                       for r in take.lines],  # fmt: skip
        "rerendered": take.rerendered,
        "stage_timings": {**stage_timings, "export": time.perf_counter() - started},
        "auto_retakes": auto_retakes,
        "takes": [{"index": t.index, "name": t.name, "path": t.path, "note": t.note, "duration": t.duration,
                   "rerendered": t.rerendered} for t in takes],  # fmt: skip
    })  # fmt: skip
    return dub
