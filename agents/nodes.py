"""The director's steps, one small node each: watch, reason, retrieve, direct, act, review, export,
wait for the human, interpret the note."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Literal

import numpy as np
from langgraph.runtime import Runtime
from langgraph.types import interrupt

from cinedub import media
from cinedub.agents.context import DirectorContext
from cinedub.agents.notes import NoteResult, interpret_note, interpret_note_with_model
from cinedub.agents.perception import perceive
from cinedub.agents.state import DirectorState
from cinedub.agents.windows import base_windows, target_window
from cinedub.files import write_json
from cinedub.speech.actor import Shot
from cinedub.speech.frontend import estimate_speech_seconds
from cinedub.speech.measure import measure_prosody, speech_span
from cinedub.speech.voice import load_voice
from cinedub.types import Conclusion, Direction, Line, Perception, TakeRecord, Window

# Sample rate of the dub's soundtrack.
TRACK_SAMPLE_RATE = 48_000


def _lines(state: DirectorState) -> list[Line]:
    return [Line.model_validate(line) for line in state["lines"]]


def watch(state: DirectorState, runtime: Runtime[DirectorContext]) -> dict[str, Any]:
    """Perception: faces, people, mouths, speaking windows, scene colour, the line's emotion."""
    start = time.perf_counter()
    text = " ".join(line.text for line in _lines(state))
    perception = perceive(state["clip"], text, fps=runtime.context.perception_fps)
    return {"perception": perception.model_dump(mode="json"), "timings": {"watch": time.perf_counter() - start}}


def reason(state: DirectorState, runtime: Runtime[DirectorContext]) -> dict[str, Any]:
    """The reasoner's four-stage chain of thought and its validated conclusion."""
    start = time.perf_counter()
    reasoning = runtime.context.reasoner.reason(
        Path(state["clip"]), Perception.model_validate(state["perception"]), _lines(state)
    )
    return {
        "cot": reasoning.cot,
        "conclusion": reasoning.conclusion.model_dump(mode="json"),
        "reasoner": reasoning.backend,
        "reasoner_notes": reasoning.notes,
        "messages": [f"Director ({reasoning.backend}): {note}" for note in reasoning.notes],  # e.g. why it fell back
        "timings": {"reason": time.perf_counter() - start},
    }


def retrieve(state: DirectorState, runtime: Runtime[DirectorContext]) -> dict[str, Any]:
    """Emotionally similar reference footage from the library, when one is configured."""
    if runtime.context.library is None:
        return {"references": []}
    start = time.perf_counter()
    references = runtime.context.library.query(state["clip"], _lines(state), Conclusion(**state["conclusion"]))
    return {"references": [r.model_dump(mode="json") for r in references], "timings": {"retrieve": time.perf_counter() - start}}


def direct(state: DirectorState, runtime: Runtime[DirectorContext]) -> dict[str, Any]:
    """Compose the first Direction: the conclusion's emotion, the human's overrides, the windows."""
    perception = Perception.model_validate(state["perception"])
    conclusion = Conclusion.model_validate(state["conclusion"])
    lines = _lines(state)
    overrides = state.get("overrides") or {}
    windows = base_windows(perception, lines, [estimate_speech_seconds(line.text) for line in lines])
    direction = Direction(
        emotion=overrides.get("emotion") or conclusion.emotion or "neutral",
        intensity=overrides["intensity"] if overrides.get("intensity") is not None else (conclusion.intensity or 0.5),
        window=windows[0],
        voice=state["voice"],
        references=state.get("references", []),
    )
    messages = [
        f"{conclusion.scene_type.capitalize()}: {conclusion.num_people} on screen, {conclusion.num_speaking} speaking. "
        f"Directing {direction.emotion} at intensity {direction.intensity:.2f} into {windows[0].start:.2f}-{windows[0].end:.2f} s."
    ]
    if state.get("first_note"):
        result = _read_note(runtime, state["first_note"], direction, state.get("conclusion"), [])
        direction = result.direction
        messages.append(result.message)
    return {
        "base_windows": [w.model_dump(mode="json") for w in windows],
        "direction": direction.model_dump(mode="json"),
        "fit_scale": [1.0] * len(lines),
        "auto_retakes": 0,
        "messages": messages,
    }


