"""Which English reader plays a reference voice (reader.py: Piper joe, Festival's slt): each installed
reader performs the same held-out lines in the voice (the whole parametric chain: the long-term match and
the voice map learned for that reader), the speaker encoder (resemblyzer GE2E, cinedub.speaker_encoder)
compares each performance with the reference's speech, and the nearer one plays every take of that voice.
Chosen once per reference, kept in memory and under $CINEDUB_HOME/voice_maps.

Pitch alone does not choose well: of issue 17's six voices, two men (~99 Hz and ~119 Hz) sound more like
themselves played by slt, a woman, than by joe, a man nearer their pitch, while a third man (the LibriVox
reader, ~99 Hz) is better played by joe (bench/voice_identity_bench.py). The encoder that chooses is the
one cinedub's evaluation measures with; the audition lines are not the takes' lines, but the choice favours
what that encoder hears, which the closing note of issue 17 says next to the numbers. Without the encoder
(the eval extra not installed) the reader nearest in pitch plays (reader.choose_reader).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from cinedub import config
from cinedub.files import write_json

from .timbre import ContentCache

# Harvard sentences (list 1): phonetically balanced, none of the calibration's words (timbre.py), ~10 s.
AUDITION_TEXT = ("The birch canoe slid on the smooth planks. Glue the sheet to the dark blue background. "
                 "It is easy to tell the depth of a well. These days a chicken leg is a rare dish.")  # fmt: skip
AUDITION_VERSION = 1
AUDITION_MEMORY_SIZE = 16


@dataclass(frozen=True)
class Audition:
    """The reader chosen for a reference voice, and how near each reader's performance came to it."""

    reader: str
    similarity: dict[str, float]  # reader -> speaker-encoder cosine x100 of its performance to the reference

    def to_dict(self) -> dict[str, object]:
        return {"reader": self.reader, "similarity": {r: round(s, 1) for r, s in self.similarity.items()}}


def audition(readers: tuple[str, ...], perform: Callable[[str], np.ndarray], reference: np.ndarray,
             sample_rate: int) -> Audition:  # fmt: skip
    """The reader among `readers` whose `perform(reader)` (float audio at `sample_rate`) the speaker encoder
    hears nearest `reference` (the voice's speech, at `sample_rate`). A CinedubError without the encoder."""
    from cinedub.speaker_encoder import speaker_embedding

    target = speaker_embedding(reference, sample_rate)
    similarity = {reader: float(100.0 * np.dot(speaker_embedding(perform(reader), sample_rate), target))
                  for reader in readers}  # fmt: skip
    return Audition(reader=max(similarity, key=similarity.__getitem__), similarity=similarity)


# auditions by reference content key, in memory (and on disk, see cached_audition)
memory: ContentCache[Audition] = ContentCache(size=AUDITION_MEMORY_SIZE)


def _stored_or_held(path: Path, hold: Callable[[], Audition]) -> Audition:
    try:
        return Audition(**json.loads(path.read_text()))
    except (OSError, ValueError, TypeError):  # not there yet, or unreadable: audition again
        pass
    found = hold()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_json(path, asdict(found))
    except OSError:  # the disk is a cache: the next run auditions again
        pass
    return found


def cached_audition(key: str, readers: tuple[str, ...], hold: Callable[[], Audition]) -> Audition:
    """The audition of the reference with content key `key` among `readers`: from memory, else from
    $CINEDUB_HOME/voice_maps, else `hold()` and kept in both."""
    name = f"{key}-audition-{'+'.join(reader.replace(' ', '-') for reader in readers)}"
    path = config.home() / "voice_maps" / f"{name}-v{AUDITION_VERSION}.json"
    return memory.get(name, lambda: _stored_or_held(path, hold))
