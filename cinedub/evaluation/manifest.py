"""The evaluation manifest: one JSON object per line, validated row by row.

A row of `cinedub eval` names a take already made:

    {"id": "car-1", "audio": "take.wav", "voice": "actor.wav", "line": "Get out of my car.",
     "window": {"start": 0.4, "end": 2.9}, "ground_truth": "original.wav", "video": "clip.mp4",
     "neutral": "take-neutral.wav", "labels": {"scene_type": "monologue", "emotion": "angry"}}

`window` is where the speech must sit, in seconds of `audio`'s timeline (a take written by `cinedub dub`
is as long as the clip, so clip time); `[start, end]` works too. `ground_truth` (the original speech,
for MCD), `video` (for speech/mouth agreement and the scene type), `neutral` (the same line read
neutrally, for the prosody-based emotion measures) and `labels` are optional.

A row of `cinedub eval --dub` names what to dub instead: `video`, `line`, `voice` (and optionally
`window`, `emotion` / `intensity` overrides for the director, `ground_truth`, `labels`); the take is
made by the pipeline. A scene gives `script` (and `cast`) instead of `line`: its lines are dubbed (each
in its character's voice, `voice` for the others) and each line is measured on its own as well (`lines`). Relative paths are relative to the manifest's folder. A broken row becomes a
`RowError` with a one-line reason; the rest of the manifest still runs.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError, field_validator

from cinedub.errors import CinedubError
from cinedub.labels import Emotion, SceneType
from cinedub.types import Line, Record, Window

AUDIO_FIELDS = ("audio", "voice", "ground_truth", "neutral")
PATH_FIELDS = (*AUDIO_FIELDS, "video", "script", "cast")


class Labels(Record):
    """Gold labels of a row, when the data set has them."""

    scene_type: SceneType | None = None
    emotion: Emotion | None = None


class EvalRow(Record):
    id: str
    row: int  # 1-based line number in the manifest
    line: str
    voice: str
    audio: str | None = None
    window: Window | None = None
    ground_truth: str | None = None
    video: str | None = None
    neutral: str | None = None
    labels: Labels = Labels()
    predicted_scene_type: SceneType | None = None  # a prediction made elsewhere (eval without --dub)
    emotion: Emotion | None = None  # --dub: override the director's emotion
    intensity: float | None = None  # --dub: override the director's intensity
    # --dub: a scene's script and cast (`line` is then its lines' words, and each line is measured too)
    script: str | None = None
    cast: str | None = None

    @field_validator("line")
    @classmethod
    def _line(cls, text: str) -> str:
        return Line(text=text).text

    @field_validator("window", mode="before")
    @classmethod
    def _window_pair(cls, value: Any) -> Any:
        if isinstance(value, list | tuple) and len(value) == 2:
            return {"start": value[0], "end": value[1]}
        return value

    @property
    def slug(self) -> str:
        """The id made safe for a file name."""
        return re.sub(r"[^A-Za-z0-9._-]+", "_", self.id).strip("._") or f"row{self.row}"


@dataclass(frozen=True)
class RowError:
    """A row that cannot be evaluated, and why (one line)."""

    row: int
    id: str
    error: str


def _first_error(err: ValidationError) -> str:
    first = err.errors()[0]
    where = ".".join(str(part) for part in first["loc"])
    if first["type"] == "extra_forbidden":
        return f"unknown field {where!r}"
    if first["type"] == "missing":
        return f"missing field {where!r}"
    message = first["msg"].removeprefix("Value error, ")
    return f"{where}: {message}" if where else message


def parse_row(data: Any, *, row: int, root: Path, dub: bool) -> EvalRow:
    """Validate one decoded row (raises ValueError with a one-line reason)."""
    if not isinstance(data, dict):
        raise ValueError("a row must be a JSON object")
    data = dict(data)
    data.setdefault("id", f"row{row}")
    data["id"] = str(data["id"])
    for key in PATH_FIELDS:
        if isinstance(data.get(key), str) and data[key]:
            path = Path(data[key]).expanduser()
            data[key] = str(path if path.is_absolute() else root / path)
    if dub and isinstance(data.get("script"), str) and "line" not in data and Path(data["script"]).is_file():
        from cinedub.script import read_script

        try:
            data["line"] = " ".join(line.text for line in read_script(data["script"]))
        except CinedubError as err:
            raise ValueError(f"script: {err}") from None
    try:
        parsed = EvalRow.model_validate({**data, "row": row})
    except ValidationError as err:
        raise ValueError(_first_error(err)) from None
    need = ("video",) if dub else ("audio", "window")
    for key in need:
        if getattr(parsed, key) is None:
            why = " (eval --dub needs a video to dub)" if key == "video" else ""
            raise ValueError(f"missing field {key!r}{why}")
    for key in PATH_FIELDS:
        value = getattr(parsed, key)
        if value is not None and not Path(value).is_file():
            raise ValueError(f"{key}: no such file: {value}")
    return parsed


def read_manifest(path: str | Path, *, dub: bool = False) -> tuple[list[EvalRow], list[RowError]]:
    """Every row of a JSONL manifest: the valid ones, and the broken ones with their reasons.

    Raises CinedubError only when the manifest itself can't be used (missing, empty)."""
    path = Path(path)
    if not path.is_file():
        raise CinedubError(f"no such manifest: {path}")
    rows: list[EvalRow] = []
    errors: list[RowError] = []
    seen: set[str] = set()
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise CinedubError(f"{path} is not UTF-8 text (a JSONL manifest, one JSON object per line)") from None
    for number, raw in enumerate(text.splitlines(), start=1):
        if not raw.strip() or raw.lstrip().startswith("#"):
            continue
        row_id = f"row{number}"
        try:
            data = json.loads(raw)
            if isinstance(data, dict) and data.get("id") is not None:
                row_id = str(data["id"])
            parsed = parse_row(data, row=number, root=path.parent, dub=dub)
            if parsed.id in seen:
                raise ValueError(f"duplicate id {parsed.id!r}")
        except json.JSONDecodeError as err:
            errors.append(RowError(row=number, id=row_id, error=f"not JSON: {err.msg} at column {err.colno}"))
            continue
        except ValueError as err:
            errors.append(RowError(row=number, id=row_id, error=str(err)))
            continue
        seen.add(parsed.id)
        rows.append(parsed)
    if not rows and not errors:
        raise CinedubError(f"{path} has no rows")
    return rows, errors
