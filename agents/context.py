"""What a director run is configured with: its backends and limits (LangGraph runtime context)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from cinedub.agents.models import load_model
from cinedub.agents.reasoners import Reasoner, load_reasoner
from cinedub.agents.vlm import ChatModel
from cinedub.speech.actor import Actor


@dataclass
class DirectorContext:
    reasoner: Reasoner
    actor: Actor
    # The director's chat model (models.load_model), None for rules: the reasoner asks it, and the note
    # interpreter and the library's scene describer use the same one.
    model: ChatModel | None = None
    library: Any | None = None  # the reference library; None: no retrieval
    perception_fps: float = 10.0
    # A take whose speech misses its window by more than this goes back to the actor once more.
    duration_tolerance_s: float = 0.040
    max_auto_retakes: int = 2

    @classmethod
    def for_reasoner(cls, reasoner: str | Reasoner, *, ground: bool = False,
                     **fields: Any) -> DirectorContext:  # fmt: skip
        """The context of a reasoner spec (its model loaded once, `load_model`) or of a reasoner object
        (its own model)."""
        if isinstance(reasoner, str):
            model = load_model(reasoner)
            return cls(reasoner=load_reasoner(reasoner, ground=ground, model=model), model=model, **fields)
        return cls(reasoner=reasoner, model=reasoner.model, **fields)
