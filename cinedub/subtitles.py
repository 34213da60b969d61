"""Read and write SRT with the `srt` library; a cue becomes a `Line` with its window."""

from __future__ import annotations

import codecs
from datetime import timedelta
from pathlib import Path

import srt

from cinedub.errors import CinedubError
from cinedub.files import atomic_path
from cinedub.types import Line, Window


# Byte-order marks, longest first (UTF-32 LE starts with UTF-16 LE's), and the encoding each announces.
_BOMS = ((codecs.BOM_UTF32_LE, "utf-32"), (codecs.BOM_UTF32_BE, "utf-32"), (codecs.BOM_UTF8, "utf-8-sig"),
         (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16"))  # fmt: skip


def _decode(path: Path, data: bytes) -> str:
    """The text of an SRT file: UTF-8, or the UTF-16/32 its byte-order mark announces."""
    encoding = next((name for bom, name in _BOMS if data.startswith(bom)), "utf-8")
    if encoding == "utf-8" and b"\x00" in data:
        raise CinedubError(f"{path} looks like UTF-16 text without a byte-order mark: save it as UTF-8")
    try:
        return data.decode(encoding)
    except UnicodeDecodeError as err:
        raise CinedubError(f"{path} is not {encoding.upper().replace('-SIG', '')} text (byte {err.start}): "
                           "save it as UTF-8") from None  # fmt: skip


def decode_text(path: str | Path) -> str:
    """The text of a subtitle or script file (see _decode), or a one-line error when there is none."""
    path = Path(path)
    if not path.is_file():
        raise CinedubError(f"no such file: {path}")
    return _decode(path, path.read_bytes())


def _malformed_time(text: str) -> str | None:
    """The first timing line of an SRT text whose times cannot be read, if any."""
    for row in text.splitlines():
        if "-->" in row:
            try:
                for stamp in row.split("-->"):
                    srt.srt_timestamp_to_timedelta(stamp.strip().split()[0] if stamp.strip() else "")
            except (ValueError, IndexError):
                return row.strip()
    return None


def read_srt(path: str | Path) -> list[Line]:
    """The cues of an SRT file as lines, in time order (the text as written: cinedub.script reads the
    speakers' names off it)."""
    path = Path(path)
    text = decode_text(path)
    try:
        cues = list(srt.parse(text))
    except (srt.SRTParseError, ValueError) as err:
        bad = _malformed_time(text)
        if bad is not None:
            raise CinedubError(f"{path}: malformed SRT time {bad!r} (HH:MM:SS,mmm --> HH:MM:SS,mmm)") from None
        raise CinedubError(f"{path} is not a valid SRT file: {str(err).splitlines()[0]}") from None
    lines = []
    for cue in sorted(cues, key=lambda c: c.start):
        text = " ".join(cue.content.split())
        if not text:
            continue
        try:
            window = Window(start=cue.start.total_seconds(), end=cue.end.total_seconds())
        except ValueError:
            raise CinedubError(f"{path}: cue {cue.index} ends before it starts") from None
        lines.append(Line(text=text, window=window))
    if not lines:
        raise CinedubError(f"{path} has no subtitle cues with text")
    return lines


def write_srt(path: str | Path, lines: list[Line]) -> Path:
    """Write lines that have windows as SRT, atomically."""
    cues = [
        srt.Subtitle(index=i, start=timedelta(seconds=line.window.start), end=timedelta(seconds=line.window.end), content=line.text)
        for i, line in enumerate(lines, start=1)
        if line.window is not None
    ]
    path = Path(path)
    with atomic_path(path) as tmp:
        tmp.write_text(srt.compose(cues), encoding="utf-8")
    return path
