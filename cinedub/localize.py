"""Localize a clip: its dialogue transcribed, cut into lines, translated to fit each line's window, and dubbed
in the original speaker's voice over the scene's own sound (JUST-DUB-IT's framing: the speech changes language,
the speaker's identity, the lip timing and the ambience stay).

    transcribe (cinedub.asr, language detected)  ->  lines (pauses, speaker turns: `segment`)
    ->  translations that fit their windows (cinedub.translate)  ->  review table, SRT, script
    ->  the dub (Studio.dub: the director per line, the actor in the speaker's own voice)

The review table (review.csv) is where the director reads and edits the translations; given back with
`--review`, its words are dubbed as they stand and only the lines whose words changed are re-rendered
(the session's next take, Studio.dub's revision).
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import NamedTuple

import yaml

from cinedub.asr import Word
from cinedub.diarize import Turn, nearest_turn
from cinedub.errors import CinedubError
from cinedub.files import atomic_path
from cinedub.types import Line, Window

# A silence this long between two words of one speaker starts a new line (s): a breath inside a sentence
# is shorter, a new thought usually longer; and a subtitle-sized line is what a translation is fitted to.
PAUSE_SPLIT_S = 0.7
# A line grows no longer than this (s): a subtitle's longest (cinedub.draft's bound).
MAX_LINE_S = 8.0
# A sentence's end closes a line that already lasts this long (s): shorter ones ("Yes.") join the next.
MIN_SENTENCE_LINE_S = 1.0
SENTENCE_END = re.compile(r"[.!?…]+[\"»”')]*$")
# The review table's columns, in order; the director edits `translation` (the others are read back as given,
# except the reading time and fit, which are measured again from the words).
REVIEW_COLUMNS = ("line", "speaker", "start", "end", "source", "translation", "reading_s", "window_s", "fit",
                  "flag", "route")  # fmt: skip


@dataclass(frozen=True)
class SourceLine:
    """One line of the clip's own dialogue: where it is said (its words' span), by whom, and its words."""

    start: float
    end: float
    speaker: str
    text: str


@dataclass(frozen=True)
class ReviewRow:
    """One row of the review table: a line's source words and its translation, and whether it fits."""

    line: int
    speaker: str
    start: float
    end: float
    source: str
    translation: str
    reading_s: float  # the translation's natural reading time
    route: str = ""  # how it was translated ("apertium pt-es | spa-eng", "openai:...", "edited")
    flag: str | None = None  # what the director should look at (does not fit, fallback translation ...)

    @property
    def window_s(self) -> float:
        return self.end - self.start

    @property
    def fit(self) -> float:
        """Natural reading time over the window, as a translation's: 1.0 fits exactly, above 1 is too long."""
        from cinedub.translate import fit_ratio  # (imported when needed: it loads the speech front end)

        return fit_ratio(self.reading_s, self.window_s)


class LocalizeFiles(NamedTuple):
    """The files a localize writes in its session's folder (in this order, the order they are offered for
    download): the translated script as subtitles and as the YAML `cinedub dub --script` reads, and the
    review table."""

    subtitles: Path
    script: Path
    review: Path


def review_path(folder: str | Path) -> Path:
    """The review table a localize writes in `folder` (one a session, whatever the language)."""
    return Path(folder) / "review.csv"


def localize_files(folder: str | Path, language: str) -> LocalizeFiles:
    """The files a localize into `language` writes in `folder`."""
    folder = Path(folder)
    return LocalizeFiles(subtitles=folder / f"script.{language}.srt",
                         script=folder / f"script.{language}.yaml", review=review_path(folder))  # fmt: skip


def speaker_at(turns: Sequence[Turn], t: float) -> str:
    """The speaker of the turn at time `t` (the nearest turn when `t` falls in a pause)."""
    return turns[nearest_turn(turns, t)].speaker if turns else "S1"


def segment(words: Sequence[Word], turns: Sequence[Turn] = (), *, speech: Sequence[Window] = ()) -> list[SourceLine]:
    """The clip's words cut into lines: a new line where the speaker changes (`turns`, from diarization), after
    a pause of PAUSE_SPLIT_S or more, after a sentence's end once the line lasts MIN_SENTENCE_LINE_S, and
    before a line would outgrow MAX_LINE_S. A line's window is where the VAD hears its words (`speech`), else
    its words' span."""
    lines: list[list[tuple[Word, str]]] = []
    for word in words:
        speaker = speaker_at(turns, 0.5 * (word.start + word.end))
        current = lines[-1] if lines else None
        if (current is None or current[-1][1] != speaker or word.start - current[-1][0].end >= PAUSE_SPLIT_S
                or word.end - current[0][0].start > MAX_LINE_S
                or (SENTENCE_END.search(current[-1][0].text)
                    and current[-1][0].end - current[0][0].start >= MIN_SENTENCE_LINE_S)):  # fmt: skip
            lines.append([(word, speaker)])
        else:
            current.append((word, speaker))
    # Whisper's word times drift by a few hundred ms (cross-attention alignment); the VAD's spans are where the
    # mouth is heard. A line's window is the hull of the spans its words touch, kept off its neighbours' words
    # (a boundary halfway between two lines' words).
    bounds = [(group[0][0].start, group[-1][0].end) for group in lines]
    cuts = [0.5 * (bounds[i][1] + bounds[i + 1][0]) for i in range(len(bounds) - 1)]
    result = []
    for i, group in enumerate(lines):
        start, end = bounds[i]
        inside = [w for w in speech if w.end > start and w.start < end]
        if inside:
            start, end = min(start, inside[0].start), max(end, inside[-1].end)
        start = max(start, cuts[i - 1]) if i > 0 else start
        end = min(end, cuts[i]) if i < len(cuts) else end
        if inside:  # then off the silence on either side of the spans
            start, end = max(start, inside[0].start), min(end, inside[-1].end)
        if end - start <= 0:
            continue
        text = " ".join(word.text for word, _ in group)
        result.append(SourceLine(start=round(start, 3), end=round(end, 3), speaker=group[0][1], text=text))
    return result


