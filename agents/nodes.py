"""The director's steps, one small node each: watch, reason, retrieve, direct, act, review, export,
wait for the human, interpret the note."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
from langgraph.runtime import Runtime
from langgraph.types import interrupt

from cinedub import assembly, media
from cinedub.agents.context import DirectorContext
from cinedub.agents.notes import ModelNoteReader, interpret_note
from cinedub.agents.perception.cache import perceive_cached
from cinedub.agents.perception.text import text_emotion
from cinedub.agents.state import DirectorState, json_native
from cinedub.agents.plan import NoteReader, apply_note, first_plan, state_plan
from cinedub.agents.prompts import scene_line
from cinedub.agents.reasoners import line_conclusions
from cinedub.agents.speakers import (bind_characters, binding_note, characters_to_voices, line_speakers,
                                     rebind, speech_envelope, turns_by_face)
from cinedub.agents.phrasing import Phrase, phrase, stretched
from cinedub.agents.windows import base_windows, target_window
from cinedub.diarize import diarize, speaker_recordings
from cinedub.speech.actor import Actor, Shot
from cinedub.speech.frontend import estimate_speech_seconds
from cinedub.script import cast_member
from cinedub.speech.voice import load_voice
from cinedub.types import (CastMember, Conclusion, Direction, Line, LineRendering, Perception, Plan, SceneSound,
                           TakeRecord, Voice, Window)


SPEAKER_ENVELOPE_RATE = 16_000  # Hz: the dialogue's loudness per sampled frame needs no more


@dataclass(frozen=True)
class DialogueStem:
    """The clip's own dialogue as the director listens to it, decoded once per node run (who speaks each line
    and the automatic cast both hear it): where Silero VAD found speech in it, and its loudness over each
    sampled frame (None when the perception sampled no frames)."""

    audio: np.ndarray  # mono, at sample_rate
    sample_rate: int
    speech: list[Window]
    envelope: np.ndarray | None  # dB per perception.frame_times, agents.speakers.speech_envelope

    @classmethod
    def load(cls, scene: SceneSound, perception: Perception) -> DialogueStem:
        audio, rate = media.load_audio(scene.dialogue_path, sample_rate=SPEAKER_ENVELOPE_RATE)
        envelope = (speech_envelope(audio, rate, perception.frame_times, perception.sample_fps)
                    if perception.frame_times else None)  # fmt: skip
        return cls(audio=audio, sample_rate=rate, speech=scene.speech, envelope=envelope)


def watch(state: DirectorState, runtime: Runtime[DirectorContext]) -> dict[str, Any]:
    """Perception: faces, people, mouths, speaking windows, scene colour, the line's emotion (the picture
    part kept by the clip's content hash: the same clip dubbed again is not decoded again); and the
    clip's own sound split into its dialogue (where it speaks guides the phrasing) and ambience."""
    start = time.perf_counter()
    text = " ".join(line.text for line in state.lines)
    perception = perceive_cached(state.clip, text, fps=runtime.context.perception_fps)
    timings = {"watch": time.perf_counter() - start}
    lap = time.perf_counter()
    scene = state.scene_sound or assembly.scene_sound(state.clip, state.out_dir, perception.duration)
    timings["split_sound"] = time.perf_counter() - lap
    return {"perception": perception.model_dump(mode="json"),
            "scene_sound": scene.model_dump(mode="json") if scene else None, "timings": timings}  # fmt: skip


