"""The director's prompts: DeepDubber-V1's four-stage chain of thought and its questions."""

from __future__ import annotations

from cinedub.labels import EMOTIONS
from cinedub.types import DIRECTION_BOUNDS, Conclusion

# DeepDubber's scene-type question, word for word (its CoT-Movie-Dubbing data asks exactly this).
SCENE_TYPE_QUESTION = (
    "What is the voice-over category for this video? Options: A. dialogue, B. monologue, C. narration."
)

# The four stages, in order, with the header line DeepDubber writes before each tag.
STAGES: tuple[str, ...] = ("SUMMARY", "CAPTION", "REASONING", "CONCLUSION")
STAGE_HEADERS: dict[str, str] = {
    "SUMMARY": "Summary stage: What's the problem? What should I do?",
    "CAPTION": "Caption stage: What can I know from the video?",
    "REASONING": "Reasoning stage: How to solve the problem step-by-step?",
    "CONCLUSION": "Conclusion stage: What is the final answer?",
}

SUMMARY_TEXT = (
    "I will examine the video to identify and count all the people, Then, I will count the number of "
    "people who is talking and determine the category of voice-over for the video"
)
# cinedub asks for more than the scene type: the speaker's attributes drive the actor.
SUMMARY_TEXT_WITH_SPEAKER = (
    SUMMARY_TEXT + ". Then, I will describe the speaker's gender, age and emotion, and how intense the "
    "line should be"
)


def format_cot(stages: dict[str, str]) -> str:
    """Write the four stages the way DeepDubber's gold answers are written."""
    return "\n".join(f"{STAGE_HEADERS[tag]}\n<{tag}> {stages[tag].strip()} </{tag}>" for tag in STAGES)


# ---------------------------------------------------------------------------------------------
# The VLM director's prompts (every backend gets the same text; agents/vlm_reasoner.py asks them).

DIRECTOR_SYSTEM = (
    "You are the director of a film dubbing session. You watch a silent clip and decide how its line "
    "must be voiced: who is on screen, who is talking, the voice-over category, and the speaker's "
    "gender, age, emotion and how intense the delivery should be. Think step by step, then answer."
)

# cinedub's questions beyond DeepDubber's scene type: the speaker's attributes drive the actor.
ATTRIBUTE_QUESTIONS: dict[str, str] = {
    "age": "How old is the person who speaks, in years (a whole number)?",
    "gender": "Is the speaker male or female (or unknown)?",
    "emotion": "Which emotion should the line carry? One of: {emotions}.",
    "intensity": "How intense should that emotion be, from 0.0 (barely) to 1.0 (as strong as it gets)?",
}

# The fields of cinedub's JSON conclusion, in the order the model is asked to write them.
CONCLUSION_FIELDS: tuple[str, ...] = (
    "scene_type", "num_people", "num_speaking", "gender", "age", "emotion", "intensity",
)  # fmt: skip


# Conclusion fields a model may leave null in its JSON answer (the others always have a value).
NULLABLE_CONCLUSION_FIELDS = ("age",)
_SCHEMA_KEYS = ("type", "enum", "minimum", "maximum")


def conclusion_schema() -> dict:
    """JSON schema of the conclusion object, for structured output: derived from the `Conclusion` model
    (its labels from cinedub.labels, its bounds), the fields a model must answer, all required."""
    properties = Conclusion.model_json_schema()["properties"]
    out = {}
    for name in CONCLUSION_FIELDS:
        (option,) = [o for o in properties[name].get("anyOf", [properties[name]]) if o.get("type") != "null"]
        out[name] = {key: option[key] for key in _SCHEMA_KEYS if key in option}
        if name in NULLABLE_CONCLUSION_FIELDS:
            out[name]["type"] = [out[name]["type"], "null"]
    return {"type": "object", "properties": out, "required": list(CONCLUSION_FIELDS), "additionalProperties": False}


def cot_answer_schema() -> dict:
    """JSON schema of a structured four-stage answer: one string per stage, the conclusion an object."""
    return {
        "type": "object",
        "properties": {
            "summary": {"type": "string"},
            "caption": {"type": "string"},
            "reasoning": {"type": "string"},
            "conclusion": conclusion_schema(),
        },
        "required": ["summary", "caption", "reasoning", "conclusion"],
        "additionalProperties": False,
    }