# -- the review table ------------------------------------------------------------------------------


def write_review(path: str | Path, rows: Sequence[ReviewRow]) -> Path:
    """The review table as CSV (UTF-8, a header row), written atomically."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(REVIEW_COLUMNS)
    for row in rows:
        writer.writerow([row.line, row.speaker, f"{row.start:.3f}", f"{row.end:.3f}", row.source, row.translation,
                         f"{row.reading_s:.2f}", f"{row.window_s:.2f}", f"{row.fit:.2f}", row.flag or "",
                         row.route])  # fmt: skip
    path = Path(path)
    with atomic_path(path) as tmp:
        tmp.write_text(buffer.getvalue(), encoding="utf-8")
    return path


def read_review(path: str | Path) -> list[ReviewRow]:
    """The rows of a review table the director edited, or a one-line error naming what is wrong. The reading
    time and fit are not trusted from the file: the caller measures the words again (`refit`)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as err:
        raise CinedubError(f"cannot read the review table {path}: {getattr(err, 'strerror', None) or err}") from None
    reader = csv.DictReader(io.StringIO(text))
    missing = [c for c in ("line", "speaker", "start", "end", "translation") if c not in (reader.fieldnames or [])]
    if missing:
        raise CinedubError(f"{path}: not a review table (no {', '.join(missing)} column)")
    rows = []
    for number, record in enumerate(reader, 2):  # line 1 is the header
        where = f"{path}: row {number}"
        try:
            start, end = float(record["start"]), float(record["end"])
            line = int(record["line"])
        except (TypeError, ValueError):
            raise CinedubError(f"{where}: line, start and end must be numbers") from None
        translation = " ".join((record.get("translation") or "").split())
        if not translation:
            raise CinedubError(f"{where}: the translation is empty")
        if end <= start:
            raise CinedubError(f"{where}: the line ends ({end}) before it starts ({start})")
        rows.append(ReviewRow(line=line, speaker=record.get("speaker") or "S1", start=start, end=end,
                              source=record.get("source") or "", translation=translation, reading_s=0.0,
                              route=record.get("route") or "", flag=record.get("flag") or None))  # fmt: skip
    if not rows:
        raise CinedubError(f"{path}: the review table has no lines")
    return rows


def refit(row: ReviewRow, language: str, *, edited: bool) -> ReviewRow:
    """The row with its translation's reading time measured again and its fit flagged. `edited`: its words are
    not the ones the session last dubbed, so they are the director's ("edited", the old flags dropped); else
    its route and its other flags (a fallback, words left out) stay."""
    from cinedub.translate import fit_problem, natural_seconds

    reading_s = natural_seconds(row.translation, language)
    kept = [] if edited else [part for part in (row.flag or "").split("; ") if part and not part.startswith("too ")]
    flag = "; ".join([*kept, *filter(None, [fit_problem(reading_s, row.window_s)])]) or None
    return replace(row, reading_s=reading_s, route="edited" if edited else row.route, flag=flag)


# -- the translated script ------------------------------------------------------------------------


def script_lines(rows: Sequence[ReviewRow], language: str) -> list[Line]:
    """The lines the actor speaks: each translation in its window, by its speaker, in `language`."""
    return [Line(text=row.translation, window=Window(start=row.start, end=row.end), speaker=row.speaker,
                 language=language) for row in rows]  # fmt: skip


def write_script(path: str | Path, lines: Sequence[Line], *, clip: str | Path) -> Path:
    """The translated script as the YAML cinedub/script.py reads (`cinedub dub --script`), atomically."""
    entries = [{"speaker": line.speaker, "text": line.text, "start": round(line.window.start, 3),
                "end": round(line.window.end, 3), "language": line.language} for line in lines]  # fmt: skip
    header = f"# cinedub localize: the translated script of {Path(clip).name}; edit it and give it back with --script.\n"
    path = Path(path)
    with atomic_path(path) as tmp:
        tmp.write_text(header + yaml.safe_dump(entries, sort_keys=False, allow_unicode=True, width=110),
                       encoding="utf-8")  # fmt: skip
    return path
