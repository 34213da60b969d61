"""Scripts with speakers, and the cast: which character says each line, and in whose voice.

`read_script` chooses the reader by the file's extension:
- `.srt`: a cue whose text starts with `[NAME]`, or with `NAME: ` where NAME is a name (`is_name`)
  written in capitals (`ANNA:`, the screenplay convention), a character of the cast, or a capitalised
  name that starts at least SPEAKER_MIN_CUES cues (`Anna:` twice). So a lone "Note: the bridge is out"
  stays text.
- `.vtt`: WebVTT; a cue's voice span `<v NAME>` names its speaker (other tags are dropped).
- `.json`, `.yaml`, `.yml`: a list of {speaker, text, start?, end?, emotion?, intensity?, note?} (or
  {"lines": [...]}); times in seconds or as SRT/WebVTT timestamps.

`read_cast` reads a TOML or YAML cast: character -> voice recording (relative to the cast file), or
character -> {voice, notes}.
"""

from __future__ import annotations

import html
import json
import re
import tomllib
from collections import Counter
from collections.abc import Iterable, Mapping
from datetime import timedelta
from pathlib import Path
from typing import Any

import srt
import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

from cinedub.errors import CinedubError
from cinedub.labels import Emotion
from cinedub.subtitles import decode_text, read_srt
from cinedub.types import CastMember, Line, Window

SCRIPT_FORMATS = (".srt", ".vtt", ".json", ".yaml", ".yml")
CAST_FORMATS = (".toml", ".yaml", ".yml")
# A speaker's name: 1-3 words, each a letter then letters, digits, ' . or -, at most this long.
SPEAKER_MAX_CHARS = 32
SPEAKER_MAX_WORDS = 3
# A capitalised `Name:` (not in capitals, not in the cast) is a speaker when it starts this many cues.
SPEAKER_MIN_CUES = 2

_WORD = re.compile(r"[^\W\d_][\w'.-]*")
_BRACKETED = re.compile(r"^\[([^\]]+)\]\s*(.*)$", re.S)
_COLON = re.compile(r"^([^\W\d_][\w'. -]*?)\s*:\s+(.+)$", re.S)  # "Name: text" (not "10:30", not "x:y")


def is_name(text: str) -> bool:
    """A short name: 1-SPEAKER_MAX_WORDS words, each starting with a capital letter."""
    words = text.split()
    return (0 < len(words) <= SPEAKER_MAX_WORDS and len(text) <= SPEAKER_MAX_CHARS
            and all(_WORD.fullmatch(w) and w[0].isupper() for w in words))  # fmt: skip


def same_character(a: str | None, b: str | None) -> bool:
    return a is not None and b is not None and a.casefold() == b.casefold()


def split_speaker(text: str, recurring: set[str] = frozenset(),
                  characters: Iterable[str] = ()) -> tuple[str | None, str]:  # fmt: skip
    """(speaker, the text without it) of a cue's text by the SRT rule (see the module's docstring)."""
    text = " ".join(text.split())
    bracketed = _BRACKETED.match(text)
    if bracketed and is_name(bracketed.group(1).strip()) and bracketed.group(2).strip():
        return bracketed.group(1).strip(), bracketed.group(2).strip()
    colon = _COLON.match(text)
    if colon is None or not is_name(colon.group(1)):
        return None, text
    name = colon.group(1)
    known = any(same_character(name, c) for c in characters)
    if name.isupper() or known or name.casefold() in recurring:
        return name, colon.group(2).strip()
    return None, text


def _with_speakers(lines: list[Line], characters: Iterable[str]) -> list[Line]:
    """SRT lines with their speakers split off by the SRT rule."""
    characters = list(characters)
    starts = Counter(m.group(1).casefold() for line in lines if (m := _COLON.match(line.text)))
    recurring = {name for name, count in starts.items() if count >= SPEAKER_MIN_CUES}
    out = []
    for line in lines:
        speaker, text = split_speaker(line.text, recurring, characters)
        out.append(line.model_copy(update={"speaker": speaker, "text": text}) if speaker else line)
    return out


# -- WebVTT ------------------------------------------------------------------------------------

_VTT_TIME = r"(?:(\d+):)?([0-5]\d):([0-5]\d)\.(\d{3})"
_VTT_TIMING = re.compile(rf"^{_VTT_TIME}\s+-->\s+{_VTT_TIME}(?:\s+.*)?$")
_VOICE = re.compile(r"<v(?:\.[^\s>]+)?\s+([^>]+)>")
_TAG = re.compile(r"<[^>]*>")