_EXAMPLE_CONCLUSION = (
    '{"scene_type": "monologue", "num_people": 1, "num_speaking": 1, "gender": "female", "age": 30, '
    '"emotion": "sad", "intensity": 0.6}'
)


def _attribute_questions() -> str:
    return " ".join(q.format(emotions=", ".join(EMOTIONS)) for q in ATTRIBUTE_QUESTIONS.values())


def answer_format(*, structured: bool) -> str:
    """How the answer must be written: DeepDubber's tagged stages, or one JSON object (structured output)."""
    if structured:
        return (
            'Answer with one JSON object: {"summary": "...", "caption": "...", "reasoning": "...", '
            f'"conclusion": {_EXAMPLE_CONCLUSION}}}. Write the stages as DeepDubber does: what you will do, '
            "what the video shows, then count the people, count those speaking and decide the category."
        )
    stages = " ".join(f"<{tag}> ... </{tag}>" for tag in STAGES)
    return (
        f"Answer in four stages, in this order, each inside its tags: {stages}. "
        "SUMMARY: what you will do. CAPTION: what the video shows. REASONING: count the people, count "
        "those speaking, decide the category, then the speaker's attributes. CONCLUSION: the letter of "
        f"the category, then one JSON object, e.g. <CONCLUSION> B {_EXAMPLE_CONCLUSION} </CONCLUSION>"
    )


def lines_text(lines: list[str]) -> str:
    if not lines:
        return "No line of the script was given."
    quoted = " / ".join(f'"{line}"' for line in lines)
    return f"The line{'s' if len(lines) > 1 else ''} to be spoken: {quoted}."


def grounding_text(perception) -> str:
    """The perception tools' facts about the clip, as the model is told them when grounding is on."""
    facts = [
        f"{perception.num_people} {'person' if perception.num_people == 1 else 'people'} on screen",
        f"{perception.num_speaking} of them visibly talking (mouth movement)",
    ]
    speaker = perception.speaker
    if speaker is not None:
        age = f"about {speaker.age} years old" if speaker.age is not None else "age unknown"
        facts.append(f"the talking person looks {speaker.gender}, {age}")
        if speaker.facial_emotion:
            facts.append(f"their face reads as {speaker.facial_emotion}")
    if perception.speaking_windows:
        spans = ", ".join(f"{w.start:.1f}-{w.end:.1f} s" for w in perception.speaking_windows[:4])
        facts.append(f"they talk at {spans}")
    if perception.text is not None:
        text = perception.text
        facts.append(f"the words of the line read as {text.emotion} (valence {text.valence:+.2f})")
    return (
        "Facts measured by perception tools (use them unless the video clearly shows otherwise): "
        + "; ".join(facts) + "."
    )


def reason_question(lines: list[str], *, perception=None, structured: bool = False) -> str:
    """The user turn that goes with the video: DeepDubber's question, cinedub's, grounding, the format."""
    parts = [SCENE_TYPE_QUESTION, _attribute_questions(), lines_text(lines)]
    if perception is not None:
        parts.append(grounding_text(perception))
    parts.append(answer_format(structured=structured))
    return "\n".join(parts)


def repair_request(error: str, *, structured: bool = False) -> str:
    """The one follow-up turn after an unreadable answer: what was wrong, and the format again."""
    return f"Your answer could not be read: {error}. Answer the question again. {answer_format(structured=structured)}"


# ---------------------------------------------------------------------------------------------
# Director's notes through the model.

NOTE_SYSTEM = (
    "You are a dubbing director's assistant. The director gives a note about the last take; turn it "
    "into changes to the actor's direction. Change only what the note asks for. Answer with one JSON object."
)
INTENSITY_RANGE = DIRECTION_BOUNDS["intensity"]
PACE_RANGE = DIRECTION_BOUNDS["pace"]  # speaking-rate factor
PITCH_RANGE = DIRECTION_BOUNDS["pitch_shift"]  # semitones
LOUDNESS_RANGE = DIRECTION_BOUNDS["loudness"]  # dB


