"""The director's reasoners: one contract, several backends.

Every backend turns what the director knows about a clip (its `Perception` and the script) into
DeepDubber's four-stage chain of thought and a validated `Conclusion`. `rules` is the embedded default:
it writes the stages from perception facts, with no model weights.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from cinedub.agents.cot import parse_cot
from cinedub.agents.prompts import SUMMARY_TEXT_WITH_SPEAKER, format_cot
from cinedub.agents.models import RULES, load_model, model_kind
from cinedub.agents.vlm import ChatModel
from cinedub.errors import CinedubError
from cinedub.labels import EMOTIONS
from cinedub.types import Conclusion, Line, Perception

# How strongly a face or a line must show an emotion before the director believes it over "neutral".
MIN_EMOTION_CONFIDENCE = 0.35
# The intensity the director asks for maps the winning emotion's confidence onto this range.
INTENSITY_RANGE = (0.3, 0.9)
# A neutral reading has no intensity to speak of; this is where a later "angrier" starts from.
NEUTRAL_INTENSITY = 0.5
_NUMBER = ("no", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten")


@dataclass
class Reasoning:
    """A reasoner's answer: the CoT text, its conclusion, and how it was reached."""

    cot: str
    conclusion: Conclusion
    backend: str
    notes: list[str] = field(default_factory=list)  # e.g. why a model's answer was repaired or replaced


class Reasoner(Protocol):
    name: str
    model: ChatModel | None  # the chat model it asks (a VLM reasoner's), None for rules

    def reason(self, clip: Path, perception: Perception, lines: list[Line]) -> Reasoning:
        """`clip` is the video itself, for backends that watch it; `perception` what the tools saw in it."""
        ...


def scene_type_from_counts(num_people: int, num_speaking: int) -> str:
    """DeepDubber's pattern: nobody talking -> narration; a lone talker -> monologue; else dialogue."""
    if num_speaking == 0:
        return "narration"
    if num_people == 1:
        return "monologue"
    return "dialogue"


def _people(n: int) -> str:
    return f"{_NUMBER[n]} people" if n < len(_NUMBER) else f"{n} people"


def _blend_emotion(perception: Perception) -> tuple[str, float, str]:
    """Emotion, intensity and the sentence explaining them, from the speaker's face and the line."""
    votes: dict[str, float] = dict.fromkeys(EMOTIONS, 0.0)
    sources = []
    speaker = perception.speaker
    if speaker is not None and speaker.facial_emotion_scores:
        for label, p in speaker.facial_emotion_scores.items():
            votes[label] += 0.4 * p
        sources.append(f"the speaker's face reads as {speaker.facial_emotion}")
    if perception.text is not None:
        # The words carry more weight than a face read by a small model.
        weight = 0.6 if sources else 1.0
        for label, p in perception.text.scores.items():
            votes[label] += weight * p
        sources.append(f"the words of the line read as {perception.text.emotion}")
    if not sources:
        return "neutral", NEUTRAL_INTENSITY, "Nothing shows an emotion, so the line is delivered neutrally."
    total = sum(votes.values()) or 1.0
    emotional = {k: v / total for k, v in votes.items() if k != "neutral"}
    emotion, confidence = max(emotional.items(), key=lambda kv: kv[1])
    if confidence < MIN_EMOTION_CONFIDENCE:
        return "neutral", NEUTRAL_INTENSITY, f"As {' and '.join(sources)}, the line is delivered neutrally."
    low, high = INTENSITY_RANGE
    intensity = round(low + (high - low) * min(1.0, confidence), 2)
    because = " and ".join(sources)
    return emotion, intensity, f"As {because}, the emotion is {emotion} at intensity {intensity:.2f}."


