"""The director's plan for a take: one Direction per line, with scene-wide defaults, and notes addressed to
one line ("line 2, angrier", "line 3: slower", "lines 1 and 3: louder") or, naming no line, to all."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass

from cinedub.agents.notes import NoteResult
from cinedub.agents.state import DirectorState
from cinedub.errors import CinedubError
from cinedub.types import Direction, Plan, TakeRecord, Window

# "line 2, angrier", "Line 3: slower", "for lines 1 and 3 louder", "line 2" (alone: another take of it)
_ADDRESS = re.compile(r"^\s*(?:for\s+|on\s+)?lines?\s+(\d+(?:\s*(?:,|and|&)\s*\d+)*)\b\s*[:,.;-]?\s*", re.I)
# A note that names a line and nothing else asks for another take of it.
AGAIN = "again"

# (note, the direction it changes, that direction in each earlier take) -> what the note makes of it
NoteReader = Callable[[str, Direction, list[Direction]], NoteResult]


def first_plan(scene: Direction, windows: list[Window]) -> Plan:
    """Every line directed as the scene, each in its own window (`scene.window`: the first line's)."""
    return Plan(scene=scene.model_copy(update={"window": windows[0]}),
                lines=[scene.model_copy(update={"window": window}) for window in windows])  # fmt: skip


def state_plan(state: DirectorState) -> Plan:
    """The plan in the director's state. A session saved before plans were per line holds one `direction`
    and the lines' `base_windows`: its plan is that direction for every line."""
    if state.plan is not None:
        return state.plan
    if state.direction is None or not state.base_windows:
        raise CinedubError("this session's state has no plan this cinedub can read (saved by another "
                           "version?): start a new session with --session NAME")  # fmt: skip
    return first_plan(state.direction, state.base_windows)


def addressed(note: str) -> tuple[list[int] | None, str]:
    """The lines (1-based) a note names, or None for all of them, and the note without the address."""
    match = _ADDRESS.match(note)
    if match is None:
        return None, note
    numbers = sorted({int(n) for n in re.findall(r"\d+", match.group(1))})
    return numbers, note[match.end() :].strip() or AGAIN


def line_history(takes: list[TakeRecord], line: int) -> list[Direction]:
    """Line `line`'s direction in each take (a take without per-line records: its direction)."""
    history = []
    for take in takes:
        rendering = next((r for r in take.lines if r.line == line), None)
        history.append(rendering.direction if rendering else take.direction)
    return history


@dataclass
class PlanNote:
    """The plan after a note, what the director says about it, and whether it asks for a take."""

    plan: Plan
    message: str
    retake: bool


def _label(numbers: list[int]) -> str:
    return f"Line {numbers[0]}" if len(numbers) == 1 else "Lines " + ", ".join(map(str, numbers))


def _key(direction: Direction, history: list[Direction]) -> str:
    """Directions that differ only in their window read a note the same way (one reading for them all)."""
    return json.dumps([d.model_dump(mode="json", exclude={"window"}) for d in (direction, *history)])


def apply_note(plan: Plan, note: str, takes: list[TakeRecord], read: NoteReader) -> PlanNote:
    """Apply `note` to the lines it names (all, and the scene defaults, when it names none). Lines directed
    alike are read once; each keeps its own window."""
    numbers, text = addressed(note)
    count = len(plan.lines)
    if numbers is not None:
        missing = [n for n in numbers if not 1 <= n <= count]
        if missing:
            return PlanNote(plan, f"There is no line {missing[0]}: the scene has {count} line"
                                  f"{'s' if count != 1 else ''}. No new take.", retake=False)  # fmt: skip
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
        message = result.message if numbers is None else f"{_label(numbers)}: {result.message}"
    else:
        message = " ".join(f"{_label(named)}: {result.message}" for result, named in readings.values()
                           if named)  # fmt: skip
    return PlanNote(Plan(scene=scene, lines=lines), message, retake=any(r.retake for r in results.values()))
