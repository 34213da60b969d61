"""The VLM director: a vision-language model watches the clip and writes DeepDubber's four-stage CoT.

Backend-independent: any `ChatModel` (`local:` transformers in-process, `openai:` a vLLM server) is
asked the same question about the same frames. Its answer is parsed tolerantly (`parse_cot`) and
validated into a `Conclusion`; an unreadable answer is repaired once (the model sees its answer and
what was wrong with it); a second failure, or a model that cannot answer at all, falls back to the
`rules` reasoner, and `Reasoning.notes` says why (direction.json records it as `reasoner_notes`).
"""

from __future__ import annotations

import os
from pathlib import Path

from cinedub.agents import prompts
from cinedub.agents.cot import ParsedCoT, parse_cot, tagged_from_structured
from cinedub.agents.frames import DEFAULT_FPS, DEFAULT_MAX_FRAMES, DEFAULT_MAX_PIXELS, sample_frames
from cinedub.agents.reasoners import Reasoner, Reasoning, RulesReasoner
from cinedub.agents.vlm import ChatModel, ModelUnavailable, SampledVideo, VisionPrompt
from cinedub.errors import CinedubError
from cinedub.types import Conclusion, Line, Perception

# Enough for four stages and the JSON conclusion (DeepDubber's gold answers run 150-250 tokens).
# CINEDUB_VLM_MAX_NEW_TOKENS overrides it (e.g. CI, where a tiny random model rambles to the limit).
MAX_NEW_TOKENS_ENV = "CINEDUB_VLM_MAX_NEW_TOKENS"
DEFAULT_MAX_NEW_TOKENS = 512


def default_max_new_tokens() -> int:
    value = os.environ.get(MAX_NEW_TOKENS_ENV, "")
    if not value:
        return DEFAULT_MAX_NEW_TOKENS
    if not value.isdigit() or int(value) < 1:
        raise CinedubError(f"{MAX_NEW_TOKENS_ENV} must be a positive whole number, got {value!r}")
    return int(value)


# Speaker attributes a letter-only answer (DeepDubber's own format) leaves out; taken from perception.
SPEAKER_FIELDS: tuple[str, ...] = ("gender", "age", "emotion", "intensity")
# How much of an unreadable answer a note quotes.
QUOTE_CHARS = 80


def build_reason_prompt(video: SampledVideo | None, perception: Perception | None, lines: list[Line] | list[str], *,
                        ground: bool = False, structured: bool = False) -> VisionPrompt:  # fmt: skip
    """The first request about a clip. `ground`: tell the model the perception tools' facts.
    `structured`: ask for one JSON object and pass its schema (for servers that enforce one)."""
    texts = [line.text if isinstance(line, Line) else str(line) for line in lines]
    return VisionPrompt(
        system=prompts.DIRECTOR_SYSTEM,
        question=prompts.reason_question(texts, perception=perception if ground else None, structured=structured),
        video=video,
        json_schema=prompts.cot_answer_schema() if structured else None,
    )


def with_repair(prompt: VisionPrompt, answer: str, error: str, *, structured: bool = False) -> VisionPrompt:
    """The same request followed by the model's unreadable answer and a request to fix it."""
    history = [*prompt.history, {"role": "assistant", "content": answer},
               {"role": "user", "content": prompts.repair_request(error, structured=structured)}]  # fmt: skip
    return VisionPrompt(system=prompt.system, question=prompt.question, video=prompt.video, history=history,
                        json_schema=prompt.json_schema)  # fmt: skip


def read_answer(answer: str) -> ParsedCoT:
    """Parse and validate a model's answer; `error` says what is wrong (for the repair turn)."""
    if not answer.strip():
        parsed = ParsedCoT()
        parsed.error = "the answer is empty"
        return parsed
    return parse_cot(answer)


def _quote(text: str) -> str:
    text = " ".join(text.split())
    return repr(text[:QUOTE_CHARS] + ("..." if len(text) > QUOTE_CHARS else ""))


class VLMReasoner:
    """A `Reasoner` around any `ChatModel`: prompt, parse, validate, repair once, fall back to rules."""

    def __init__(self, model: ChatModel, *, ground: bool = False, structured: bool = False,
                 max_new_tokens: int | None = None, fps: float = DEFAULT_FPS,
                 max_frames: int = DEFAULT_MAX_FRAMES, max_pixels: int = DEFAULT_MAX_PIXELS,
                 fallback: Reasoner | None = None) -> None:  # fmt: skip
        self.model = model
        self.name = model.name
        self.ground, self.structured = ground, structured
        self.max_new_tokens = max_new_tokens or default_max_new_tokens()
        self.sampling = {"fps": fps, "max_frames": max_frames, "max_pixels": max_pixels}
        self.fallback = fallback or RulesReasoner()

    def frames(self, clip: Path) -> SampledVideo:
        return sample_frames(clip, **self.sampling)

    def reason(self, clip: Path, perception: Perception, lines: list[Line]) -> Reasoning:
        notes: list[str] = []
        try:
            prompt = build_reason_prompt(self.frames(clip), perception, lines, ground=self.ground,
                                         structured=self.structured)  # fmt: skip
            answer = self.model.generate(prompt, max_new_tokens=self.max_new_tokens)
            parsed = read_answer(answer)
            if not parsed.ok:
                notes.append(f"model answer unreadable ({parsed.error}): {_quote(answer)}; asked once more")
                prompt = with_repair(prompt, answer, parsed.error or "unreadable", structured=self.structured)
                answer = self.model.generate(prompt, max_new_tokens=self.max_new_tokens)
                parsed = read_answer(answer)
                if not parsed.ok:
                    return self._fall_back(clip, perception, lines, notes,
                                           f"model answer unreadable twice: {parsed.error}: {_quote(answer)}")
                notes.append("the repaired answer was readable")
        except ModelUnavailable as err:
            return self._fall_back(clip, perception, lines, notes, f"model unavailable: {err}")
        except CinedubError as err:  # e.g. frames that cannot be sampled
            return self._fall_back(clip, perception, lines, notes, f"model not asked: {err}")
        conclusion = self._complete(parsed.conclusion, clip, perception, lines, notes)
        cot = tagged_from_structured(answer) or answer.strip()
        return Reasoning(cot=cot, conclusion=conclusion, backend=self.name, notes=notes)

    def _complete(self, conclusion: Conclusion, clip: Path, perception: Perception, lines: list[Line],
                  notes: list[str]) -> Conclusion:  # fmt: skip
        """Speaker attributes the answer left out (a letter-only answer) come from the rules reasoner."""
        missing = [name for name in SPEAKER_FIELDS if getattr(conclusion, name) is None]
        if not missing:
            return conclusion
        rules = self.fallback.reason(clip, perception, lines).conclusion
        filled = {name: getattr(rules, name) for name in missing if getattr(rules, name) is not None}
        if not filled:
            return conclusion
        notes.append(f"the model gave no {', '.join(filled)}: taken from perception (rules)")
        # Rebuilt, not copied, so the validators run (an age fills in its age group).
        return Conclusion(**{**conclusion.model_dump(), **filled})

    def _fall_back(self, clip: Path, perception: Perception, lines: list[Line], notes: list[str],
                   why: str) -> Reasoning:  # fmt: skip
        reasoning = self.fallback.reason(clip, perception, lines)
        return Reasoning(cot=reasoning.cot, conclusion=reasoning.conclusion,
                         backend=f"{self.name}→{reasoning.backend}",
                         notes=[*notes, f"{why}; used {reasoning.backend}"])  # fmt: skip
