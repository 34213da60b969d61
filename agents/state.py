"""The director's typed state: nodes read pydantic models, and what they write is JSON (model dumps), so
checkpoints stay portable."""

from __future__ import annotations

import functools
import operator
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from cinedub.agents.speakers import CharacterBinding, LineSpeaker
from cinedub.labels import Ambience, Emotion
from cinedub.types import (
    CastMember, Conclusion, Direction, Line, Perception, Plan, Reference, SceneSound, TakeRecord, Window,
)


def json_native(value: Any) -> Any:
    """`value` with pydantic models, numpy scalars and arrays, tuples and paths turned into the JSON types
    they stand for (the checkpointer's msgpack refuses numpy; a numpy float once cost a finished take)."""
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if isinstance(value, dict):
        return {key: json_native(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [json_native(item) for item in value]
    if isinstance(value, np.ndarray):
        return json_native(value.tolist())
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, Path):
        return str(value)
    return value


def json_node(node: Callable[..., dict[str, Any]]) -> Callable[..., dict[str, Any]]:
    """A graph node whose state update is made JSON-native: where values enter the state."""

    @functools.wraps(node)
    def wrapped(*args: Any, **kwargs: Any) -> dict[str, Any]:
        return json_native(node(*args, **kwargs))

    return wrapped


def upsert_takes(left: list[dict], right: list[dict]) -> list[dict]:
    """Reducer: a take with a known index replaces it (the review's measurements, an automatic
    retake); a new index is appended. Takes are never removed."""
    takes = {take["index"]: take for take in left}
    takes.update({take["index"]: take for take in right})
    return [takes[i] for i in sorted(takes)]


def merge_dicts(left: dict[str, Any], right: dict[str, Any]) -> dict[str, Any]:
    """Reducer: later keys win (stage timings of the latest run)."""
    return {**left, **right}


class Overrides(BaseModel):
    """What the human director asked for up front, over the director's own conclusion."""

    model_config = ConfigDict(extra="forbid")

    emotion: Emotion | None = None
    intensity: float | None = Field(default=None, ge=0.0, le=1.0)


class InputState(BaseModel):
    """The graph's input: what the human director gives for a session's first take (the narrow input schema
    of LangGraph's react-agent template). The Studio builds it, validated, and passes its JSON dump."""

    model_config = ConfigDict(extra="forbid")

    clip: str
    lines: list[Line]  # a line's window is set when the script gives one
    voice: str  # the voice of lines whose speaker the cast does not name
    voice_from_clip: bool = False  # the voice is the clip's own dialogue (no --voice given)
    cast: dict[str, CastMember] = {}  # character -> their voice (and the director's notes about them)
    # the clip's own sound, split; None: it has none (or it is dropped). Given when the Studio already
    # split it for the own voice; else `watch` splits it.
    scene_sound: SceneSound | None = None
    out_dir: str
    overrides: Overrides = Overrides()
    first_note: str | None = None  # a note given with the very first take
    ambience: Ambience = "keep"  # the clip's own sound under the new dialogue, or silence
    messages: Annotated[list[str], operator.add] = []  # what the director said, in order


class DirectorState(InputState):
    """The director's state, typed: each node reads these models (LangGraph validates the checkpointed JSON
    into them) and returns JSON (`json_node`), so checkpoints hold JSON values only."""

    model_config = ConfigDict(extra="ignore")  # keys of other versions do not stop a session from opening

    # What the director worked out.
    perception: Perception | None = None
    # who speaks each line (agents/speakers.py): the face and its evidence, and each character's face
    line_speakers: list[LineSpeaker] = []
    cast_faces: list[CharacterBinding] = []
    # in a scene with a cast, each line's own conclusion from its speaker's face and words (else empty)
    line_conclusions: list[Conclusion] = []
    cot: str = ""
    conclusion: Conclusion | None = None
    reasoner: str = ""
    reasoner_notes: list[str] = []
    references: list[Reference] = []
    plan: Plan | None = None  # for the next take: a Direction per line (its window: before pace changes)
    # Sessions saved before plans were per line hold these instead of `plan` (agents/plan.py reads them).
    base_windows: list[Window] = []
    direction: Direction | None = None

    # The takes and the conversation.
    takes: Annotated[list[TakeRecord], upsert_takes] = []
    fit_scale: list[float] = []  # per line, the review's correction of the window given to the actor
    auto_retakes: int = 0  # automatic retakes of the current take so far
    verdict: Literal["accept", "retake", "unclear"] | None = None  # the last review's or interpretation's
    note: str | None = None
    # the script's lines with new words, given instead of a note: the lines whose words changed are re-rendered
    revision: list[Line] | None = None
    timings: Annotated[dict[str, float], merge_dicts] = {}
