"""Read a chain of thought back into a `Conclusion`, tolerantly.

Accepts DeepDubber's answers (`<CONCLUSION> A </CONCLUSION>`, counts in the caption and reasoning),
cinedub's own (a JSON object after the letter inside `<CONCLUSION>`), and the usual model sloppiness:
missing closing tags, stages out of order, prose around the tags, JSON in code fences, lowercase
letters, "Answer: B", and conclusions written in words; and structured-output answers (one JSON object
with the four stages as keys).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

from pydantic import ValidationError

from cinedub.agents.prompts import STAGES, format_cot
from cinedub.labels import EMOTION_WORDS, LETTER_SCENE, SCENE_LETTER, SCENE_TYPES
from cinedub.types import Conclusion

_TAG = re.compile(r"<\s*(/?)\s*(SUMMARY|CAPTION|REASONING|CONCLUSION)\s*>", re.IGNORECASE)
_FENCE = re.compile(r"```(?:json)?\s*(\{.*?\})\s*```", re.DOTALL)
_LETTER_LEAD = re.compile(r"^\W*\(?([ABC])\)?(?![A-Za-z])")
_LETTER_ALONE = re.compile(r"^\W*([abc])\W*$")
# "Answer: B", "the option is (C)"; a lowercase letter only when nothing follows it ("answer is a monologue").
_ANSWER_IS = re.compile(
    r"\b(?i:answer|option|category|choice)\b\s*(?:is|:)?\s*\(?([ABC]|[abc](?=\W*$))\)?(?![A-Za-z])"
)
_SCENE_WORD = re.compile(r"\b(dialogue|dialog|monologue|narration|narrator|voice-?over narration)\b", re.IGNORECASE)

_NUMBER_WORDS = {
    "no": 0, "zero": 0, "none": 0, "one": 1, "a single": 1, "single": 1, "two": 2, "three": 3, "four": 4,
    "five": 5, "six": 6, "seven": 7, "eight": 8, "nine": 9, "ten": 10,
}  # fmt: skip
_COUNT = r"(\d+|no|zero|one|two|three|four|five|six|seven|eight|nine|ten|many|several)"
_PEOPLE = re.compile(rf"there (?:is|are) {_COUNT} (?:people|person|persons)(?! speaking)", re.IGNORECASE)
_PEOPLE_CAPTION = re.compile(rf"scene with {_COUNT} (?:people|person)", re.IGNORECASE)
_SPEAKING = re.compile(rf"there (?:is|are) {_COUNT} (?:one|people|person|persons)? ?speaking", re.IGNORECASE)


@dataclass
class ParsedCoT:
    """What a CoT text yields: the stages found, the conclusion (None when unparseable), and why not."""

    stages: dict[str, str] = field(default_factory=dict)
    conclusion: Conclusion | None = None
    letter: str | None = None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.conclusion is not None

    @property
    def well_formed(self) -> bool:
        """All four stages present, each closed, in DeepDubber's order."""
        return list(self.stages) == list(STAGES) and self.ok


def split_stages(text: str) -> dict[str, str]:
    """Stage name -> text, in the order the stages appear. An unclosed stage runs to the next tag."""
    stages: dict[str, str] = {}
    matches = list(_TAG.finditer(text))
    for i, match in enumerate(matches):
        closing, name = match.group(1), match.group(2).upper()
        if closing or name in stages:
            continue
        end = matches[i + 1].start() if i + 1 < len(matches) else len(text)
        stages[name] = text[match.end() : end].strip()
    return stages


def _count(word: str | None) -> int | None:
    if word is None:
        return None
    word = word.lower()
    if word.isdigit():
        return int(word)
    return _NUMBER_WORDS.get(word)  # "many" / "several": a crowd, not a number


def first_json_object(text: str) -> dict | None:
    """The first JSON object in `text` (fenced or bare), or None."""
    fenced = _FENCE.search(text)
    candidates = [fenced.group(1)] if fenced else []
    start = text.find("{")
    if start >= 0:
        end = text.rfind("}")
        if end > start:
            candidates.append(text[start : end + 1])
    for candidate in candidates:
        try:
            value = json.loads(candidate)
        except json.JSONDecodeError:
            continue
        if isinstance(value, dict):
            return value
    return None


# Label words a model writes instead of cinedub's labels (beyond labels.EMOTION_WORDS).
_EMOTION_NOUNS = {"anger": "angry", "fear": "fear", "happiness": "happy", "joy": "happy", "sadness": "sad",
                  "surprise": "surprise", "disgust": "disgust", "calm": "neutral", "none": "neutral"}  # fmt: skip
_GENDER_WORDS = {"man": "male", "boy": "male", "woman": "female", "girl": "female", "none": "unknown",
                 "n/a": "unknown", "unclear": "unknown"}  # fmt: skip
_INTEGER = re.compile(r"\d+")
_NEGATED_SCENE = re.compile(r"\bnot (?:an? )?(?:dialogue|dialog|monologue|narration)\b", re.IGNORECASE)


