"""A resumable batch output: one JSON record per item, each appended to FILE.partial as soon as it is known
(flushed and fsynced, so a killed run loses nothing it finished); a rerun reads FILE and FILE.partial and
does only what neither holds; at the end FILE is written whole, atomically, in input order, and the
.partial file removed. `cinedub classify --out` is its user.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import IO, Any

from cinedub.files import atomic_path, ensure_writable_dir


def read_records(path: Path) -> dict[str, dict[str, Any]]:
    """The whole JSON records of a journal or its output, by id; a torn last line (a killed run) is
    skipped."""
    records = {}
    with open(path, encoding="utf-8", errors="replace") as handle:
        for line in handle:
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(record, dict) and isinstance(record.get("id"), str):
                records[record["id"]] = record
    return records


class Journal:
    """The records of `out` and of its interrupted runs (`finished`), and the appends of this run."""

    def __init__(self, out: str | Path) -> None:
        self.out = Path(out)
        ensure_writable_dir(self.out.parent)
        self.partial = self.out.with_name(self.out.name + ".partial")
        self.finished: dict[str, dict[str, Any]] = {}
        for source in (self.out, self.partial):
            if source.is_file():
                self.finished.update(read_records(source))
        # The journal restarts from the whole records only, so a torn line is never appended to.
        with atomic_path(self.partial) as tmp:
            tmp.write_text("".join(json.dumps(r) + "\n" for r in self.finished.values()), encoding="utf-8")
        self._handle: IO[str] | None = open(self.partial, "a", encoding="utf-8")

    def append(self, record: dict[str, Any]) -> None:
        assert self._handle is not None, "the journal is closed"
        self._handle.write(json.dumps(record) + "\n")
        self._handle.flush()
        os.fsync(self._handle.fileno())

    def close(self) -> None:
        if self._handle is not None:
            self._handle.close()
            self._handle = None

    def finish(self, records: dict[str, dict[str, Any]], order: list[str]) -> None:
        """Write `out` whole: `records` in `order`, then the earlier runs' records of other ids; remove
        the .partial file."""
        self.close()
        extra = [r for clip_id, r in self.finished.items() if clip_id not in records]
        with atomic_path(self.out) as tmp:
            tmp.write_text("".join(json.dumps(records[i]) + "\n" for i in order)
                           + "".join(json.dumps(r) + "\n" for r in extra), encoding="utf-8")  # fmt: skip
        self.partial.unlink(missing_ok=True)