def line_conclusions(perception: Perception, faces: list[int | None], texts: list[str]) -> list[Conclusion]:
    """Each line's own conclusion in a scene with a cast (DeepDubber's decision per line, by the rules): the
    scene type for that line (its speaker off screen: narration; on screen, with other faces speaking other
    lines: dialogue; else monologue), and the age, gender and emotion of the face that says it (`faces`: the
    line's track id, agents/speakers.line_speakers), the emotion blended with the line's own words."""
    from cinedub.agents.perception.text import text_emotion

    speaking = {face for face in faces if face is not None}
    conclusions = []
    for face, text in zip(faces, texts, strict=True):
        view = perception.model_copy(update={"speaker_id": face, "text": text_emotion(text)})
        emotion, intensity, _ = _blend_emotion(view)
        person = view.speaker
        several = len(speaking) > 1 and perception.num_people > 1  # (one person can be two tracks)
        scene_type = "narration" if face is None else "dialogue" if several else "monologue"
        conclusions.append(Conclusion(
            scene_type=scene_type, num_people=perception.num_people,
            num_speaking=min(len(speaking), perception.num_people),
            gender=person.gender if person is not None else "unknown",
            age=person.age if person is not None else None, emotion=emotion, intensity=intensity,
        ))  # fmt: skip
    return conclusions


class RulesReasoner:
    """Fills the four CoT stages from perception facts (faces, mouths, the line's words)."""

    name = "rules"
    model: ChatModel | None = None

    def reason(self, clip: Path, perception: Perception, lines: list[Line]) -> Reasoning:
        n_people, n_speaking = perception.num_people, perception.num_speaking
        scene_type = scene_type_from_counts(n_people, n_speaking)
        speaker = perception.speaker
        emotion, intensity, emotion_sentence = _blend_emotion(perception)

        if n_people == 0:
            caption = "The video shows a scene with no people in it. Notably, no one is talking in the scene."
        elif n_people == 1:
            talking = "is talking" if n_speaking else "is not talking"
            caption = f"The video shows a scene with one people in it. Notably, the people {talking} in the scene."
        else:
            who = {0: "none of them is", 1: "one of them is"}.get(n_speaking, f"{_NUMBER[min(n_speaking, 10)]} of them are")
            caption = f"The video shows a scene with {_people(n_people)} in it. Notably, {who} talking in the scene."
        if speaker is not None:
            age = f"about {speaker.age} years old" if speaker.age is not None else "of unknown age"
            caption += f" The speaker appears to be {speaker.gender if speaker.gender != 'unknown' else 'a person'}, {age}."

        count = "there is one people" if n_people == 1 else f"there are {_people(n_people)}"
        speaking = "there is no one speaking" if n_speaking == 0 else f"there is {_people(n_speaking)} speaking" if n_speaking == 1 else f"there are {_people(n_speaking)} speaking"
        reasoning = (
            f"First, I will count all the people in the video: {count}. "
            f"Next, I will count the number of people speaking in the video: {speaking} in this video. "
            f"Finally, I will determine the voice-over scene of the video: the voice-over scene of the video is {scene_type}. "
            f"{emotion_sentence}"
        )
        conclusion = Conclusion(
            scene_type=scene_type,
            num_people=n_people,
            num_speaking=n_speaking,
            gender=speaker.gender if speaker is not None else "unknown",
            age=speaker.age if speaker is not None else None,
            emotion=emotion,
            intensity=intensity,
        )
        stages = {
            "SUMMARY": SUMMARY_TEXT_WITH_SPEAKER,
            "CAPTION": caption,
            "REASONING": reasoning,
            "CONCLUSION": f"{conclusion.letter} {json.dumps(conclusion.model_dump(exclude_none=True))}",
        }
        cot = format_cot(stages)
        parsed = parse_cot(cot)
        assert parsed.conclusion == conclusion, "the rules reasoner wrote a CoT its own parser reads differently"
        return Reasoning(cot=cot, conclusion=conclusion, backend=self.name)


def load_reasoner(spec: str = "rules", *, ground: bool = False, model: ChatModel | None = None) -> Reasoner:
    """`rules`, `local:PATH` or `openai:URL[#model]`. `model`: the spec's chat model when the caller has
    loaded it already (models.load_model; the director's context holds it), else it is loaded here.
    `ground`: give a VLM the perception tools' facts with the question (rules always works from them)."""
    kind = model_kind(spec)
    if kind == RULES:
        return RulesReasoner()
    from cinedub.agents.vlm_reasoner import VLMReasoner

    # An openai: server enforces the answer's JSON schema (vLLM structured outputs), so ask for JSON.
    return VLMReasoner(model or load_model(spec), ground=ground, structured=kind == "openai")
