"""Take assembly: each line of a take in its own audio file, the soundtrack built from those files (the
new dialogue over the clip's own ambience, when it has one), the take measured, muxed with the clip and
reported (dub.mp4, direction.json, report.json).

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
from cinedub.errors import CinedubError
from cinedub.files import atomic_path, storage_error, write_json
from cinedub.speech.audio import REFERENCE_LEVEL_DBFS
from cinedub.speech.measure import measure_prosody, speech_span
from cinedub.stems import clip_stems
from cinedub.types import LineRendering, SceneSound, TakeRecord, Window

# Sample rate of the dub's soundtrack and of every line's audio file.
TRACK_SAMPLE_RATE = 48_000
# A line's speech is looked for this far past the end of its window, so a late end is measured.
LATE_MARGIN_S = 0.5
# Perception keys too bulky for direction.json (per-frame series).
PERCEPTION_SERIES = ("mouth_series", "face_series", "frame_times")
# The new dialogue's loudness (LUFS) over an ambience whose clip had no dialogue: EBU R128's programme level.
DIALOGUE_TARGET_LUFS = -23.0
MIN_DIALOGUE_S = 0.5  # less speech than this in the clip's sound: it has no dialogue to match
# The mix never goes above this (-1 dBFS): a louder one is scaled down whole, never clipped.
PEAK_CEILING = 10.0 ** (-1.0 / 20.0)
STEMS = ("dialogue", "ambience")
TAKE_FILES = "take-[0-9][0-9][0-9].wav"  # the takes' mixes in an output folder (not their stems)


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


def stem_path(take: str | Path, stem: str) -> Path:
    """Where a take's stem lies: take-001.dialogue.wav beside take-001.wav."""
    take = Path(take)
    return take.with_name(f"{take.stem}.{stem}.wav")


def speech_path(take: str | Path) -> Path:
    """The take's new speech alone: its dialogue stem when it lies over the clip's ambience, else the take."""
    dialogue = stem_path(take, "dialogue")
    return dialogue if dialogue.is_file() else Path(take)


def loudness_lufs(audio: np.ndarray, rate: int) -> float | None:
    """ITU-R BS.1770 integrated loudness (pyloudnorm), or None for audio too short or silent to have one."""
    import pyloudnorm

    if len(audio) < int(0.4 * rate):  # one gating block
        return None
    value = float(pyloudnorm.Meter(rate).integrated_loudness(np.asarray(audio, np.float64)))
    return value if np.isfinite(value) else None


def scene_sound(clip: str | Path, out_dir: str | Path, duration: float) -> SceneSound | None:
    """Split the clip's own sound (cinedub.stems) into out_dir/scene/{dialogue,ambience}.wav (float, so
    they sum to the clip's sound exactly); None when it has no sound to keep."""
    stems = clip_stems(clip, duration)
    if stems is None:
        return None
    folder = Path(out_dir) / "scene"
    paths = {name: folder / f"{name}.wav" for name in STEMS}
    folder.mkdir(parents=True, exist_ok=True)
    for name, audio in (("dialogue", stems.dialogue), ("ambience", stems.ambience)):
        media.write_wav(paths[name], audio, stems.sample_rate, subtype="FLOAT")
    speech = [Window(start=round(a, 3), end=round(b, 3)) for a, b in stems.speech]
    speech_s = sum(w.duration for w in speech)
    lufs = loudness_lufs(stems.dialogue, stems.sample_rate) if speech_s >= MIN_DIALOGUE_S else None
    return SceneSound(dialogue_path=str(paths["dialogue"]), ambience_path=str(paths["ambience"]), speech=speech,
                      dialogue_lufs=None if lufs is None else round(lufs, 2))  # fmt: skip


def own_voice(clip: str | Path, out_dir: str | Path, duration: float) -> SceneSound:
    """The clip's own sound split, its dialogue stem (out_dir/scene/dialogue.wav, the room and music taken
    out) to be the reference voice; a one-line error when the clip has no dialogue. The split is returned
    whole so the director's `watch` does not split the same sound again."""
    scene = scene_sound(clip, out_dir, duration)
    if scene is None or not scene.has_dialogue:
        found = "no sound" if scene is None else f"{scene.speech_s:.2f} s of speech"
        raise CinedubError(f"{Path(clip).name} has no dialogue to take its actor's voice from ({found}); "
                           "give --voice AUDIO")  # fmt: skip
    return scene


def soundtrack(lines: list[LineRendering], duration: float) -> np.ndarray:
    """The clip-long dialogue: every line's file placed where it sits, summed."""
    track = np.zeros(int(round(duration * TRACK_SAMPLE_RATE)), np.float32)
    for line in lines:
        audio, _ = media.load_audio(line.path, sample_rate=TRACK_SAMPLE_RATE)
        track += media.place(audio, TRACK_SAMPLE_RATE, line.start, duration)
    return track


def dialogue_gain_db(dialogue: np.ndarray, lines: list[LineRendering], target_lufs: float) -> float:
    """The scene's one fader for the new dialogue: a line the actor spoke at its nominal level
    (REFERENCE_LEVEL_DBFS) comes out at `target_lufs`; a line directed louder or softer stays so."""
    measured = loudness_lufs(dialogue, TRACK_SAMPLE_RATE)
    if measured is None:
        return 0.0
    seconds = np.array([r.window.duration for r in lines])
    offsets = np.array([r.applied.get("level_dbfs", REFERENCE_LEVEL_DBFS) - REFERENCE_LEVEL_DBFS for r in lines])
    nominal = measured - float(np.average(offsets, weights=seconds)) if seconds.sum() > 0 else measured
    return target_lufs - nominal


def write_take(path: Path, lines: list[LineRendering], duration: float,
               scene: SceneSound | None = None) -> dict[str, Any]:  # fmt: skip
    """Assemble the take's soundtrack from its line files and write it (16-bit PCM, atomically). Over a
    scene's ambience, the new dialogue is set to the clip's dialogue loudness and both stems are written
    beside the mix. Returns what was applied (for the take's report)."""
    dialogue = soundtrack(lines, duration)
    if scene is None:
        media.write_wav(path, np.clip(dialogue, -1.0, 1.0), TRACK_SAMPLE_RATE)
        return {"ambience": "none"}
    ambience, _ = media.load_audio(scene.ambience_path, sample_rate=TRACK_SAMPLE_RATE)
    ambience = np.pad(ambience, (0, max(0, len(dialogue) - len(ambience))))[: len(dialogue)]
    target = scene.dialogue_lufs if scene.dialogue_lufs is not None else DIALOGUE_TARGET_LUFS
    gain_db = dialogue_gain_db(dialogue, lines, target)
    dialogue = dialogue * np.float32(10.0 ** (gain_db / 20.0))
    mix = dialogue + ambience
    peak = float(np.max(np.abs(mix))) if len(mix) else 0.0
    scale = min(1.0, PEAK_CEILING / peak) if peak > 0 else 1.0
    for name, audio in (("dialogue", dialogue), ("ambience", ambience)):
        media.write_wav(stem_path(path, name), audio * scale, TRACK_SAMPLE_RATE)
    media.write_wav(path, mix * scale, TRACK_SAMPLE_RATE)
    return {"ambience": "kept", "dialogue_target_lufs": round(target, 2), "dialogue_gain_db": round(gain_db, 2),
            "peak_scale_db": round(20.0 * np.log10(scale), 2)}  # fmt: skip


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
    audio, rate = media.load_audio(speech_path(take.path))  # over an ambience, the new speech is measured alone
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
