"""A draft script from a clip's own dialogue: who speaks when (cinedub.diarize's turns), one line per turn,
and the words where the packaged English Whisper can read them; written as the YAML script
cinedub/script.py reads, for the director to edit and feed back.

A speaker's turns split by a breath or a short pause are one line (JOIN_GAP_S), up to a subtitle's length
(MAX_LINE_S). Speakers keep the diarization's names (S1, S2, ... in order of first speech); a speaker
linked to a face (agents/speakers.link_speakers) is noted at the top of the file, so the director knows
whom to rename.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import yaml

from cinedub.diarize import Turn, diarize, nearest_turn
from cinedub.errors import CinedubError
from cinedub.files import atomic_path, ensure_writable_dir

# One speaker's turns this close together (s) are one line: a breath or a beat inside a sentence. Turn-taking
# gaps between two people are usually 0.2-0.5 s, so a gap only joins turns of the same speaker.
JOIN_GAP_S = 0.8
# A line grows no longer than this (s): a subtitle's longest (Netflix's timed-text guide: 7 s), with room
# for the speaker's last word.
MAX_LINE_S = 8.0
# The text of a line whose words no packaged model can read (a language other than English).
PLACEHOLDER = "(words to write)"


@dataclass(frozen=True)
class DraftLine:
    """One line of the draft: where it is said, by whom, its words (None: to be written)."""

    start: float
    end: float
    speaker: str
    text: str | None = None
    face: int | None = None  # the track id of the speaker's face, when linked


def join_turns(turns: Sequence[Turn]) -> list[Turn]:
    """Consecutive turns of one speaker, JOIN_GAP_S or less apart, joined while the line stays within
    MAX_LINE_S."""
    joined: list[Turn] = []
    for turn in turns:
        last = joined[-1] if joined else None
        if (last is not None and last.speaker == turn.speaker and turn.start - last.end <= JOIN_GAP_S
                and turn.end - last.start <= MAX_LINE_S):  # fmt: skip
            joined[-1] = Turn(start=last.start, end=turn.end, speaker=turn.speaker)
        else:
            joined.append(turn)
    return joined


def draft_lines(audio: np.ndarray, sample_rate: int, *, speech: list[tuple[float, float]] | None = None,
                num_speakers: int | None = None, english: bool = False,
                faces: dict[str, int | None] | None = None, turns: Sequence[Turn] | None = None,
                ) -> list[DraftLine]:  # fmt: skip
    """The draft lines of a clip's dialogue (mono float `audio`, best the dialogue stem).

    `speech`, `num_speakers`: as for diarize (the speech spans already found; the number of faces seen
    talking). `english`: the dialogue is English, so the packaged Whisper tiny.en writes the words (each
    word goes to the line its middle falls in); otherwise each line's text is None. `faces`: speaker ->
    track id from link_speakers. `turns`: the diarization already made (then `speech` and `num_speakers`
    are not used)."""
    if turns is None:
        turns = diarize(audio, sample_rate, num_speakers=num_speakers, speech=speech)
    lines = join_turns(turns)
    if not lines:
        return []
    texts: list[list[str]] = [[] for _ in lines]
    if english:
        from cinedub.asr import transcribe_words

        for word in transcribe_words(audio, sample_rate):
            # the line the word's middle is in, else the nearest (Whisper's times can fall in a pause)
            texts[nearest_turn(lines, 0.5 * (word.start + word.end))].append(word.text)
    faces = faces or {}
    return [DraftLine(start=line.start, end=line.end, speaker=line.speaker, text=" ".join(words) or None,
                      face=faces.get(line.speaker))
            for line, words in zip(lines, texts)]  # fmt: skip


def write_draft(path: str | Path, lines: Sequence[DraftLine], *, clip: str | Path | None = None) -> Path:
    """Write the draft as a YAML script (a list of {speaker, text, start, end}), atomically; a line with
    no words gets PLACEHOLDER. The header says where it came from and which face each speaker is."""
    path = Path(path)
    if not lines:
        raise CinedubError(f"no draft to write to {path}: the clip has no dialogue")
    ensure_writable_dir(path.parent, "the draft's folder")
    source = f" of {Path(clip).name}" if clip else ""
    header = [f"# cinedub draft script{source}: edit the speakers' names and the words, then give it back "
              "with --script."]  # fmt: skip
    linked = any(line.face is not None for line in lines)  # (no faces known: nothing to say of them)
    for speaker, face in dict.fromkeys((line.speaker, line.face) for line in lines) if linked else ():
        header.append(f"# {speaker}: " + ("a voice off screen (no face moves with it)" if face is None
                                          else f"the face of track {face}"))  # fmt: skip
    entries = [{"speaker": line.speaker, "text": line.text or PLACEHOLDER, "start": round(line.start, 3),
                "end": round(line.end, 3)} for line in lines]  # fmt: skip
    body = yaml.safe_dump(entries, sort_keys=False, allow_unicode=True, width=110)
    with atomic_path(path) as tmp:
        tmp.write_text("\n".join(header) + "\n" + body, encoding="utf-8")
    return path