def _vtt_seconds(hours: str | None, minutes: str, seconds: str, millis: str) -> float:
    return int(hours or 0) * 3600 + int(minutes) * 60 + int(seconds) + int(millis) / 1000


def read_vtt(path: str | Path) -> list[Line]:
    """The cues of a WebVTT file as lines (speaker from the first voice span), in time order. Strict: a
    cue whose timing cannot be read is an error naming it (not skipped)."""
    path = Path(path)
    text = decode_text(path).replace("\r\n", "\n").replace("\r", "\n")
    if not text.startswith("WEBVTT"):
        raise CinedubError(f"{path} is not a WebVTT file (it must start with WEBVTT)")
    lines = []
    for block in re.split(r"\n\s*\n", text)[1:]:
        rows = [row for row in block.strip("\n").split("\n")]
        if not rows or not rows[0].strip() or rows[0].startswith(("NOTE", "STYLE", "REGION")):
            continue
        timing_row = next((i for i, row in enumerate(rows[:2]) if "-->" in row), None)
        if timing_row is None:
            raise CinedubError(f"{path}: the cue {rows[0].strip()[:40]!r} has no timing line (START --> END)")
        timing = _VTT_TIMING.match(rows[timing_row].strip())
        if timing is None:
            raise CinedubError(f"{path}: malformed cue time {rows[timing_row].strip()!r} "
                               "(HH:MM:SS.mmm --> HH:MM:SS.mmm)")  # fmt: skip
        payload = " ".join(rows[timing_row + 1 :])
        voice = _VOICE.search(payload)
        words = " ".join(html.unescape(_TAG.sub("", payload)).split())
        if not words:
            continue
        start, end = _vtt_seconds(*timing.groups()[:4]), _vtt_seconds(*timing.groups()[4:])
        lines.append(_line(path, len(lines) + 1, text=words, start=start, end=end,
                           speaker=voice.group(1).strip() if voice else None))  # fmt: skip
    return sorted(lines, key=lambda line: line.window.start)


# -- JSON / YAML -------------------------------------------------------------------------------


class ScriptEntry(BaseModel):
    """One line of a JSON/YAML script as written."""

    model_config = ConfigDict(extra="forbid")

    text: str
    speaker: str | None = None
    start: float | str | None = None
    end: float | str | None = None
    emotion: Emotion | None = None
    intensity: float | None = None
    note: str | None = None
    language: str | None = None  # ISO 639-1; English when not given


def _seconds(value: float | str | None, what: str, where: str) -> float | None:
    """Seconds from a number or an SRT/WebVTT timestamp ("00:00:01,500", "00:01.500")."""
    if value is None or isinstance(value, int | float):
        return value
    stamp = value.strip()
    vtt = re.fullmatch(_VTT_TIME, stamp)
    if vtt:
        return _vtt_seconds(*vtt.groups())
    try:
        return srt.srt_timestamp_to_timedelta(stamp) / timedelta(seconds=1)
    except ValueError:
        raise CinedubError(f"{where}: malformed {what} time {value!r} (seconds, or HH:MM:SS,mmm)") from None


def _line(path: Path, number: int, *, start: float | None = None, end: float | None = None,
          **fields: Any) -> Line:  # fmt: skip
    """A Line from a script's fields, or a one-line error naming the script's line."""
    where = f"{path}: line {number}"
    if (start is None) != (end is None):
        raise CinedubError(f"{where}: give both start and end, or neither")
    try:
        window = Window(start=start, end=end) if start is not None else None
        return Line(window=window, **fields)
    except ValidationError as err:
        first = err.errors()[0]
        field = ".".join(str(p) for p in first["loc"])
        why = first["msg"].removeprefix("Value error, ")
        raise CinedubError(f"{where}: {field + ': ' if field else ''}{why}") from None


