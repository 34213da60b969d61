"""Perception kept by the clip's content: a clip watched once (at a frame rate and size) is not decoded
again, in this session or another, while its bytes are the same.

Entries are JSON files under a folder (by default $CINEDUB_HOME/perception), named by the SHA-256 of the
clip's bytes, the sampling and `CACHE_VERSION`; each is written atomically. The line's text emotion is
not cached (a clip is dubbed with different lines): it is measured for each call. A cache that cannot be
read or written is only a miss: perception runs, and the result is still returned.
"""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path

from pydantic import ValidationError

from cinedub import config
from cinedub.agents.perception import DEFAULT_FPS, DEFAULT_MAX_SIDE, perceive
from cinedub.agents.perception.text import text_emotion
from cinedub.files import write_json
from cinedub.types import Perception

log = logging.getLogger(__name__)

# Bump when what perception measures changes: older entries are then misses.
CACHE_VERSION = 1
HASH_CHUNK_BYTES = 1 << 20


def clip_hash(clip: str | Path) -> str:
    """SHA-256 of the clip file's bytes (hex), read in chunks (memory does not grow with the clip)."""
    digest = hashlib.sha256()
    with open(clip, "rb") as handle:
        while chunk := handle.read(HASH_CHUNK_BYTES):
            digest.update(chunk)
    return digest.hexdigest()


def default_folder() -> Path:
    return config.home() / "perception"


def perceive_cached(clip: str | Path, line: str | None = None, *, fps: float = DEFAULT_FPS,
                    max_side: int = DEFAULT_MAX_SIDE, folder: Path | None = None) -> Perception:  # fmt: skip
    """`perceive(clip, line, fps=fps, max_side=max_side)`, the picture part from the cache when this clip's
    bytes were perceived at this sampling before."""
    folder = Path(folder) if folder is not None else default_folder()
    entry = folder / f"{clip_hash(clip)}-{fps:g}fps-{max_side}px-v{CACHE_VERSION}.json"
    perception = None
    try:
        perception = Perception.model_validate_json(entry.read_text())
    except FileNotFoundError:
        pass
    except (OSError, ValidationError, ValueError) as err:
        log.warning("unreadable perception cache entry %s (%s): perceiving again", entry, err)
    if perception is None:
        perception = perceive(clip, None, fps=fps, max_side=max_side)
        try:
            folder.mkdir(parents=True, exist_ok=True)
            write_json(entry, perception.model_dump(mode="json"))
        except OSError as err:
            log.warning("cannot keep the perception of %s in %s: %s", clip, folder, err)
    return perception.model_copy(update={"text": text_emotion(line) if line else None})
