"""How a take is worded to the director, the same on the command line (`cinedub takes`, a dub's summary) and
in the studio's status line."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # (the record's model is not needed to word one: the command line starts without it)
    from cinedub.types import TakeRecord


def rendered_lines(take: TakeRecord) -> str:
    """Which lines the take's actor rendered anew (the others were kept from the take before)."""
    if not take.lines:
        return "-"  # a take made before takes kept their lines
    if len(take.rerendered) == len(take.lines):
        return "all lines" if len(take.lines) > 1 else "line 1"
    if not take.rerendered:
        return "no line (all kept)"
    return ("line " if len(take.rerendered) == 1 else "lines ") + ", ".join(map(str, take.rerendered))