def act(state: DirectorState, runtime: Runtime[DirectorContext]) -> dict[str, Any]:
    """The actor performs every line; the take is the clip-long soundtrack, written atomically."""
    start = time.perf_counter()
    direction = Direction.model_validate(state["direction"])
    duration = state["perception"]["duration"]
    voice = load_voice(direction.voice)
    track = np.zeros(int(round(duration * TRACK_SAMPLE_RATE)), np.float32)
    applied, timings, windows = [], {}, []
    # the conclusion and the speaker's visual features, for actors that condition on them (F5's ControlNet)
    shot = Shot.from_perception(Perception.model_validate(state["perception"]), Conclusion.model_validate(state["conclusion"]))
    for line, base, scale in zip(_lines(state), state["base_windows"], state["fit_scale"], strict=True):
        window = target_window(Window.model_validate(base), direction.pace, duration)
        asked = Window(start=window.start, end=window.start + window.duration * scale)
        take = runtime.context.actor.perform(line, direction.model_copy(update={"window": asked}), voice, shot=shot)
        speech = media.resample(take.audio, take.sample_rate, TRACK_SAMPLE_RATE)
        track += media.place(speech, TRACK_SAMPLE_RATE, window.start, duration)
        applied.append(take.applied)
        windows.append(window)
        for stage, seconds in take.timings.items():
            timings[stage] = timings.get(stage, 0.0) + seconds
    # An automatic retake replaces the take it corrects; anything else is a new take.
    index = len(state.get("takes", [])) + (0 if state.get("auto_retakes", 0) else 1)
    path = Path(state["out_dir"]) / f"take-{index:03d}.wav"
    media.write_wav(path, np.clip(track, -1.0, 1.0), TRACK_SAMPLE_RATE)
    record = TakeRecord(
        index=index,
        name=f"take-{index:03d}",
        path=str(path),
        sample_rate=TRACK_SAMPLE_RATE,
        duration=float(sum(w.duration for w in windows)),
        window=windows[0],
        direction=direction,
        note=state.get("note"),
        applied={"lines": applied, "actor_timings": timings},
    )
    return {"takes": [record.model_dump(mode="json")], "timings": {"act": time.perf_counter() - start}}


def review(state: DirectorState, runtime: Runtime[DirectorContext]) -> dict[str, Any]:
    """Measure the take (each line's speech against its window, the prosody) and decide whether the
    actor must try again because the speech missed its window."""
    started = time.perf_counter()
    take = TakeRecord.model_validate(state["takes"][-1])
    audio, rate = media.load_audio(take.path)
    duration = state["perception"]["duration"]
    lines_measured, scales = [], []
    for base, scale in zip(state["base_windows"], state["fit_scale"], strict=True):
        window = target_window(Window.model_validate(base), take.direction.pace, duration)
        segment = audio[int(window.start * rate) : int(min(duration, window.end + 0.5) * rate)]
        span = speech_span(segment, rate)
        spoken = span[1] - span[0] if span else 0.0
        lines_measured.append({
            "window": window.model_dump(mode="json"),
            "speech_start": round(window.start + span[0], 4) if span else None,
            "speech_end": round(window.start + span[1], 4) if span else None,
            "speech_duration": round(spoken, 4),
            "duration_error_ms": round(1000 * (spoken - window.duration), 1),
        })  # fmt: skip
        scales.append(scale * window.duration / spoken if spoken > 0 else scale)
    speech = audio[int(take.window.start * rate) : int(take.window.end * rate)]
    take.measured = {"lines": lines_measured, "prosody": measure_prosody(speech, rate)}
    worst_s = max(abs(m["duration_error_ms"]) for m in lines_measured) / 1000
    retakes = state.get("auto_retakes", 0)
    update: dict[str, Any] = {"takes": [take.model_dump(mode="json")], "verdict": "accept",
                              "timings": {"review": time.perf_counter() - started}}  # fmt: skip
    if worst_s > runtime.context.duration_tolerance_s and retakes < runtime.context.max_auto_retakes:
        update.update(verdict="retake", fit_scale=scales, auto_retakes=retakes + 1)
        update["messages"] = [f"Take {take.index} missed its window by {1000 * worst_s:.0f} ms; asking the actor again."]
    return update


