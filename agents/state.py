"""The director's typed state. Values are plain JSON (model dumps), so checkpoints stay portable."""

from __future__ import annotations

import functools
import operator
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, TypedDict

import numpy as np


def json_native(value: Any) -> Any:
    """`value` with numpy scalars and arrays, tuples and paths turned into the JSON types they stand for
    (the checkpointer's msgpack refuses numpy; a numpy float once cost a finished take)."""
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


class DirectorState(TypedDict, total=False):
    # What the human director gave.
    clip: str
    lines: list[dict]  # `Line` dumps; a line's window is set when the script gives one
    voice: str
    out_dir: str
    overrides: dict  # emotion / intensity asked for up front
    first_note: str | None  # a note given with the very first take

    # What the director worked out.
    perception: dict  # `Perception` dump
    cot: str
    conclusion: dict  # `Conclusion` dump
    reasoner: str
    reasoner_notes: list[str]
    references: list[dict]  # `Reference` dumps
    base_windows: list[dict]  # per line, where its speech belongs before pace changes
    direction: dict  # `Direction` dump for the next take

    # The takes and the conversation.
    takes: Annotated[list[dict], upsert_takes]  # `TakeRecord` dumps
    fit_scale: list[float]  # per line, the review's correction of the window given to the actor
    auto_retakes: int  # automatic retakes of the current take so far
    verdict: str  # the last review's or interpretation's decision, read by the routers
    note: str | None
    messages: Annotated[list[str], operator.add]  # what the director said, in order
    timings: Annotated[dict, merge_dicts]