def reason(state: DirectorState, runtime: Runtime[DirectorContext]) -> dict[str, Any]:
    """The reasoner's four-stage chain of thought and its validated conclusion."""
    start = time.perf_counter()
    reasoning = runtime.context.reasoner.reason(
        Path(state.clip), state.perception, state.lines
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
    # the perception `watch` made: the library reads the clip's scene, faces and text emotion off it
    references = runtime.context.library.query(state.clip, state.lines, state.conclusion,
                                               perception=state.perception)  # fmt: skip
    return {"references": [r.model_dump(mode="json") for r in references], "timings": {"retrieve": time.perf_counter() - start}}


def natural_seconds(actor: Actor, lines: list[Line], voices: list[str]) -> list[float]:
    """How long each line takes spoken naturally: the actor's own measure in the line's voice when it has
    one (the F5 actor's trained duration head: `natural_seconds(text, voice)`, None without one), else the
    estimate from the text. A line with no window from the script or the picture (free narration) gets
    this length."""
    measure = getattr(actor, "natural_seconds", None)
    if measure is None:
        return [estimate_speech_seconds(line.text, language=line.language) for line in lines]
    references = {voice: load_voice(voice) for voice in dict.fromkeys(voices)}
    return [measure(line.text, references[voice]) or estimate_speech_seconds(line.text, language=line.language)
            for line, voice in zip(lines, voices, strict=True)]  # fmt: skip


def line_voice(line: Line, cast: dict[str, CastMember], default: str) -> str:
    """The recording a line is spoken in: its character's from the cast, else the default voice."""
    member = cast_member(cast, line.speaker)
    return member.voice if member is not None else default


def _own_direction(line: Line, voice: str) -> dict[str, Any]:
    """What of a line's direction is its own: who says it, in which voice, and what the script asks."""
    own: dict[str, Any] = {"speaker": line.speaker, "voice": voice}
    if line.emotion is not None:
        own["emotion"] = line.emotion
    if line.intensity is not None:
        own["intensity"] = line.intensity
    return own


def _speaker_direction(state: DirectorState, runtime: Runtime[DirectorContext], line: Line,
                       line_conclusion: Conclusion, face: int | None) -> dict[str, Any]:  # fmt: skip
    """What a line's direction takes from its speaker (`face`: their track id, None: off screen), concluded
    from their face and words: the emotion (and with it the intensity) where the script and the human gave
    none, and the library's reference footage for this speaker, these words and this conclusion."""
    overrides, library = state.overrides, runtime.context.library
    taken: dict[str, Any] = {}
    if line.emotion is None and overrides.emotion is None and line_conclusion.emotion is not None:
        taken["emotion"] = line_conclusion.emotion
        if line.intensity is None and overrides.intensity is None and line_conclusion.intensity is not None:
            taken["intensity"] = line_conclusion.intensity
    if library is not None:  # a per-line view of the perception: the library reads speaker and words off it
        view = state.perception.model_copy(update={"speaker_id": face, "text": text_emotion(line.text)})
        taken["references"] = library.query(state.clip, [line], line_conclusion, perception=view)
    return taken


def direct(state: DirectorState, runtime: Runtime[DirectorContext]) -> dict[str, Any]:
    """Compose the first plan: the conclusion's emotion and the human's overrides for every line, each line
    in its own window."""
    perception, conclusion, lines, overrides = state.perception, state.conclusion, state.lines, state.overrides
    scene = state.scene_sound
    dialogue = scene.speech if scene is not None and scene.has_dialogue else None
    voices = [line_voice(line, state.cast, state.voice) for line in lines]
    natural = natural_seconds(runtime.context.actor, lines, voices)
    windows = base_windows(perception, lines, natural, dialogue)
    stem = DialogueStem.load(scene, perception) if scene is not None and dialogue else None
    # who speaks each line: the face whose mouth moves in its window, the dialogue breaking ties by co-activity
    found = line_speakers(perception, windows, stem.envelope if stem is not None else None)
    faces = bind_characters([line.speaker for line in lines], [f.track_id for f in found])
    cast = state.cast
    # no voice given: each character in their own voice from the clip
    if state.voice_from_clip and stem is not None:
        cast = {**cast, **automatic_cast(lines, windows, cast, stem, perception, state.out_dir)}
        voices = [line_voice(line, cast, state.voice) for line in lines]
    # a scene with a cast (more than one face speaks, or a voice off screen): each line concluded from its own
    # speaker's face and words; one speaker on screen: the scene's conclusion is theirs
    on_screen = {f.track_id for f in found if f.track_id is not None}
    per_line = len(lines) > 1 and (len(on_screen) > 1 or any(f.track_id is None for f in found))
    concluded = line_conclusions(perception, [f.track_id for f in found], [l.text for l in lines]) if per_line else []
    direction = Direction(
        emotion=overrides.emotion or conclusion.emotion or "neutral",
        intensity=overrides.intensity if overrides.intensity is not None else (conclusion.intensity or 0.5),
        window=windows[0],
        voice=state.voice,
        references=state.references,
    )
    own = [_own_direction(line, voice) for line, voice in zip(lines, voices)]
    # `concluded` is empty with one speaker on screen: the lines keep the scene's conclusion and references
    for mine, line, line_conclusion, speaker in zip(own, lines, concluded, found):
        mine.update(_speaker_direction(state, runtime, line, line_conclusion, speaker.track_id))
    plan = first_plan(direction, windows, own)
    messages = [
        f"{conclusion.scene_type.capitalize()}: {conclusion.num_people} on screen, {conclusion.num_speaking} speaking. "
        f"Directing {direction.emotion} at intensity {direction.intensity:.2f} into {windows[0].start:.2f}-{windows[0].end:.2f} s."
    ]
    # the script's notes to single lines, then the note given with the first take
    notes = [f"line {n}: {line.note}" for n, line in enumerate(lines, 1) if line.note]
    for note in [*notes, *([state.first_note] if state.first_note else [])]:
        result = apply_note(plan, note, [], _note_reader(runtime, conclusion, lines, plan))
        plan = result.plan
        messages.append(result.message)
    off_screen = [n for n, f in enumerate(found, 1) if f.track_id is None]
    if off_screen and len(off_screen) < len(lines):
        messages.append(f"Off screen (narration): line{'s' if len(off_screen) > 1 else ''} "
                        f"{', '.join(map(str, off_screen))}.")  # fmt: skip
    automatic = sorted(name for name, member in cast.items() if member.from_clip)
    if automatic:
        messages.append(f"Cast from the clip's own voices: {', '.join(automatic)}.")
    return {
        "plan": plan.model_dump(mode="json"),
        "cast": {name: member.model_dump(mode="json") for name, member in cast.items()},
        "line_conclusions": [c.model_dump(mode="json") for c in concluded],
        "line_speakers": [f.model_dump(mode="json") for f in found],
        "cast_faces": [b.model_dump(mode="json") for b in faces],
        "fit_scale": [1.0] * len(lines),
        "auto_retakes": 0,
        "messages": messages,
    }


# A diarized speaker with less speech than this (s) is not a voice to speak a character's lines in.
MIN_CAST_VOICE_S = 1.5


def automatic_cast(lines: list[Line], windows: list[Window], cast: dict[str, CastMember], stem: DialogueStem,
                   perception: Perception, out_dir: str) -> dict[str, CastMember]:  # fmt: skip
    """The named characters the cast does not voice, each given their own speech in the clip (the diarized
    speaker heard most in their lines' windows, cut from the dialogue stem into out_dir/scene/cast/). Empty
    when fewer than two characters need a voice or the clip has one voice: the clip's dialogue is the voice."""
    characters = [line.speaker if cast_member(cast, line.speaker) is None else None for line in lines]
    count = len({name for name in characters if name is not None})
    if count < 2:
        return {}
    # as many voices as the script names characters: the director's word for how many speak (a few seconds
    # each of two voices may not part by themselves: MIN_SPEAKER_S)
    audio, rate = stem.audio, stem.sample_rate
    turns = diarize(audio, rate, speech=[(w.start, w.end) for w in stem.speech], num_speakers=count)
    if stem.envelope is not None:  # corrected by the mouths: a turn while another speaker's face talks is theirs
        turns, _ = turns_by_face(perception, turns, stem.envelope)
    if len({turn.speaker for turn in turns}) < 2:
        return {}
    chosen = characters_to_voices(characters, windows, turns)
    spoken = {name: sum(t.duration for t in turns if t.speaker == voice) for name, voice in chosen.items()}
    chosen = {name: voice for name, voice in chosen.items() if spoken[name] >= MIN_CAST_VOICE_S}
    recordings = speaker_recordings(audio, rate, [t for t in turns if t.speaker in chosen.values()],
                                    Path(out_dir) / "scene" / "cast")  # fmt: skip
    return {name: CastMember(name=name, voice=str(recordings[voice]), from_clip=True,
                             notes=f"the clip's own voice {voice} ({spoken[name]:.1f} s of speech)")
            for name, voice in chosen.items()}  # fmt: skip


def act(state: DirectorState, runtime: Runtime[DirectorContext]) -> dict[str, Any]:
    """The actor performs each line whose direction changed since the last take (every line in a first
    take); the other lines' audio is kept as it was. The take is the clip-long soundtrack assembled from
    the lines' files, written atomically."""
    start = time.perf_counter()
    plan = state_plan(state)
    duration, takes = state.perception.duration, state.takes
    # An automatic retake replaces the take it corrects; anything else is a new take.
    index = len(takes) + (0 if state.auto_retakes else 1)
    previous = {r.line: r for r in takes[-1].lines} if takes else {}
    voices: dict[str, Voice] = {}
    renderings, timings = [], {}
    # the conclusion and the speaker's visual features, for actors that condition on them (F5's ControlNet)
    shot = Shot.from_perception(state.perception, state.conclusion)
    # where the phrases go: the clip's own dialogue when it has one, else the speaker's mouth
    scene = state.scene_sound
    exact = scene is not None and scene.has_dialogue
    guide = scene.speech if exact else state.perception.speaking_windows
    for number, (line, planned, scale) in enumerate(zip(state.lines, plan.lines, state.fit_scale, strict=True), 1):
        window = target_window(planned.window, planned.pace, duration)
        given = Window(start=window.start, end=window.start + window.duration * scale)  # the review's correction
        asked = planned.model_copy(update={"window": given})
        path = assembly.line_path(state.out_dir, index, number)
        kept = previous.get(number)
        if kept is not None and (kept.direction, kept.text) == (asked, line.text) and Path(kept.path).is_file():
            assembly.keep_line(kept.path, path)
            renderings.append(kept.model_copy(update={"path": str(path)}))
            continue
        if asked.voice not in voices:
            # the clip's own dialogue stem is the voice alone already
            own = (state.voice_from_clip and asked.voice == state.voice) or any(
                member.from_clip and member.voice == asked.voice for member in state.cast.values())
            voices[asked.voice] = load_voice(asked.voice, cleaned=own)
        phrases = phrase(line.text, given, stretched(guide, planned.window, given), exact=exact,
                         language=line.language)  # fmt: skip
        audio, applied, line_timings = _perform(runtime.context.actor, line, asked, phrases, voices[asked.voice], shot)
        assembly.write_line(path, audio)
        renderings.append(LineRendering(line=number, text=line.text, path=str(path), start=window.start,
                                        window=window, direction=asked, applied=applied,
                                        timings=line_timings, rendered_in=index))  # fmt: skip
        _add_timings(timings, line_timings)
    path = assembly.take_path(state.out_dir, index)
    under = state.scene_sound if state.ambience == "keep" else None
    mixed = assembly.write_take(path, renderings, duration, scene=under)
    record = TakeRecord(
        index=index,
        name=f"take-{index:03d}",
        path=str(path),
        sample_rate=assembly.TRACK_SAMPLE_RATE,
        duration=float(sum(r.window.duration for r in renderings)),
        window=renderings[0].window,
        direction=plan.scene,
        note=state.note,
        applied={"lines": [r.applied for r in renderings], "actor_timings": timings, "scene_sound": mixed},
        lines=renderings,
    )
    return {"takes": [record.model_dump(mode="json")], "timings": {"act": time.perf_counter() - start}}


def _add_timings(total: dict[str, float], timings: dict[str, float]) -> None:
    """Add one performance's stage timings (seconds) into `total`."""
    for stage, seconds in timings.items():
        total[stage] = total.get(stage, 0.0) + seconds


def _perform(actor: Actor, line: Line, direction: Direction, phrases: list[Phrase], voice: Voice,
             shot: Shot) -> tuple[np.ndarray, dict[str, Any], dict[str, float]]:  # fmt: skip
    """The line spoken phrase by phrase, each in its own stretch of the line's window: the line-long audio
    at TRACK_SAMPLE_RATE (it starts at the window's start), what was applied, the actor's timings."""
    rate, window = assembly.TRACK_SAMPLE_RATE, direction.window
    if len(phrases) == 1 and phrases[0].text == line.text:
        take = actor.perform(line, direction, voice, shot=shot)
        return media.resample(take.audio, take.sample_rate, rate), take.applied, take.timings
    track = np.zeros(int(round(window.duration * rate)), np.float32)
    spoken, timings = [], {}
    for part in phrases:
        take = actor.perform(Line(text=part.text), direction.model_copy(update={"window": part.window}), voice, shot=shot)
        audio = media.resample(take.audio, take.sample_rate, rate)
        track += media.place(audio, rate, part.window.start - window.start, window.duration)
        spoken.append({"text": part.text, "window": part.window.model_dump(mode="json"), "applied": take.applied})
        _add_timings(timings, take.timings)
    applied = {**spoken[0]["applied"], "text": line.text, "phrases": spoken}
    return track, applied, timings


def review(state: DirectorState, runtime: Runtime[DirectorContext]) -> dict[str, Any]:
    """Measure the take (each line's speech against its window, the prosody) and decide whether the
    actor must try again because the speech missed its window."""
    started = time.perf_counter()
    take = state.takes[-1].model_copy()
    take.measured = assembly.measure_take(take, [r.window for r in take.lines], state.perception.duration)
    # Only the lines this take rendered are judged: a kept line was judged in the take that rendered it,
    # and re-timing only the lines that missed leaves the others' audio as it is.
    tolerance_ms = 1000 * runtime.context.duration_tolerance_s
    scales, worst_ms = [], 0.0
    for rendering, measured, scale in zip(take.lines, take.measured["lines"], state.fit_scale, strict=True):
        spoken, window = measured["speech_duration"], Window.model_validate(measured["window"])
        missed = measured["duration_error_ms"]
        if rendering.rendered_in == take.index and missed > tolerance_ms and spoken > 0:
            scale = scale * window.duration / spoken
            worst_ms = max(worst_ms, missed)
        scales.append(scale)
    worst_s = worst_ms / 1000
    retakes = state.auto_retakes
    update: dict[str, Any] = {"takes": [take.model_dump(mode="json")], "verdict": "accept",
                              "timings": {"review": time.perf_counter() - started}}  # fmt: skip
    if worst_s > runtime.context.duration_tolerance_s and retakes < runtime.context.max_auto_retakes:
        update.update(verdict="retake", fit_scale=scales, auto_retakes=retakes + 1)
        update["messages"] = [f"Take {take.index} missed its window by {1000 * worst_s:.0f} ms; asking the actor again."]
    return update


def route_review(state: DirectorState) -> Literal["act", "export"]:
    """Back to the actor when the review asked for an automatic retake."""
    return "act" if state.verdict == "retake" else "export"


def export(state: DirectorState) -> dict[str, Any]:
    """Write the take's dub, direction.json and report.json; dub.mp4 is always the latest take."""
    takes = state.takes
    voice = {"path": state.voice, "from": "the clip's own dialogue" if state.voice_from_clip else "given"}
    cast = {name: {"voice": member.voice, "notes": member.notes} for name, member in state.cast.items()}
    faces = [f.track_id for f in state.line_speakers] or [None] * len(takes[-1].lines)
    concluded = [c.model_dump(mode="json") for c in state.line_conclusions] or [None] * len(takes[-1].lines)
    spoken = [{"line": r.line, "text": r.text, "speaker": r.direction.speaker, "voice": r.direction.voice,
               "face": face, "on_screen": face is not None, "conclusion": line_conclusion}
              for r, face, line_conclusion in zip(takes[-1].lines, faces, concluded)]  # fmt: skip
    director = json_native({"voice": voice, "cast": cast, "lines": spoken, "cast_faces": state.cast_faces,
                            "line_speakers": state.line_speakers, "reasoner": state.reasoner,
                            "reasoner_notes": state.reasoner_notes, "cot": state.cot,
                            "conclusion": state.conclusion, "references": state.references})  # fmt: skip
    dub = assembly.export_take(state.out_dir, state.clip, takes[-1], takes, director=director,
                               perception=json_native(state.perception), stage_timings=state.timings,
                               auto_retakes=state.auto_retakes)  # fmt: skip
    return {"messages": [f"Take {takes[-1].index} is ready: {dub}"], "auto_retakes": 0}


def wait_for_note(state: DirectorState) -> dict[str, Any]:
    """Hand over to the human director until they give a note (LangGraph interrupt), or the script with some
    lines' words changed ({"revision": lines}, from Studio.dub)."""
    note = interrupt({"take": state.takes[-1].index, "message": "Your note for the next take?"})
    if isinstance(note, dict) and "revision" in note:
        return {"note": None, "revision": note["revision"]}
    return {"note": str(note), "revision": None}


def revise(lines: list[Line], revision: list[Line]) -> tuple[list[Line], list[int]]:
    """The session's lines with the revision's words (and language), and the lines (1-based) that changed.
    Studio.dub admits a revision only when nothing but the words changed."""
    changed = [n for n, (old, new) in enumerate(zip(lines, revision, strict=True), 1)
               if (old.text, old.language) != (new.text, new.language)]  # fmt: skip
    return revision, changed


def _note_reader(runtime: Runtime[DirectorContext], conclusion: Conclusion | None, lines: list[Line],
                 plan: Plan) -> NoteReader:  # fmt: skip
    """How the director reads a note: a VLM director (the context has a chat model) reads it itself, shown
    the scene's lines (so it can tell whom the note is for); the rule interpreter otherwise."""
    if runtime.context.model is None:
        return interpret_note
    scene = [scene_line(n, line.text, direction.model_dump(mode="json"))
             for n, (line, direction) in enumerate(zip(lines, plan.lines, strict=True), 1)]  # fmt: skip
    dump = conclusion.model_dump(mode="json") if conclusion is not None else None
    return ModelNoteReader(runtime.context.model, dump, scene)


def interpret(state: DirectorState, runtime: Runtime[DirectorContext]) -> dict[str, Any]:
    """Turn the note into plan changes (the lines it names, or all), and say what changed (or what was not
    understood); a revision of the script's words re-renders the lines whose words changed."""
    if state.revision is not None:
        lines, changed = revise(state.lines, state.revision)  # (Studio.dub sends only a changed script)
        which = ", ".join(map(str, changed))
        return {"lines": [line.model_dump(mode="json") for line in lines], "revision": None, "verdict": "retake",
                "messages": [f"New words for line{'s' if len(changed) > 1 else ''} {which}: re-rendering "
                             f"{'them' if len(changed) > 1 else 'it'}, the other lines kept."]}  # fmt: skip
    binding = binding_note(state.note or "", [b.character for b in state.cast_faces])
    if binding is not None:
        return _rebind(state, runtime, *binding)
    plan = state_plan(state)
    reader = _note_reader(runtime, state.conclusion, state.lines, plan)
    result = apply_note(plan, state.note or "", state.takes, reader)
    update: dict[str, Any] = {"messages": [result.message],
                              "verdict": "retake" if result.retake else "unclear"}  # fmt: skip
    if result.retake:
        update["plan"] = result.plan.model_dump(mode="json")
    return update


def _rebind(state: DirectorState, runtime: Runtime[DirectorContext], character: str,
            face: int | None) -> dict[str, Any]:  # fmt: skip
    """The director's correction of whom a character is ("Anna is face 3"): their lines are said by that face
    (or off screen), every line concluded again, and the character's lines re-directed from their new face's
    conclusion (the emotion, where the script and the human gave none) and references; the next take
    re-renders the lines whose direction changed."""
    perception, lines = state.perception, state.lines
    faces = sorted(p.track_id for p in perception.people)
    if face is not None and face not in faces:
        listed = ", ".join(map(str, faces)) or "none"
        return {"messages": [f"There is no face {face} in the clip (faces: {listed}; see direction.json)."],
                "verdict": "unclear"}  # fmt: skip
    bindings, speakers = rebind(state.cast_faces, state.line_speakers, character, face)
    concluded = line_conclusions(perception, [s.track_id for s in speakers], [line.text for line in lines])
    plan = state_plan(state)
    mine = next(b for b in bindings if b.character == character).lines
    directions = list(plan.lines)
    for n in mine:  # only the character's lines: the others keep their direction as it is
        changes = _speaker_direction(state, runtime, lines[n - 1], concluded[n - 1], face)
        directions[n - 1] = directions[n - 1].model_copy(update=changes)
    who = "off screen (narration)" if face is None else f"face {face}"
    seen = concluded[mine[0] - 1]
    about = f" ({seen.gender}, about {seen.age})" if face is not None and seen.age is not None else ""
    changed = [n for n in mine if directions[n - 1] != plan.lines[n - 1]]
    redo = (f"line{'s' if len(changed) > 1 else ''} {', '.join(map(str, changed))} re-directed" if changed
            else "their direction is unchanged")  # fmt: skip
    return {"messages": [f"{character} is now {who}{about}: {redo}."], "verdict": "retake",
            "cast_faces": [b.model_dump(mode="json") for b in bindings],
            "line_speakers": [s.model_dump(mode="json") for s in speakers],
            "line_conclusions": [c.model_dump(mode="json") for c in concluded],
            "plan": plan.model_copy(update={"lines": directions}).model_dump(mode="json")}  # fmt: skip


def route_note(state: DirectorState) -> Literal["act", "wait_for_note"]:
    """A note that asks for a take goes to the actor; one that doesn't goes back to the human."""
    return "act" if state.verdict == "retake" else "wait_for_note"
