"""What a director run is configured with: its backends and limits (LangGraph runtime context)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from cinedub.agents.reasoners import Reasoner
from cinedub.speech.actor import Actor


@dataclass
class DirectorContext:
    reasoner: Reasoner
    actor: Actor
    library: Any | None = None  # the reference library; None: no retrieval
    perception_fps: float = 10.0
    # A take whose speech misses its window by more than this goes back to the actor once more.
    duration_tolerance_s: float = 0.040
    max_auto_retakes: int = 2