def _normalise_fields(fields: dict) -> dict:
    """Label words in cinedub's spelling: "Female" -> female, "fearful" -> fear, "about 30" -> 30, "one" -> 1.
    Values it cannot read are left as they are, for validation to name."""
    fields = dict(fields)
    for name, words in (("emotion", {**EMOTION_WORDS, **_EMOTION_NOUNS}), ("gender", _GENDER_WORDS)):
        value = fields.get(name)
        if isinstance(value, str):
            value = value.strip().lower()
            fields[name] = words.get(value, value)
    if isinstance(fields.get("age"), str):
        number = _INTEGER.search(fields["age"])
        fields["age"] = int(number.group()) if number else None
    for name in ("num_people", "num_speaking"):
        if isinstance(fields.get(name), str) and not fields[name].strip().isdigit():
            fields[name] = _count(fields[name].strip())
    return fields


def scene_from_answer(text: str) -> str | None:
    """The scene type a short answer names: a letter (any case, "Answer: B") or the word itself."""
    text = text.strip()
    for pattern in (_LETTER_LEAD, _LETTER_ALONE, _ANSWER_IS):
        match = pattern.search(text)
        if match:
            return LETTER_SCENE[match.group(1).upper()]
    words = {w.lower() for w in _SCENE_WORD.findall(_NEGATED_SCENE.sub(" ", text))}  # "narration, not dialogue"
    words = {"dialogue" if w == "dialog" else "narration" if "narrat" in w else w for w in words}
    return words.pop() if len(words) == 1 else None


def tagged_from_structured(text: str) -> str | None:
    """A structured-output answer ({"summary", "caption", "reasoning", "conclusion": {...}}, maybe fenced)
    rewritten as DeepDubber's tagged stages, the conclusion as letter + JSON; None if `text` is not one."""
    stripped = text.strip()
    if not (stripped.startswith("{") or stripped.startswith("```")):
        return None
    obj = first_json_object(stripped)
    if obj is None or not isinstance(obj.get("conclusion"), dict):
        return None
    keys = {k.lower(): v for k, v in obj.items()}
    conclusion = keys["conclusion"]
    scene = conclusion.get("scene_type")
    letter = SCENE_LETTER.get(scene_from_answer(scene) or "", "") if isinstance(scene, str) else ""
    stages = {tag: str(keys.get(tag.lower(), "")) for tag in STAGES[:-1]}
    stages["CONCLUSION"] = f"{letter} {json.dumps(conclusion)}".strip()
    return format_cot(stages)


def parse_cot(text: str) -> ParsedCoT:
    """Parse a chain of thought; never raises. `error` says why there is no conclusion."""
    text = tagged_from_structured(text) or text
    result = ParsedCoT(stages=split_stages(text))
    tail = result.stages.get("CONCLUSION")
    if tail is None:  # no conclusion tag: read the answer from the end of the text
        tail = text.strip().splitlines()[-1] if text.strip() else ""
    fields: dict = {}
    obj = first_json_object(tail) or (first_json_object(text) if "CONCLUSION" not in result.stages else None)
    if obj is not None:
        fields = _normalise_fields({k: v for k, v in obj.items() if k in Conclusion.model_fields})
        if isinstance(fields.get("scene_type"), str) and fields["scene_type"] not in SCENE_TYPES:
            fields["scene_type"] = scene_from_answer(fields["scene_type"])
    json_free = tail[: tail.find("{")] if "{" in tail else tail
    if fields.get("scene_type") is None:
        fields["scene_type"] = scene_from_answer(json_free) or scene_from_answer(tail)
    elif obj is not None and json_free.strip():
        # "<CONCLUSION> B {"scene_type": "dialogue"}": a letter that contradicts its own JSON is no answer.
        alone = _LETTER_ALONE.match(json_free.strip().lower())  # only a bare letter: "A monologue" is prose
        said = LETTER_SCENE[alone.group(1).upper()] if alone else None
        if said is not None and said != fields["scene_type"]:
            result.error = f"the conclusion says {said} but its JSON says {fields['scene_type']}"
            return result
    if fields["scene_type"] is None:
        result.error = "no scene type in the conclusion"
        return result
    narrative = " ".join(result.stages.get(s, "") for s in ("CAPTION", "REASONING")) or text
    if "num_people" not in fields:
        match = _PEOPLE.search(narrative) or _PEOPLE_CAPTION.search(narrative)
        fields["num_people"] = _count(match.group(1)) if match else None
    if "num_speaking" not in fields:
        match = _SPEAKING.search(narrative)
        fields["num_speaking"] = _count(match.group(1)) if match else None
    try:
        result.conclusion = Conclusion(**fields)
    except ValidationError as err:
        first = err.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "conclusion"
        result.error = f"invalid conclusion: {where}: {first['msg']}"
        return result
    result.letter = result.conclusion.letter
    return result
