"""The director's plan for a take: one Direction per line, with scene-wide defaults, and notes addressed to
lines ("line 2, angrier", "3: slower", "lines 1 and 3: louder"), to a character ("Anna: softer", "Anna
and Ben, calmer") or, naming neither, to all."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from cinedub.agents.notes import NOTE_WORDS, NoteResult
from cinedub.agents.state import DirectorState
from cinedub.errors import CinedubError
from cinedub.script import is_name, same_character
from cinedub.types import Direction, Plan, TakeRecord, Window

# "line 2, angrier", "Line 3: slower", "for lines 1 and 3 louder", "line 2" (alone: another take of it)
_ADDRESS = re.compile(r"^\s*(?:for\s+|on\s+)?lines?\s+(\d+(?:\s*(?:,|and|&)\s*\d+)*)\b\s*[:,.;-]?\s*", re.I)
# "3: slower", "2 and 4: louder"
_NUMBERS = re.compile(r"^\s*(\d+(?:\s*(?:,|and|&)\s*\d+)*)\s*:\s*", re.I)
# "everyone: softer", "all, again"
_EVERYONE = re.compile(r"^\s*(?:for\s+)?(?:everyone|everybody|all(?: lines)?)\s*[:,]\s*", re.I)
# "Anna: softer", "for Anna and Ben, calmer": a prefix before the first colon or comma
_PREFIX = re.compile(r"^\s*(?:for\s+)?([^:,]{1,80}?)\s*([:,])\s*")
_AND = re.compile(r"\s*(?:&|\band\b)\s*", re.I)
# A note that names a line and nothing else asks for another take of it.
AGAIN = "again"

# (note, the direction it changes, that direction in each earlier take) -> what the note makes of it
NoteReader = Callable[[str, Direction, list[Direction]], NoteResult]


def first_plan(scene: Direction, windows: list[Window], own: list[dict[str, Any]] | None = None) -> Plan:
    """Every line directed as the scene, each in its own window (`scene.window`: the first line's), with
    what is its own (`own[i]`: e.g. its speaker, voice, emotion)."""
    own = own or [{} for _ in windows]
    return Plan(scene=scene.model_copy(update={"window": windows[0]}),
                lines=[Direction.model_validate({**scene.model_dump(), "window": window, **mine})
                       for window, mine in zip(windows, own, strict=True)])  # fmt: skip


def state_plan(state: DirectorState) -> Plan:
    """The plan in the director's state. A session saved before plans were per line holds one `direction`
    and the lines' `base_windows`: its plan is that direction for every line."""
    if state.plan is not None:
        return state.plan
    if state.direction is None or not state.base_windows:
        raise CinedubError("this session's state has no plan this cinedub can read (saved by another "
                           "version?): start a new session with --session NAME")  # fmt: skip
    return first_plan(state.direction, state.base_windows)


@dataclass
class Address:
    """Whom a note is for: `lines` (1-based; None: everyone), the note without its address, how the
    answer names them, and why it cannot be followed (a line or character the scene does not have)."""

    lines: list[int] | None
    text: str
    label: str = ""
    problem: str | None = None


def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'s' if count != 1 else ''}"


def _character_lines(prefix: str, speakers: list[str | None]) -> tuple[list[str], list[int]] | None:
    """The characters a prefix names ("Anna", "Anna and Ben") and their lines, or None if it names none."""
    names = [part for part in _AND.split(prefix.strip()) if part]
    found = [next((s for s in speakers if same_character(s, name)), None) for name in names]
    if not names or None in found:
        return None
    return found, [i for i, s in enumerate(speakers, 1) if any(same_character(s, f) for f in found)]


def address_note(note: str, speakers: list[str | None]) -> Address:
    """Whom `note` is for, given each line's speaker (see the module's docstring)."""
    count = len(speakers)
    match = _ADDRESS.match(note) or _NUMBERS.match(note)
    if match is not None:
        numbers = sorted({int(n) for n in re.findall(r"\d+", match.group(1))})
        text = note[match.end() :].strip() or AGAIN
        missing = [n for n in numbers if not 1 <= n <= count]
        problem = (f"There is no line {missing[0]}: the scene has {_plural(count, 'line')}."
                   if missing and count else None)  # fmt: skip
        return Address(numbers, text, line_label(numbers), problem)
    everyone = _EVERYONE.match(note)
    if everyone is not None:
        return Address(None, note[everyone.end() :].strip() or AGAIN)
    prefix = _PREFIX.match(note)
    named = [s for s in speakers if s]
    spoken = next((s for s in sorted(set(named), key=len, reverse=True)
                   if note.casefold().startswith(s.casefold() + " ")), None)  # fmt: skip
    if prefix is not None:
        found = _character_lines(prefix.group(1), speakers)
        if found is not None:
            names, numbers = found
            return Address(numbers, note[prefix.end() :].strip() or AGAIN, character_label(names, numbers))
        words = prefix.group(1).split()
        looks_named = is_name(prefix.group(1)) and not any(w.casefold() in NOTE_WORDS for w in words)
        if prefix.group(2) == ":" and looks_named and spoken is None:
            cast = ", ".join(dict.fromkeys(named)) if named else "its lines name no speaker"
            return Address(None, note, problem=f"There is no character {prefix.group(1)!r} in the scene ({cast}).")
    if spoken is not None:  # "Anna softer"
        names, numbers = _character_lines(spoken, speakers)
        return Address(numbers, note[len(spoken) :].strip() or AGAIN, character_label(names, numbers))
    return Address(None, note)


