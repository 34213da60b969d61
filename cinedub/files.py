"""Atomic file output: a crash never leaves a half-written take, report or video behind."""

from __future__ import annotations

import contextlib
import errno
import json
import os
import sqlite3
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from cinedub.errors import CinedubError

# mkstemp makes files private (0600); outputs get the permissions any new file would (0666 less umask).
_UMASK = os.umask(0)
os.umask(_UMASK)
FILE_MODE = 0o666 & ~_UMASK


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path beside `path`; on success it replaces `path` in one rename."""
    path = Path(path)
    # Keep the real suffix last so tools that infer the format from it (ffmpeg, soundfile) still work.
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=f".part{path.suffix}", dir=path.parent)
    os.fchmod(fd, FILE_MODE)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.replace(tmp_path, path)
    finally:
        tmp_path.unlink(missing_ok=True)


def write_json(path: str | os.PathLike[str], data: Any) -> None:
    """Write `data` as indented JSON, atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(data, indent=2, ensure_ascii=False, default=str) + "\n")


def ensure_writable_dir(path: str | os.PathLike[str], what: str = "output folder") -> Path:
    """Create `path` if needed and check files can be written into it (`what` names it in the error)."""
    path = Path(path)
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path, prefix=".probe-"):
            pass
    except OSError as err:
        raise CinedubError(f"cannot write to {what} {path}: {err.strerror or err}") from None
    return path


def inside(root: str | os.PathLike[str], path: str | os.PathLike[str], what: str = "") -> Path:
    """`path` resolved (links followed), if it lies inside `root`; else a CinedubError. Every file
    cinedub writes under its home or an output folder is checked this way before it is opened."""
    resolved = Path(path).resolve()
    if not resolved.is_relative_to(Path(root).resolve()):
        raise CinedubError(f"refused {what or path}: it is not in {root}")
    return resolved


# OSError numbers that mean the storage, not cinedub, refused the write.
_STORAGE_ERRNOS = {errno.ENOSPC: "no space left on the device", errno.EDQUOT: "disk quota exceeded",
                   errno.EROFS: "read-only file system", errno.EACCES: "permission denied",
                   errno.EPERM: "permission denied", errno.EIO: "input/output error"}  # fmt: skip
# sqlite's messages for the same (sqlite3.OperationalError carries no errno).
_SQLITE_STORAGE = ("database or disk is full", "attempt to write a readonly database", "disk i/o error",
                   "unable to open database file")  # fmt: skip


def storage_error(err: BaseException, where: str | os.PathLike[str] | None = None) -> CinedubError | None:
    """A one-line CinedubError for a write the storage refused (full disk, quota, read-only, I/O), from
    an OSError, sqlite or libsndfile; None for any other error. `where` names what was being written
    when the error itself does not."""
    what = None
    if isinstance(err, OSError) and err.errno in _STORAGE_ERRNOS:
        what, where = _STORAGE_ERRNOS[err.errno], err.filename or where
    elif isinstance(err, sqlite3.OperationalError) and str(err).lower() in _SQLITE_STORAGE:
        what = str(err).lower()
    else:
        try:
            from soundfile import LibsndfileError
        except ImportError:  # pragma: no cover - soundfile is a dependency
            LibsndfileError = ()  # noqa: N806
        if isinstance(err, LibsndfileError):
            what = f"the audio could not be written ({str(err).strip() or 'libsndfile error'})"
    if what is None:
        return None
    return CinedubError(f"cannot write {where}: {what}" if where else f"cannot write: {what}")