def route_review(state: DirectorState) -> Literal["act", "export"]:
    """Back to the actor when the review asked for an automatic retake."""
    return "act" if state["verdict"] == "retake" else "export"


def export(state: DirectorState) -> dict[str, Any]:
    """Write the take's dub, direction.json and report.json; dub.mp4 is always the latest take."""
    started = time.perf_counter()
    out = Path(state["out_dir"])
    take = state["takes"][-1]
    media.mux(state["clip"], take["path"], out / "dub.mp4")
    perception = state["perception"]
    write_json(out / "direction.json", {
        "take": take["index"],
        "reasoner": state["reasoner"],
        "reasoner_notes": state.get("reasoner_notes", []),
        "cot": state["cot"],
        "conclusion": state["conclusion"],
        "direction": take["direction"],
        "references": state.get("references", []),
        "perception": {k: v for k, v in perception.items() if k not in ("mouth_series", "frame_times")},
    })  # fmt: skip
    write_json(out / "report.json", {
        "take": take["index"],
        "take_path": take["path"],
        "dub_path": str(out / "dub.mp4"),
        "target_window": take["window"],
        "take_duration": take["duration"],
        "lines": take["measured"]["lines"],
        "prosody": take["measured"]["prosody"],
        "applied": take["applied"],
        "stage_timings": {**state.get("timings", {}), "export": time.perf_counter() - started},
        "auto_retakes": state.get("auto_retakes", 0),
        "takes": [{k: t[k] for k in ("index", "name", "path", "note", "duration")} for t in state["takes"]],
    })  # fmt: skip
    return {"messages": [f"Take {take['index']} is ready: {out / 'dub.mp4'}"], "auto_retakes": 0}


def wait_for_note(state: DirectorState) -> dict[str, Any]:
    """Hand over to the human director until they give a note (LangGraph interrupt)."""
    note = interrupt({"take": state["takes"][-1]["index"], "message": "Your note for the next take?"})
    return {"note": str(note)}


def _read_note(runtime: Runtime[DirectorContext], note: str, direction: Direction, conclusion: dict | None,
               history: list[Direction]) -> NoteResult:  # fmt: skip
    """A VLM director (a reasoner with a `.model`) reads the note itself; the rule interpreter otherwise."""
    model = getattr(runtime.context.reasoner, "model", None)
    if model is not None:
        return interpret_note_with_model(model, note, direction, conclusion, history)
    return interpret_note(note, direction, history)


def interpret(state: DirectorState, runtime: Runtime[DirectorContext]) -> dict[str, Any]:
    """Turn the note into Direction changes, and say what changed (or what was not understood)."""
    direction = Direction.model_validate(state["direction"])
    history = [Direction.model_validate(t["direction"]) for t in state["takes"]]
    result = _read_note(runtime, state["note"] or "", direction, state.get("conclusion"), history)
    update: dict[str, Any] = {"messages": [result.message], "verdict": "retake" if result.retake else "unclear"}
    if result.retake:
        update["direction"] = result.direction.model_dump(mode="json")
    return update


def route_note(state: DirectorState) -> Literal["act", "wait_for_note"]:
    """A note that asks for a take goes to the actor; one that doesn't goes back to the human."""
    return "act" if state["verdict"] == "retake" else "wait_for_note"
