"""Which English reader plays a reference voice (reader.py: Piper joe, Festival's slt): each installed
reader performs the same held-out lines in the voice (the whole parametric chain: the long-term match and
the voice map learned for that reader), the speaker encoder (resemblyzer GE2E, cinedub.speaker_encoder)
compares each performance with the reference's speech, and the reader nearest the voice's pitch plays every
take of it unless another is heard clearly nearer (AUDITION_MARGIN). Chosen once per reference, kept in
memory and under $CINEDUB_HOME/voices. Only a reference with a voice map is auditioned (its words
heard): without one, joe reads (ParametricActor.reader_for says why).

Pitch alone does not choose well: of issue 17's six voices, the cards speaker (a man, ~99 Hz) sounds more
like himself played by slt, a woman, than by joe, a man nearer his pitch: 76.2 against 70.0 in the audition,
81.0 against 70.7 on the test lines (bench/voice_identity_bench.py). The encoder that chooses is the one
cinedub's evaluation measures with; the audition lines are not the takes' lines, but the choice favours
what that encoder hears, which the closing note of issue 17 says next to the numbers. Without the encoder
(the eval extra not installed) the reader nearest in pitch plays.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from cinedub.files import write_json

from .learned import ContentCache, OnDisk

# Harvard sentences (list 1): phonetically balanced, none of the calibration's words (timbre.py), ~10 s.
AUDITION_TEXT = ("The birch canoe slid on the smooth planks. Glue the sheet to the dark blue background. "
                 "It is easy to tell the depth of a well. These days a chicken leg is a rare dish.")  # fmt: skip
AUDITION_VERSION = 2
# The audition overrules the reader nearest in pitch only when it hears another this much nearer (cosine
# x100): two performances of one text by readers about as far from a voice differ by the encoder's noise
# (one recording against two passages of the same man's: 86.3 and 92.7), and a near tie should not give a
# woman a man's reader.
AUDITION_MARGIN = 3.0
AUDITION_MEMORY_SIZE = 16


@dataclass(frozen=True)
class Audition:
    """The reader chosen for a reference voice, and how near each reader's performance came to it."""

    reader: str
    similarity: dict[str, float]  # reader -> speaker-encoder cosine x100 of its performance to the reference
    nearest_in_pitch: str  # the reader kept unless another is heard AUDITION_MARGIN nearer

    def save(self, path: Path) -> None:
        """The audition written atomically to `path` (JSON)."""
        write_json(path, asdict(self))

    @classmethod
    def load(cls, path: Path) -> Audition:
        return cls(**json.loads(path.read_text()))

    def to_dict(self) -> dict[str, object]:
        return {"reader": self.reader, "similarity": {r: round(s, 1) for r, s in self.similarity.items()},
                "nearest_in_pitch": self.nearest_in_pitch, "margin": AUDITION_MARGIN}  # fmt: skip


def audition(readers: tuple[str, ...], perform: Callable[[str], np.ndarray], reference: np.ndarray,
             sample_rate: int, *, nearest_in_pitch: str) -> Audition:  # fmt: skip
    """The reader among `readers` whose `perform(reader)` (float audio at `sample_rate`) the speaker encoder
    hears nearest `reference` (the voice's speech, at `sample_rate`), if by AUDITION_MARGIN more than
    `nearest_in_pitch` (one of `readers`), else that one. A CinedubError without the encoder."""
    from cinedub.speaker_encoder import speaker_embedding

    target = speaker_embedding(reference, sample_rate)
    similarity = {reader: float(100.0 * np.dot(speaker_embedding(perform(reader), sample_rate), target))
                  for reader in readers}  # fmt: skip
    best = max(similarity, key=similarity.__getitem__)
    clearly = similarity[best] >= similarity[nearest_in_pitch] + AUDITION_MARGIN
    return Audition(reader=best if clearly else nearest_in_pitch, similarity=similarity,
                    nearest_in_pitch=nearest_in_pitch)  # fmt: skip





def cached_audition(key: str, readers: tuple[str, ...], hold: Callable[[], Audition]) -> Audition:
    """The audition of the reference with content key `key` among `readers`: from memory, else from
    $CINEDUB_HOME/voices, else `hold()` and kept in both."""
    return memory.get(f"{key}-audition-{'+'.join(reader.replace(' ', '-') for reader in readers)}", hold)


# auditions by reference content key and readers, in memory and under $CINEDUB_HOME/voices (cached_audition)
memory: ContentCache[Audition] = ContentCache(
    size=AUDITION_MEMORY_SIZE, on_disk=OnDisk(f"v{AUDITION_VERSION}.json", Audition.load, Audition.save))
