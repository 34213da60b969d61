"""What is learned from a reference recording (its profile, its words, its voice maps, the reader that plays
it), kept: by the recording's content, in memory for every actor of the process (ContentCache; each studio
session or evaluation run makes a new actor) and on disk under $CINEDUB_HOME/voices for the next run
(OnDisk): a CLI run with a voice used before starts its first take without learning any of it again."""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Generic, TypeVar

import numpy as np

from cinedub import config
from cinedub.files import atomic_path

Value = TypeVar("Value")
KEPT_FOLDER = "voices"  # under $CINEDUB_HOME


def content_key(audio: np.ndarray, sample_rate: int) -> str:
    """Content hash of a recording: what is learned from a reference is kept under it across takes."""
    digest = hashlib.sha1(np.ascontiguousarray(audio, np.float32).tobytes())
    digest.update(str(sample_rate).encode())
    return digest.hexdigest()


@dataclass(frozen=True)
class OnDisk(Generic[Value]):
    """How a ContentCache keeps its values on disk: the value of `key` in the file kept_path(f"{key}-{suffix}")
    (the suffix says what it is and its version), read with `load`, written atomically with `save`."""

    suffix: str
    load: Callable[[Path], Value]
    save: Callable[[Value, Path], None]


class ContentCache(Generic[Value]):
    """Values by key (a content key or a name made from one; a file's identity for loaded voices), the `size`
    most recently used kept; with `on_disk`, also kept under $CINEDUB_HOME/voices for the next process
    (stored_or_made). Thread-safe; a value is made outside the lock (making one takes seconds), so two threads
    asking for the same new key at once both make it and the first is kept."""

    def __init__(self, *, size: int, on_disk: OnDisk[Value] | None = None):
        self.size = size
        self.on_disk = on_disk
        self._values: OrderedDict[str, Value] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: str, make: Callable[[], Value]) -> Value:
        with self._lock:
            if key in self._values:
                self._values.move_to_end(key)
                return self._values[key]
        if self.on_disk is None:
            value = make()
        else:
            disk = self.on_disk
            # (None, which stored_or_made keeps as an empty file, is only ever what `make` gave)
            value = stored_or_made(kept_path(f"{key}-{disk.suffix}"), make, load=disk.load, save=disk.save)  # type: ignore[assignment]
        with self._lock:
            value = self._values.setdefault(key, value)
            self._values.move_to_end(key)
            while len(self._values) > self.size:
                self._values.popitem(last=False)
        return value

    def clear(self) -> None:
        """Forget what is in memory (what is on disk stays): as a new process would start."""
        with self._lock:
            self._values.clear()


def kept_path(name: str) -> Path:
    """Where what is learned under `name` (a content key, what it is, its version) is kept on disk."""
    return config.home() / KEPT_FOLDER / name


def stored_or_made(
    path: Path, make: Callable[[], Value | None], *, load: Callable[[Path], Value], save: Callable[[Value, Path], None]
) -> Value | None:
    """The value stored at `path` (`load`), else `make()`d and stored there (`save`, which writes atomically).
    None, what a reference that can't be learned from gives, is stored as an empty file and remembered too.
    The disk is a cache: a file that can't be read is made again, a folder that can't be written only costs
    the next run the making."""
    try:
        return None if path.stat().st_size == 0 else load(path)
    except (OSError, ValueError, KeyError, TypeError):  # not there yet, or unreadable (another version's)
        pass
    made = make()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        if made is None:
            with atomic_path(path):
                pass
        else:
            save(made, path)
    except OSError:
        pass
    return made
