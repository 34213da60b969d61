"""The contract between the director's VLM reasoner and the backends that run a vision-language model.

A backend (`local:` in-process transformers, `openai:` an OpenAI-compatible server such as vLLM) only
turns a `VisionPrompt` into text. Prompts, parsing, the one repair and the fallback to `rules` live
with the reasoner, so every backend behaves the same way and sees the same frames.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from cinedub.errors import CinedubError


@dataclass
class SampledVideo:
    """The frames every backend is shown: sampled once, by one sampler."""

    path: Path
    frames: np.ndarray  # (num_frames, height, width, 3) uint8 RGB
    times: np.ndarray  # (num_frames,) seconds from the start of the clip
    fps: float  # the sampling rate the frames were taken at
    # Where the frames came from (what a processor's video metadata needs); None / empty when unknown.
    source_fps: float | None = None  # the clip's own frame rate
    frame_indices: list[int] = field(default_factory=list)  # (num_frames,) index of each frame in the clip
    total_frames: int | None = None  # frames in the clip
    reader: str = ""  # which decoder read them: "decord" (qwen-vl-utils) or "pyav"

    def __post_init__(self) -> None:
        if len(self.frames) != len(self.times):
            raise ValueError(f"{len(self.frames)} frames but {len(self.times)} times")


@dataclass
class VisionPrompt:
    """One request to the model: a system text, a user turn with the video, and any later text turns."""

    system: str
    question: str
    video: SampledVideo | None = None
    # Text turns after the first user turn, e.g. the model's unreadable answer and the repair request:
    # [{"role": "assistant", "content": "..."}, {"role": "user", "content": "..."}]
    history: list[dict[str, str]] = field(default_factory=list)
    # A JSON schema the answer must follow, for backends that can enforce one (vLLM structured outputs).
    json_schema: dict[str, Any] | None = None


class ModelUnavailable(CinedubError):
    """The model could not answer at all (server down, timed out, 5xx after retries, failed to load)."""


class ChatModel(Protocol):
    name: str  # how direction.json names it, e.g. "local:/models/Qwen2.5-VL-7B-Instruct"

    def generate(self, prompt: VisionPrompt, *, max_new_tokens: int) -> str:
        """The model's text answer; raises ModelUnavailable when there is none to be had."""
        ...
