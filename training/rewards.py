"""DeepDubber's rewards for the reasoner, built on `agents.cot.parse_cot` (one parser, one place).

- format reward: 1.0 when all four tags are present, closed, in order and the conclusion parses; else a
  partial credit (a quarter per stage found, halved when the order is wrong or the conclusion unparseable),
  always below 1.0.
- outcome reward: 1.0 when the conclusion's scene type equals the label, else 0.0.
Both take TRL's reward-function signature: `(completions, **columns) -> list[float]`, where a completion is
a string or a conversational list of messages, and the label comes in the `scene_type` column.
"""

from __future__ import annotations

from cinedub.agents.cot import parse_cot
from cinedub.agents.prompts import STAGES


def _text(completion) -> str:
    if isinstance(completion, str):
        return completion
    if isinstance(completion, list):  # [{"role": "assistant", "content": str | [{"type": "text", ...}]}]
        parts = []
        for message in completion:
            content = message.get("content", "") if isinstance(message, dict) else str(message)
            if isinstance(content, list):
                content = "".join(c.get("text", "") for c in content if isinstance(c, dict))
            parts.append(content)
        return "".join(parts)
    return str(completion)


def format_score(text: str) -> float:
    parsed = parse_cot(text)
    if parsed.well_formed:
        return 1.0
    found = [s for s in parsed.stages if s in STAGES]
    score = 0.25 * len(found) * 0.9  # never 1.0 unless well formed
    if found != [s for s in STAGES if s in found] or not parsed.ok:
        score *= 0.5
    return round(score, 4)


def outcome_score(text: str, scene_type: str | None) -> float:
    parsed = parse_cot(text)
    return 1.0 if parsed.ok and scene_type is not None and parsed.conclusion.scene_type == scene_type else 0.0


def format_reward(completions, **kwargs) -> list[float]:
    """TRL reward function: DeepDubber's format reward."""
    return [format_score(_text(c)) for c in completions]


def outcome_reward(completions, scene_type=None, **kwargs) -> list[float]:
    """TRL reward function: 1.0 when the conclusion equals the `scene_type` column."""
    labels = scene_type if isinstance(scene_type, list) else [scene_type] * len(completions)
    return [outcome_score(_text(c), label) for c, label in zip(completions, labels, strict=True)]


def total_score(text: str, scene_type: str | None) -> float:
    return format_score(text) + outcome_score(text, scene_type)
