"""The rule-based note interpreter: a director's note in words -> changes to the `Direction`.

A note is split into clauses ("again, but angrier and a little slower" -> "angrier", "a little slower");
each clause names a target (an emotion, intensity, pace, pitch, loudness, or an earlier take) and an
optional amount ("a little", "much"). The interpreter says what it changed, and says plainly when it
did not understand a clause.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from cinedub.agents.cot import first_json_object
from cinedub.agents.prompts import (
    INTENSITY_RANGE, LOUDNESS_RANGE, NOTE_SYSTEM, PACE_RANGE, PITCH_RANGE, note_changes_schema, note_question,
)
from cinedub.labels import EMOTION_WORDS, Emotion
from cinedub.types import Direction

# Amount words -> multiplier of a step. Checked longest first, so "a little more" is not read as "more".
AMOUNTS: dict[str, float] = {
    "a tiny bit": 0.5, "a little bit": 0.5, "a little": 0.5, "a bit": 0.5, "slightly": 0.5, "a touch": 0.5,
    "much": 1.5, "a lot": 1.5, "way": 1.5, "far": 1.5, "lots": 1.5, "really": 1.5, "very": 1.5, "even": 1.0,
}  # fmt: skip
# Relative notes ("higher", "faster", "more", "louder") all follow one rule: each moves its control one
# step (times the amount word) from where the last take left it, and stops at the control's bounds; the
# director says so when a control is already there. Pace steps by a factor, the others add.
INTENSITY_STEP = 0.2
PACE_STEP = 1.15  # factor per step
PITCH_STEP = 2.0  # semitones
LOUDNESS_STEP = 3.0  # dB
# (step, bounds, the step multiplies) per Direction field a relative note moves; bounds are Direction's.
CONTROLS: dict[str, tuple[float, tuple[float, float], bool]] = {
    "intensity": (INTENSITY_STEP, INTENSITY_RANGE, False),
    "pace": (PACE_STEP, PACE_RANGE, True),
    "pitch_shift": (PITCH_STEP, PITCH_RANGE, False),
    "loudness": (LOUDNESS_STEP, LOUDNESS_RANGE, False),
}
# When a note switches to another emotion, it starts at least this strong.
SWITCHED_EMOTION_INTENSITY = 0.6

CALMER_WORDS = ("calmer", "calm", "gentler", "gentle", "relaxed", "tone it down", "subtler", "subtle")
MORE_WORDS = ("more", "stronger", "intense", "intenser", "bigger", "up")
LESS_WORDS = ("less", "weaker", "smaller", "down")
FASTER_WORDS = ("faster", "quicker", "quick", "fast", "speed up", "hurry")
SLOWER_WORDS = ("slower", "slow", "slow down", "take your time")
HIGHER_WORDS = ("higher", "high", "higher pitch", "pitch up")
LOWER_WORDS = ("lower", "low", "deeper", "deep", "pitch down")
LOUDER_WORDS = ("louder", "loud", "shout", "project")
SOFTER_WORDS = ("softer", "quieter", "soft", "quiet", "whisper", "hushed")
NEGATIONS = ("not", "no", "isn't", "don't", "never", "instead of", "rather than")
RETAKE_WORDS = ("again", "once more", "one more", "retake", "another take", "another", "try again", "go again")

# Every word the rule interpreter reads (an address "Again: ..." is a note, not a character's name).
NOTE_WORDS: frozenset[str] = frozenset(
    word
    for phrase in (*CALMER_WORDS, *MORE_WORDS, *LESS_WORDS, *FASTER_WORDS, *SLOWER_WORDS, *HIGHER_WORDS,
                   *LOWER_WORDS, *LOUDER_WORDS, *SOFTER_WORDS, *NEGATIONS, *RETAKE_WORDS, *AMOUNTS, *EMOTION_WORDS,
                   "line", "lines", "take", "like", "please", "ok", "okay", "good", "great", "now")  # fmt: skip
    for word in phrase.split()
)

_ORDINALS = {"first": 1, "second": 2, "third": 3, "fourth": 4, "fifth": 5, "last": -1, "previous": -1}
_LIKE_TAKE = re.compile(r"\blike (?:the )?(?:(first|second|third|fourth|fifth|last|previous) take|take (\d+))\b")
_CLAUSE_SPLIT = re.compile(r"[,;.!?]+|\bbut\b|\band\b|\bthen\b")


@dataclass
class NoteResult:
    """The direction after a note, what changed (in words), the clauses not understood, and why a clause
    changed nothing (`remarks`); `refused` says why the whole note was not acted on (it contradicts itself)."""

    direction: Direction
    changes: list[str] = field(default_factory=list)
    not_understood: list[str] = field(default_factory=list)
    retake: bool = False  # the note asks for a new take
    explanation: str = ""  # the model's reasoning about the note, when a model read it
    interpreter: str = "rules"  # who read the note: "rules", or the model's name
    remarks: list[str] = field(default_factory=list)
    refused: str = ""

    @property
    def understood(self) -> bool:
        return not self.not_understood and not self.refused

    @property
    def message(self) -> str:
        """Never empty: what changed, or why nothing did."""
        parts = []
        if self.explanation:
            parts.append(self.explanation.rstrip(".") + ".")
        if self.refused:
            parts.append(self.refused)
        if self.changes:
            parts.append("Changed " + "; ".join(self.changes) + ".")
        parts.extend(self.remarks)
        if self.retake and not self.changes:
            parts.append("Nothing to change: another take with the same direction.")
        if self.not_understood:
            quoted = ", ".join(f'"{c}"' for c in self.not_understood)
            parts.append(
                f"I did not understand {quoted}. Try: angrier, happier, sadder, calmer, more, a little less, "
                "much faster, slower, higher, lower, louder, softer, neutral, not angry, like the first take."
            )
        if not parts:
            parts.append('The note asks for no change, so there is no new take (say "again" for one).')
        return " ".join(parts)


def _has(clause: str, words: tuple[str, ...] | list[str]) -> str | None:
    for word in sorted(words, key=len, reverse=True):
        if re.search(rf"\b{re.escape(word)}\b", clause):
            return word
    return None


def _amount(clause: str) -> float:
    word = _has(clause, list(AMOUNTS))
    return AMOUNTS[word] if word else 1.0


def _clip(value: float, low: float, high: float) -> float:
    return max(low, min(high, value))


_UNITS = {"pitch_shift": "{:+.1f} st", "loudness": "{:+.1f} dB", "pace": "{:.2f}x", "intensity": "{:.2f}"}


def _show(name: str, value) -> str:
    return _UNITS.get(name, "{}").format(value)


def _describe(name: str, old, new) -> str:
    return f"{name.replace('_', ' ')} {_show(name, old)} -> {_show(name, new)}"


def _moved(name: str, value: float, sign: int, amount: float) -> float:
    """`value` of control `name` moved `sign * amount` steps, within its bounds (CONTROLS)."""
    step, (low, high), factor = CONTROLS[name]
    moved = value * step ** (sign * amount) if factor else value + sign * step * amount
    return round(_clip(moved, low, high), 3)


# Which control a clause's words move, and which way: (words, control, sign).
_RELATIVE: tuple[tuple[tuple[str, ...], str, int], ...] = (
    (FASTER_WORDS, "pace", 1), (SLOWER_WORDS, "pace", -1), (HIGHER_WORDS, "pitch_shift", 1),
    (LOWER_WORDS, "pitch_shift", -1), (LOUDER_WORDS, "loudness", 1), (SOFTER_WORDS, "loudness", -1),
)  # fmt: skip


def interpret_note(note: str, direction: Direction, take_directions: list[Direction]) -> NoteResult:
    """Apply `note` to `direction`. `take_directions[i]` is the direction of take i + 1.

    A negated clause ("not angry", "don't go faster") asks that something not be so: a negated emotion
    the take has becomes neutral, anything else stays as it is (and the answer says so). A note that asks
    for opposite things ("happier but sadder", "faster and slower") is refused as a whole.
    """
    text = note.lower().strip()
    if not text:
        return NoteResult(direction=direction, refused='The note is empty: say what to change, or "again".')
    not_understood: list[str] = []
    remarks: list[str] = []
    current = direction.model_copy()
    asked: dict[str, dict[object, str]] = {}  # control -> {value or direction asked: the clause asking}
    negated: list[tuple[str, str]] = []  # (emotion, clause)

    def ask(control: str, value: object, clause: str) -> None:
        asked.setdefault(control, {}).setdefault(value, clause)

    def move(name: str, sign: int, amount: float, clause: str) -> None:
        ask(name, sign, clause)
        value = _moved(name, getattr(current, name), sign, amount)
        if value == getattr(current, name):
            end = "highest" if sign > 0 else "lowest"
            remarks.append(f'"{clause}": the {name.replace("_", " ")} is already at its {end} '
                           f"({_show(name, value)}).")  # fmt: skip
        setattr(current, name, value)

    like = _LIKE_TAKE.search(text)
    if like:
        ordinal, number = like.groups()
        index = _ORDINALS[ordinal] if ordinal else int(number)
        if not take_directions or index == 0 or abs(index) > len(take_directions):
            not_understood.append(like.group(0) + f" (there are {len(take_directions)} takes)")
        else:
            target = take_directions[index - 1 if index > 0 else index]
            for name in ("emotion", "intensity", "pace", "pitch_shift", "loudness"):
                setattr(current, name, getattr(target, name))
        text = text.replace(like.group(0), " ")

    for raw in _CLAUSE_SPLIT.split(text):
        clause = raw.strip()
        if not clause:
            continue
        retake_word = _has(clause, RETAKE_WORDS)
        if retake_word:  # "once more" asks for a take, not for more intensity
            clause = re.sub(rf"\b{re.escape(retake_word)}\b", " ", clause).strip()
            if not clause:
                continue
        amount = _amount(clause)
        emotion_word = _has(clause, list(EMOTION_WORDS))
        relative = [(control, sign) for words, control, sign in _RELATIVE if _has(clause, words)]
        calmer, more, less = _has(clause, CALMER_WORDS), _has(clause, MORE_WORDS), _has(clause, LESS_WORDS)
        if _has(clause, NEGATIONS) and (emotion_word or relative or calmer or more or less):
            if emotion_word:  # "not sad": judged once the note's other clauses have said what it is
                negated.append((EMOTION_WORDS[emotion_word], clause))
            kept = [control for control, _ in relative] or ([] if emotion_word else ["intensity"])
            for control in kept:
                remarks.append(f'"{clause}": the {control.replace("_", " ")} stays '
                               f"{_show(control, getattr(current, control))}.")  # fmt: skip
            continue
        handled = False
        if emotion_word:
            emotion = EMOTION_WORDS[emotion_word]
            if emotion == "neutral":
                ask("emotion", "neutral", clause)
                current.emotion = "neutral"
            elif current.emotion == emotion or less:
                if current.emotion != emotion:  # "less sad" while not sad: nothing to reduce
                    not_understood.append(f"{clause} (the take is {current.emotion}, not {emotion})")
                else:
                    move("intensity", -1 if less else 1, amount, clause)
            else:
                ask("emotion", emotion, clause)
                current.emotion = emotion
                current.intensity = round(max(current.intensity, SWITCHED_EMOTION_INTENSITY), 2)
            handled = True
        elif calmer:
            move("intensity", -1, amount, clause)
            if current.intensity <= 0.1:
                current.emotion = "neutral"
            handled = True
        for control, sign in relative:
            move(control, sign, amount, clause)
            handled = True
        if not handled and (more or less):
            # A bare "more" / "much less" is about the emotion's intensity.
            move("intensity", 1 if more else -1, amount, clause)
            handled = True
        if not handled and clause not in AMOUNTS and clause not in ("please", "ok", "okay", "good", "great", "now"):
            not_understood.append(clause)

    opposite = next(((control, values) for control, values in asked.items() if len(values) > 1), None)
    if opposite is not None:
        control, values = opposite
        clauses = " and ".join(f'"{clause}"' for clause in values.values())
        what = "different emotions" if control == "emotion" else f"the {control.replace('_', ' ')} both ways"
        return NoteResult(direction=direction, not_understood=not_understood,
                          refused=f"The note asks for {what}: {clauses}. Say which one.")  # fmt: skip
    for emotion, clause in negated:
        if current.emotion == emotion:
            current.emotion = "neutral"
        else:
            remarks.append(f'"{clause}": the take is already {current.emotion}, not {emotion}.')

    changes = [_describe(name, old, new) for name, (old, new) in current.changed(direction).items()]
    retake = bool(changes) or bool(_has(note.lower(), RETAKE_WORDS)) or bool(like and not not_understood)
    if not changes and retake:
        current.seed = direction.seed + 1  # same direction, a new performance
    return NoteResult(direction=current, changes=changes, not_understood=not_understood, retake=retake,
                      remarks=remarks)  # fmt: skip


# ---------------------------------------------------------------------------------------------
# Notes through the model: the VLM director reads the note and answers with structured changes.

# How much of an unreadable answer a fallback message quotes.
QUOTE_CHARS = 60
NOTE_MAX_NEW_TOKENS = 160


class NoteChanges(BaseModel):
    """A model's reading of a note (agents/prompts.py's note_changes_schema), validated."""

    model_config = ConfigDict(extra="forbid")

    emotion: Emotion | None = None
    intensity: float | None = Field(default=None, ge=0.0, le=1.0)
    intensity_delta: float | None = Field(default=None, ge=-1.0, le=1.0)
    pace: float | None = Field(default=None, ge=PACE_RANGE[0], le=PACE_RANGE[1])
    pitch_shift: float | None = Field(default=None, ge=PITCH_RANGE[0], le=PITCH_RANGE[1])
    loudness: float | None = Field(default=None, ge=LOUDNESS_RANGE[0], le=LOUDNESS_RANGE[1])
    like_take: int | None = Field(default=None, ge=1)
    reference: int | None = Field(default=None, ge=0)
    retake: bool | None = None
    lines: list[int] | None = None  # the lines (1-based) the note is for; None or empty: every line
    explanation: str = ""


def read_note_answer(answer: str) -> tuple[NoteChanges | None, str | None]:
    """(changes, None) or (None, why the answer is unusable)."""
    obj = first_json_object(answer)
    if obj is None:
        return None, "no JSON object in the answer"
    try:
        return NoteChanges.model_validate(obj), None
    except ValidationError as err:
        first = err.errors()[0]
        return None, f"{'.'.join(str(p) for p in first['loc']) or 'answer'}: {first['msg']}"


def apply_note_changes(changes: NoteChanges, direction: Direction,
                       take_directions: list[Direction]) -> tuple[Direction, list[str]]:  # fmt: skip
    """The direction after `changes`, and what could not be applied (a take or reference that is not there)."""
    current = direction.model_copy()
    problems = []
    if changes.like_take is not None:
        if changes.like_take > len(take_directions):
            problems.append(f"take {changes.like_take} (there are {len(take_directions)} takes)")
        else:
            target = take_directions[changes.like_take - 1]
            for name in ("emotion", "intensity", "pace", "pitch_shift", "loudness"):
                setattr(current, name, getattr(target, name))
    for name in ("emotion", "intensity", "pace", "pitch_shift", "loudness"):
        if getattr(changes, name) is not None:
            setattr(current, name, getattr(changes, name))
    if changes.intensity_delta is not None and changes.intensity is None:
        current.intensity = round(_clip(current.intensity + changes.intensity_delta, *INTENSITY_RANGE), 2)
    if changes.reference is not None:
        if changes.reference >= len(direction.references):
            problems.append(f"reference {changes.reference} (there are {len(direction.references)})")
        else:  # the chosen reference leads; the others stay behind it
            chosen = direction.references[changes.reference]
            current.references = [chosen, *(r for r in direction.references if r is not chosen)]
    return current, problems


class ModelNoteReader:
    """The model reads a note (structured output: prompts.note_changes_schema) into Direction changes; it
    is asked once per note, and its changes apply to each direction the note is for.

    `model` is a `ChatModel` (agents/vlm.py). `scene`: the scene's lines as the model is shown them
    ("2. Anna: "..." (angry 0.60, pace 1.00)"); with more than one, the model also says which lines the
    note is for (`locate`). An unreadable or invalid answer, or a model that cannot answer, falls back to
    the rule interpreter, and the result's message says so.
    """

    def __init__(self, model, conclusion: dict | None = None, scene: list[str] | None = None) -> None:
        self.model, self.conclusion, self.scene = model, conclusion, list(scene or [])
        self._readings: dict[str, tuple[str, NoteChanges | None, str | None]] = {}

    def _reading(self, note: str, direction: Direction, takes: list[Direction],
                 asked: str | None = None) -> tuple[str, NoteChanges | None, str | None]:  # fmt: skip
        """(the answer, its changes or None, why they are unusable) for `note`, asked once; the model is
        shown `asked` (the whole note, its address included) when given."""
        from cinedub.agents.vlm import ModelUnavailable, VisionPrompt
        from cinedub.agents.vlm_reasoner import default_max_new_tokens

        if note not in self._readings:
            question = note_question(asked or note, direction.model_dump(mode="json"), self.conclusion, len(takes),
                                     len(direction.references), scene=self.scene)  # fmt: skip
            prompt = VisionPrompt(system=NOTE_SYSTEM, question=question,
                                  json_schema=note_changes_schema(len(takes), len(self.scene)))  # fmt: skip
            try:
                answer = self.model.generate(prompt, max_new_tokens=min(NOTE_MAX_NEW_TOKENS, default_max_new_tokens()))
                changes, error = read_note_answer(answer)
            except ModelUnavailable as err:
                answer, changes, error = "", None, f"model unavailable: {err}"
            self._readings[note] = (answer, changes, error)
        return self._readings[note]

    def locate(self, note: str, text: str, direction: Direction, takes: list[Direction]) -> list[int] | None:
        """The model reads the whole `note` (its address included; `text`: the note without the address
        the rules found, which the reading is kept under) and says which lines (1-based) it is for; None:
        every line, or no usable answer."""
        _, changes, _ = self._reading(text, direction, takes, asked=note)
        return sorted(set(changes.lines)) if changes is not None and changes.lines else None

    def __call__(self, note: str, direction: Direction, take_directions: list[Direction]) -> NoteResult:
        takes = list(take_directions)
        answer, changes, error = self._reading(note, direction, takes)
        if changes is None:
            return _read_by_rules(note, direction, takes, answer, error)
        return _model_result(changes, direction, takes, self.model.name)


def interpret_note_with_model(model, note: str, direction: Direction, conclusion: dict | None = None,
                              take_directions: list[Direction] | None = None) -> NoteResult:  # fmt: skip
    """The model reads `note` about one direction (see ModelNoteReader)."""
    return ModelNoteReader(model, conclusion)(note, direction, list(take_directions or []))


def _read_by_rules(note: str, direction: Direction, takes: list[Direction], answer: str, error: str | None) -> NoteResult:
    """The rule interpreter's reading, saying why the model's was not used."""
    result = interpret_note(note, direction, takes)
    quoted = " ".join(answer.split())[:QUOTE_CHARS]
    why = f"{error}: {quoted!r}" if answer else error
    result.explanation = f"The model's reading of the note was unusable ({why}); the rule interpreter read it"
    return result


def _model_result(changes: NoteChanges, direction: Direction, takes: list[Direction], interpreter: str) -> NoteResult:
    """The model's changes applied to `direction`, said in words."""
    current, problems = apply_note_changes(changes, direction, takes)
    described = [_describe(name, old, new) for name, (old, new) in current.changed(direction).items()
                 if name != "references"]  # fmt: skip
    if current.references != direction.references:
        described.append(f"reference -> {current.references[0].clip_id}")
    retake = changes.retake if changes.retake is not None else bool(described)
    if retake and not described:
        current.seed = direction.seed + 1  # same direction, a new performance
    return NoteResult(direction=current, changes=described, not_understood=problems, retake=retake,
                      explanation=changes.explanation.strip(), interpreter=interpreter)  # fmt: skip
