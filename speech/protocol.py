"""The actor interface: what the director asks of every actor backend."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from cinedub.types import Direction, Line, Take, Voice

from .shot import Shot


@runtime_checkable
class Actor(Protocol):
    """Speaks one line in a reference voice, with the direction's emotion, timed to its window."""

    def perform(self, line: Line, direction: Direction, voice: Voice, *, shot: Shot | None = None) -> Take:
        """The take: audio exactly `direction.window.duration` long (longer only when the line cannot be
        said in it at frontend.MAX_SQUEEZE times the natural rate: `applied` then says so), with timings
        and what was applied.
        `shot` is optional context (the conclusion, the speaker's visual features); an actor may ignore it."""
        ...