def addressed(note: str) -> tuple[list[int] | None, str]:
    """The lines (1-based) a note names, or None for all of them, and the note without the address."""
    address = address_note(note, [])
    return address.lines, address.text


def check_note_address(note: str | None, speakers: list[str | None]) -> None:
    """A one-line CinedubError when `note` is for a line or character the scene does not have."""
    if note is None:
        return
    address = address_note(note, speakers)
    if address.problem is None and address.lines is not None:
        missing = [n for n in address.lines if not 1 <= n <= len(speakers)]
        if missing:
            address.problem = f"There is no line {missing[0]}: the scene has {_plural(len(speakers), 'line')}."
    if address.problem is not None:
        raise CinedubError(f"note {note!r}: {address.problem[0].lower()}{address.problem[1:]}")


def line_history(takes: list[TakeRecord], line: int) -> list[Direction]:
    """Line `line`'s direction in each take (a take without per-line records: its direction)."""
    history = []
    for take in takes:
        rendering = next((r for r in take.lines if r.line == line), None)
        history.append(rendering.direction if rendering else take.direction)
    return history


@dataclass
class PlanNote:
    """The plan after a note, what the director says about it, whether it asks for a take, and the lines
    whose direction it changed (the lines the next take renders anew)."""

    plan: Plan
    message: str
    retake: bool
    changed: list[int] = field(default_factory=list)


def line_label(numbers: list[int]) -> str:
    return f"Line {numbers[0]}" if len(numbers) == 1 else "Lines " + ", ".join(map(str, numbers))


def character_label(names: list[str], numbers: list[int]) -> str:
    return f"{' and '.join(names)} ({line_label(numbers).lower()})"



def _key(direction: Direction, history: list[Direction]) -> str:
    """Directions that differ only in their window read a note the same way (one reading for them all)."""
    return json.dumps([d.model_dump(mode="json", exclude={"window"}) for d in (direction, *history)])


def apply_note(plan: Plan, note: str, takes: list[TakeRecord], read: NoteReader) -> PlanNote:
    """Apply `note` to the lines it is for (all, and the scene defaults, when it names none). Lines directed
    alike are read once; each keeps its own window. A reader with a `locate` method (a model) reads the
    whole note first and says which lines it is for, when the note's words name none the rules know."""
    count = len(plan.lines)
    address = address_note(note, [d.speaker for d in plan.lines])
    numbers, text, label = address.lines, address.text, address.label
    if address.problem is None and numbers is not None:
        missing = [n for n in numbers if not 1 <= n <= count]
        if missing:
            address.problem = f"There is no line {missing[0]}: the scene has {_plural(count, 'line')}."
    if address.problem is not None:
        return PlanNote(plan, f"{address.problem} No new take.", retake=False)
    locate = getattr(read, "locate", None)
    if locate is not None:
        located = locate(note, text, plan.scene, [t.direction for t in takes])
        if numbers is None and located is not None:
            outside = [n for n in located if not 1 <= n <= count]
            if outside:
                return PlanNote(plan, f"The note was read as being for line {outside[0]}, which the scene does "
                                      f"not have ({_plural(count, 'line')}). No new take.", retake=False)  # fmt: skip
            numbers, label = located, line_label(located)
    targets = numbers or list(range(1, count + 1))
    # 0 stands for the scene defaults, which a note to every line also moves
    jobs = [(0, plan.scene, [t.direction for t in takes])] if numbers is None else []
    jobs += [(n, plan.lines[n - 1], line_history(takes, n)) for n in targets]
    readings: dict[str, tuple[NoteResult, list[int]]] = {}
    results: dict[int, NoteResult] = {}
    for n, direction, history in jobs:
        key = _key(direction, history)
        if key not in readings:
            readings[key] = (read(text, direction, history), [])
        result, named = readings[key]
        results[n] = result
        if n:
            named.append(n)
    lines = list(plan.lines)
    scene = plan.scene
    for n, result in results.items():
        if not result.retake:
            continue
        if n == 0:
            scene = result.direction.model_copy(update={"window": plan.scene.window})
        else:
            lines[n - 1] = result.direction.model_copy(update={"window": plan.lines[n - 1].window})
    if len(readings) == 1:
        result = next(iter(readings.values()))[0]
        message = result.message if numbers is None else f"{label}: {result.message}"
    else:
        message = " ".join(f"{line_label(named)}: {result.message}" for result, named in readings.values()
                           if named)  # fmt: skip
    changed = [n for n in range(1, count + 1) if lines[n - 1] != plan.lines[n - 1]]
    retake = any(r.retake for r in results.values())
    if retake and changed and count > 1:
        message += f" Re-rendering {line_label(changed).lower()}; the others are kept as they are."
    return PlanNote(Plan(scene=scene, lines=lines), message, retake=retake, changed=changed)