def note_changes_schema(num_takes: int = 0, num_lines: int = 0) -> dict:
    """JSON schema of a note's changes: every field optional but `explanation`; with several lines,
    `lines` says which the note is for."""
    properties = {
        "emotion": {"type": "string", "enum": list(EMOTIONS)},
        "intensity": {"type": "number", "minimum": INTENSITY_RANGE[0], "maximum": INTENSITY_RANGE[1]},
        "intensity_delta": {"type": "number", "minimum": -INTENSITY_RANGE[1], "maximum": INTENSITY_RANGE[1]},
        "pace": {"type": "number", "minimum": PACE_RANGE[0], "maximum": PACE_RANGE[1]},
        "pitch_shift": {"type": "number", "minimum": PITCH_RANGE[0], "maximum": PITCH_RANGE[1]},
        "loudness": {"type": "number", "minimum": LOUDNESS_RANGE[0], "maximum": LOUDNESS_RANGE[1]},
        "like_take": {"type": "integer", "minimum": 1, **({"maximum": num_takes} if num_takes else {})},
        "reference": {"type": "integer", "minimum": 0},
        "retake": {"type": "boolean"},
        "explanation": {"type": "string"},
    }
    if num_lines > 1:
        properties["lines"] = {"type": "array", "items": {"type": "integer", "minimum": 1, "maximum": num_lines}}
    return {"type": "object", "properties": properties, "required": ["explanation"], "additionalProperties": False}


def scene_line(number: int, text: str, direction: dict) -> str:
    """A line of the scene as a note's reader is shown it: number, speaker, words, how it is directed."""
    who = direction.get("speaker") or "(no speaker named)"
    return (f'{number}. {who}: "{text}" ({direction["emotion"]} {direction["intensity"]:.2f}, '
            f'pace {direction["pace"]:.2f})')  # fmt: skip


def note_question(note: str, direction: dict, conclusion: dict | None, num_takes: int, num_references: int,
                  scene: list[str] | None = None) -> str:  # fmt: skip
    """The user turn for a note: the current direction, what the director concluded, the scene's lines
    (`scene_line`) when it has several, the note, the format."""
    current = {k: direction[k] for k in ("emotion", "intensity", "pace", "pitch_shift", "loudness")}
    several = scene is not None and len(scene) > 1
    parts = [
        f"Current direction: {current}.",
        f"The director concluded: {conclusion}." if conclusion else "",
        ("The scene's lines:\n" + "\n".join(scene) + "\nA note may be for one line (\"line 3: angrier\", "
         "\"3: slower\"), for one character (\"Anna: softer\", \"make Ben calmer\") or for everyone. Set lines "
         "to the numbers of the lines it is for (all of a character's lines); leave lines out when it is for "
         "everyone.") if several else "",
        f"There are {num_takes} takes so far; {num_references} reference clips (index from 0).",
        f'The note: "{note}"',
        "Fields you may set: emotion (one of the labels), intensity (0-1, absolute) or intensity_delta "
        "(e.g. -0.2 for 'a little less'), pace (speaking-rate factor, 1.0 normal, 1.15 a bit faster), "
        "pitch_shift (semitones), loudness (dB), like_take (copy a take's delivery, from 1), reference "
        "(index of the reference clip to follow), retake (true when the note asks for a new take), "
        + ("lines (the lines the note is for), " if several else "")
        + "and explanation (one sentence: what you changed and why).",
        'Example: {"emotion": "fear", "intensity": 0.7, "retake": true, "explanation": "She is scared, not sad."}',
    ]
    return "\n".join(p for p in parts if p)


# The reference library's model-written parts (Authentic-Dubber): a scene description of a clip, and
# a listener's reaction to a line; both are embedded and compared as text.
DESCRIBE_SYSTEM = "You are a film editor cataloguing footage by its mood. Answer in one or two plain sentences."
DESCRIBE_SCENE_QUESTION = (
    "Describe this shot's setting, lighting and mood, and what the people in it seem to feel. "
    "Do not guess names."
)


def reaction_question(line: str) -> str:
    return f'Someone says: "{line}". In one sentence, how does a listener feel on hearing it, and why?'
