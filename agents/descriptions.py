"""A VLM writes the reference library's text views of a clip: a description of its scene, and a
listener's reaction to its line (Authentic-Dubber's scene and reaction paths). The library embeds them
and compares them as text; without a model those parts are simply absent.
"""

from __future__ import annotations

from pathlib import Path

from cinedub.agents import prompts
from cinedub.agents.frames import sample_frames
from cinedub.agents.models import load_model
from cinedub.agents.vlm import ChatModel, VisionPrompt
from cinedub.errors import CinedubError

# Enough for two sentences.
MAX_NEW_TOKENS = 96


class VLMDescriber:
    """`describe_scene(clip)` and `write_reaction(line)` with any ChatModel (`local:` or `openai:`)."""

    def __init__(self, model: ChatModel, *, max_new_tokens: int = MAX_NEW_TOKENS) -> None:
        self.model = model
        self.max_new_tokens = max_new_tokens

    def _ask(self, prompt: VisionPrompt) -> str:
        answer = " ".join(self.model.generate(prompt, max_new_tokens=self.max_new_tokens).split())
        if not answer:
            raise CinedubError(f"{self.model.name} answered with nothing")
        return answer

    def describe_scene(self, clip: Path) -> str:
        return self._ask(VisionPrompt(system=prompts.DESCRIBE_SYSTEM, question=prompts.DESCRIBE_SCENE_QUESTION,
                                      video=sample_frames(Path(clip))))  # fmt: skip

    def write_reaction(self, line: str) -> str:
        return self._ask(VisionPrompt(system=prompts.DESCRIBE_SYSTEM, question=prompts.reaction_question(line)))


def load_describer(spec: str) -> VLMDescriber:
    """`local:PATH` or `openai:URL[#model]`: that VLM (the model loader the director uses)."""
    model = load_model(spec)
    if model is None:
        raise CinedubError(f"--describe-with needs a vision-language model (local:PATH or openai:URL), not {spec!r}")
    return VLMDescriber(model)
