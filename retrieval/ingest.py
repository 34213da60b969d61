"""Reading reference clips into the library: DeepDubber's folder layout or a JSONL manifest.

Clips are measured in worker processes or on a Ray cluster (cinedub.batch) and stored by the driver.
Ingesting is resumable and idempotent: a clip counts as ingested once its audio vector is stored,
which is written last, so a clip that was interrupted half-way is simply redone (every write is an
upsert by clip id), and ingesting the same clips again adds nothing. A clip that fails (unreadable
media, no speech ...) is logged and skipped; the next build tries it again.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from tqdm import tqdm

from cinedub.errors import CinedubError
from cinedub.labels import EMOTIONS

if TYPE_CHECKING:
    from .library import ReferenceLibrary

log = logging.getLogger("cinedub.retrieval")

VIDEO_SUFFIXES = (".mp4", ".mov", ".mkv", ".avi", ".webm")
AUDIO_SUFFIXES = (".wav", ".mp3", ".flac", ".m4a", ".ogg")
# The manifest keys a row may use for each field (DeepDubber-style and cinedub's own).
MANIFEST_KEYS = {"video": ("video", "video_path"), "audio": ("audio", "audio_path", "wav"),
                 "text": ("text", "line", "transcript"), "speaker": ("speaker", "speaker_id"),
                 "emotion": ("emotion",), "id": ("id", "clip_id")}  # fmt: skip


@dataclass(frozen=True)
class ClipSource:
    """One reference clip to ingest: its media, its words and what is known about it."""

    clip_id: str
    audio: Path | None  # the speech; None: the video's own soundtrack
    video: Path | None  # the picture; None: an audio-only reference (no scene / face vector)
    text: str = ""
    speaker: str = ""
    emotion: str = ""  # a label from the dataset, "" when unknown
    movie: str = ""


@dataclass
class IngestReport:
    """What a build did."""

    added: list[str] = field(default_factory=list)
    skipped: int = 0  # already in the library
    failed: list[tuple[str, str]] = field(default_factory=list)  # (clip id, why)
    seconds: float = 0.0

    def summary(self) -> str:
        return (f"added {len(self.added)}, already there {self.skipped}, failed {len(self.failed)} "
                f"[{self.seconds:.1f} s]")  # fmt: skip


def read_folder(root: str | Path) -> list[ClipSource]:
    """Clips laid out as ROOT/MOVIE/CLIP.{mp4, wav|mp3, txt}: one clip per stem with a video or audio."""
    root = Path(root)
    if not root.is_dir():
        raise CinedubError(f"no such folder: {root}")
    stems: dict[Path, dict[str, Path]] = {}
    for path in sorted(root.rglob("*")):
        suffix = path.suffix.lower()
        if path.is_file() and (suffix in VIDEO_SUFFIXES or suffix in AUDIO_SUFFIXES or suffix == ".txt"):
            kind = "video" if suffix in VIDEO_SUFFIXES else "audio" if suffix in AUDIO_SUFFIXES else "text"
            stems.setdefault(path.with_suffix(""), {}).setdefault(kind, path)
    sources = []
    for stem, files in stems.items():
        if "video" not in files and "audio" not in files:
            continue
        relative = stem.relative_to(root)
        text = files["text"].read_text(encoding="utf-8", errors="replace").strip() if "text" in files else ""
        sources.append(ClipSource(clip_id=relative.as_posix(), audio=files.get("audio"), video=files.get("video"),
                                  text=text, movie=relative.parent.as_posix() if relative.parent != Path(".") else ""))  # fmt: skip
    if not sources:
        raise CinedubError(f"{root} has no clips (MOVIE/CLIP.mp4 with CLIP.wav|mp3 and CLIP.txt)")
    return sources


def _field(row: dict, name: str) -> str:
    return next((str(row[key]) for key in MANIFEST_KEYS[name] if row.get(key) not in (None, "")), "")


def read_manifest(path: str | Path) -> list[ClipSource]:
    """Clips from a JSONL manifest: one object per line with video and/or audio (paths relative to the
    manifest's folder), text, speaker, emotion, and optionally id and movie."""
    path = Path(path)
    if not path.is_file():
        raise CinedubError(f"no such manifest: {path}")
    sources, seen = [], set()
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            raise CinedubError(f"{path} line {number} is not JSON") from None
        if not isinstance(row, dict):
            raise CinedubError(f"{path} line {number} is not a JSON object")
        video, audio = _field(row, "video"), _field(row, "audio")
        if not video and not audio:
            raise CinedubError(f"{path} line {number} names neither a video nor an audio file")
        emotion = _field(row, "emotion").lower()
        if emotion and emotion not in EMOTIONS:
            raise CinedubError(f"{path} line {number}: emotion {emotion!r} is not one of {', '.join(EMOTIONS)}")
        clip_id = _field(row, "id") or Path(video or audio).with_suffix("").as_posix()
        if clip_id in seen:
            raise CinedubError(f"{path} line {number}: clip id {clip_id!r} appears twice")
        seen.add(clip_id)
        sources.append(ClipSource(
            clip_id=clip_id, audio=path.parent / audio if audio else None, video=path.parent / video if video else None,
            text=_field(row, "text"), speaker=_field(row, "speaker"), emotion=emotion, movie=str(row.get("movie", "")),
        ))  # fmt: skip
    if not sources:
        raise CinedubError(f"{path} has no rows")
    return sources


@dataclass(frozen=True)
class _MeasureClip:
    """The batch work (cinedub.batch): a clip's features, in a worker; the library stores them."""

    def setup(self) -> None:
        return None

    def run(self, state: None, source: ClipSource):
        from .library import clip_features

        return clip_features(source)


def ingest(library: ReferenceLibrary, sources: Iterable[ClipSource], *, progress: bool = True, workers: int = 1,
           ray_address: str | None = None) -> IngestReport:  # fmt: skip
    """Add the clips the library lacks: their features measured in `workers` processes (1: here) or on
    the Ray cluster at `ray_address`, each clip stored by this process as soon as it is measured."""
    from cinedub.batch import Failed, run_batch

    start = time.perf_counter()
    sources = list(sources)
    report = IngestReport()
    done = library.store.existing_ids("audio", [s.clip_id for s in sources])
    todo = {s.clip_id: s for s in sources if s.clip_id not in done}
    report.skipped = len(sources) - len(todo)
    results = run_batch(_MeasureClip(), list(todo.items()), workers=max(1, min(workers, len(todo))),
                        ray_address=ray_address)  # fmt: skip
    try:
        for clip_id, measured in tqdm(results, total=len(todo), desc="ingest", unit="clip", disable=not progress):
            try:
                if isinstance(measured, Failed):
                    raise CinedubError(measured.reason)
                library.store_clip(todo[clip_id], measured)
            except Exception as err:  # any clip's failure is that clip's alone
                message = str(err) if isinstance(err, CinedubError) else f"{err.__class__.__name__}: {err}"
                log.warning("skipped clip %s: %s", clip_id, message)
                report.failed.append((clip_id, message))
                continue
            report.added.append(clip_id)
    finally:
        results.close()
    if report.added:
        library.refresh_statistics()
    report.seconds = time.perf_counter() - start
    return report