def read_structured(path: str | Path) -> list[Line]:
    """The lines of a JSON or YAML script."""
    path = Path(path)
    text = decode_text(path)
    try:
        data = json.loads(text) if path.suffix.lower() == ".json" else yaml.safe_load(text)
    except (json.JSONDecodeError, yaml.YAMLError) as err:
        why = " ".join(str(err).split())
        raise CinedubError(f"{path} is not valid {path.suffix[1:].upper()}: {why}") from None
    if isinstance(data, dict) and set(data) == {"lines"}:
        data = data["lines"]
    if data is None:
        data = []
    if not isinstance(data, list):
        raise CinedubError(f"{path}: a script is a list of lines ({{speaker, text, start, end, ...}})")
    lines = []
    for number, item in enumerate(data, 1):
        where = f"{path}: line {number}"
        if not isinstance(item, dict):
            raise CinedubError(f"{where}: a line is a mapping with at least `text`, got {item!r}")
        try:
            entry = ScriptEntry.model_validate(item)
        except ValidationError as err:
            first = err.errors()[0]
            raise CinedubError(f"{where}: {'.'.join(str(p) for p in first['loc'])}: {first['msg']}") from None
        fields = entry.model_dump(exclude={"start", "end"} | ({"language"} if entry.language is None else set()))
        lines.append(_line(path, number, start=_seconds(entry.start, "start", where),
                           end=_seconds(entry.end, "end", where), **fields))  # fmt: skip
    return lines


def read_script(path: str | Path, characters: Iterable[str] = ()) -> list[Line]:
    """The lines of a script, the reader chosen by its extension (SCRIPT_FORMATS); `characters` (the
    cast's names) count as speakers in an SRT. A script with no lines is an error."""
    path = Path(path)
    if not path.is_file():
        raise CinedubError(f"no such file: {path}")
    kind = path.suffix.lower()
    if kind == ".srt":
        lines = _with_speakers(read_srt(path), characters)
    elif kind == ".vtt":
        lines = read_vtt(path)
    elif kind in (".json", ".yaml", ".yml"):
        lines = read_structured(path)
    else:
        raise CinedubError(f"{path}: unknown script format {kind or '(no extension)'!r}; "
                           f"use one of {', '.join(SCRIPT_FORMATS)}")  # fmt: skip
    if not lines:
        raise CinedubError(f"{path} has no lines")
    return lines


# -- the cast ----------------------------------------------------------------------------------


def read_cast(path: str | Path, uploaded: Mapping[str, Path] | None = None) -> dict[str, CastMember]:
    """The cast: character -> CastMember (voice an absolute path). Each voice is checked to exist; whether
    it is a usable recording is checked with the other inputs (`check_cast`). `uploaded` (file name ->
    recording: the studio's uploads) resolves each voice by its file name alone, never by its path."""
    path = Path(path)
    if not path.is_file():
        raise CinedubError(f"no such cast file: {path}")
    kind = path.suffix.lower()
    text = decode_text(path)
    try:
        if kind == ".toml":
            data = tomllib.loads(text)
        elif kind in (".yaml", ".yml"):
            data = yaml.safe_load(text)
        else:
            raise CinedubError(f"{path}: a cast is TOML or YAML ({', '.join(CAST_FORMATS)}), "
                               f"not {kind or 'no extension'!r}")  # fmt: skip
    except (tomllib.TOMLDecodeError, yaml.YAMLError) as err:
        raise CinedubError(f"{path} is not valid {kind[1:].upper()}: {' '.join(str(err).split())}") from None
    if not isinstance(data, dict) or not data:
        raise CinedubError(f"{path}: a cast maps each character to a voice recording (Anna = \"anna.wav\")")
    cast: dict[str, CastMember] = {}
    for name, entry in data.items():
        name = " ".join(str(name).split())
        if isinstance(entry, str):
            entry = {"voice": entry}
        usable = isinstance(entry, dict) and isinstance(entry.get("voice"), str)
        if not usable or set(entry) - {"voice", "notes"}:
            raise CinedubError(f"{path}: {name}: give a voice recording, e.g. voice = \"{name.lower()}.wav\" "
                               "(and optionally notes = \"older, tired\")")  # fmt: skip
        if uploaded is not None:
            voice = uploaded.get(Path(entry["voice"]).name)
            if voice is None:
                raise CinedubError(f"cast {path.name}: {name}'s voice {entry['voice']} is missing: upload "
                                   f"{Path(entry['voice']).name} with the cast file")  # fmt: skip
            voice = Path(voice).resolve()
        else:
            voice = (path.parent / entry["voice"]).resolve()
        if not voice.is_file():
            raise CinedubError(f"cast {path.name}: {name}'s voice {entry['voice']} is missing ({voice})")
        if any(same_character(name, other) for other in cast):
            raise CinedubError(f"{path}: {name} is in the cast twice")
        cast[name] = CastMember(name=name, voice=str(voice), notes=entry.get("notes"))
    return cast


def cast_member(cast: dict[str, CastMember], speaker: str | None) -> CastMember | None:
    """The cast member who plays `speaker` (names compared without case), or None."""
    return next((member for name, member in cast.items() if same_character(name, speaker)), None)
