"""The CoT parser and the rules reasoner's CoT, on DeepDubber's gold answers and on sloppy text."""

from __future__ import annotations

from pathlib import Path

import pytest

from cinedub.agents.cot import parse_cot
from cinedub.agents.prompts import STAGES
from cinedub.agents.reasoners import RulesReasoner, load_reasoner, scene_type_from_counts
from cinedub.errors import CinedubError
from cinedub.labels import EMOTIONS
from cinedub.types import Perception, Person, TextEmotion, Window
from tests.conftest import COT_SAMPLE, run_cinedub

GOLD_B = (
    "Summary stage: What's the problem? What should I do?\n<SUMMARY> I will examine the video </SUMMARY>\n"
    "Caption stage: What can I know from the video?\n<CAPTION> The video shows a scene with one people in it. "
    "Notably, the people is talking in the scene. </CAPTION>\nReasoning stage: How to solve the problem?\n"
    "<REASONING> First, I will count all the people in the video: there is one people. Next, I will count the "
    "number of people speaking in the video: there is one people speaking in this video. </REASONING>\n"
    "Conclusion stage: What is the final answer?\n<CONCLUSION> B </CONCLUSION>"
)


def test_deepdubber_gold_answer():
    parsed = parse_cot(GOLD_B)
    assert parsed.well_formed
    assert (parsed.conclusion.scene_type, parsed.conclusion.num_people, parsed.conclusion.num_speaking) == ("monologue", 1, 1)


@pytest.mark.parametrize(
    ("text", "scene"),
    [
        ("<CONCLUSION> A", "dialogue"),  # truncated: no closing tag
        ("<SUMMARY> s <CAPTION> c </CAPTION> <CONCLUSION> C </CONCLUSION>", "narration"),  # missing closing tag
        ("<CONCLUSION> B </CONCLUSION> <SUMMARY> x </SUMMARY> <REASONING> y </REASONING>", "monologue"),  # order
        ("Sure! Let me think.\n<CONCLUSION>A</CONCLUSION>\nHope this helps.", "dialogue"),  # extra prose
        ('```json\n{"scene_type": "narration", "num_people": 0}\n```', "narration"),  # JSON in a fence
        ("<CONCLUSION> b </CONCLUSION>", "monologue"),  # lowercase letter
        ("Answer: B", "monologue"),
        ("the answer is a monologue", "monologue"),  # the article "a" is not the letter A
        ("<CONCLUSION> The voice-over is narration. </CONCLUSION>", "narration"),  # in words
        ("<CONCLUSION> it's a dialog </CONCLUSION>", "dialogue"),
        ("<CONCLUSION> (C) </CONCLUSION>", "narration"),
    ],
)
def test_tolerant_parsing(text, scene):
    parsed = parse_cot(text)
    assert parsed.ok, parsed.error
    assert parsed.conclusion.scene_type == scene


def test_out_of_order_is_not_well_formed():
    parsed = parse_cot("<CONCLUSION> B </CONCLUSION> <SUMMARY> x </SUMMARY> <CAPTION> c </CAPTION> <REASONING> r </REASONING>")
    assert parsed.ok and not parsed.well_formed


@pytest.mark.parametrize(
    "text",
    ["", "I cannot tell.", "<CONCLUSION> D </CONCLUSION>", "<CONCLUSION> dialogue or narration </CONCLUSION>",
     '<CONCLUSION> {"scene_type": "dialogue", "num_people": 1, "num_speaking": 3} </CONCLUSION>',
     '<CONCLUSION> {"scene_type": "monologue", "emotion": "bored"} </CONCLUSION>'],
)  # fmt: skip
def test_unparseable_or_invalid_answers_say_why(text):
    parsed = parse_cot(text)
    assert not parsed.ok and parsed.error


def _perception(people: int, speaking: int, text_emotion: str = "angry") -> Perception:
    persons = [
        Person(track_id=i, first_seen=0.0, last_seen=3.0, frames_seen=30, box=(0.2, 0.2, 0.3, 0.4), mouth_activity=0.1,
               talking=i < speaking, speaking_windows=[Window(start=0.5, end=2.5)] if i < speaking else [],
               age=34, gender="male", facial_emotion="angry",
               facial_emotion_scores={"angry": 0.7, "neutral": 0.3})  # fmt: skip
        for i in range(people)
    ]
    return Perception(
        duration=3.0, sample_fps=10, num_frames=30, people=persons, num_people=people, num_speaking=speaking,
        speaker_id=0 if speaking else None, speaking_windows=persons[0].speaking_windows if speaking else [],
        text=TextEmotion(emotion=text_emotion, scores={text_emotion: 0.8, "neutral": 0.2}, valence=-0.6),
    )  # fmt: skip


@pytest.mark.parametrize(("people", "speaking", "scene"), [(1, 1, "monologue"), (2, 1, "dialogue"), (3, 2, "dialogue"),
                                                            (2, 0, "narration"), (0, 0, "narration")])  # fmt: skip
def test_rules_reasoner_cot_parses_back_to_its_conclusion(people, speaking, scene):
    reasoning = RulesReasoner().reason(Path("clip.mp4"), _perception(people, speaking), [])
    parsed = parse_cot(reasoning.cot)
    assert parsed.well_formed
    assert list(parsed.stages) == list(STAGES)
    assert parsed.conclusion == reasoning.conclusion
    assert reasoning.conclusion.scene_type == scene == scene_type_from_counts(people, speaking)
    assert reasoning.conclusion.emotion == "angry"
    if speaking:
        assert (reasoning.conclusion.gender, reasoning.conclusion.age_group) == ("male", "adult")


def test_unknown_reasoner_is_a_clear_error():
    with pytest.raises(CinedubError, match="unknown reasoner"):
        load_reasoner("telepathy")


def test_cot_check_on_deepdubbers_gold_sample():
    if not COT_SAMPLE.is_file():
        pytest.skip(f"{COT_SAMPLE} is not beside this checkout (../shared/data)")
    result = run_cinedub("cot", "check", COT_SAMPLE)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    assert lines[-1] == "parsed 772/772, matched 772/772"
    assert len(lines) == 773


def test_cot_check_counts_unparsed_and_mismatched_rows(tmp_path):
    rows = tmp_path / "rows.jsonl"
    rows.write_text(
        '{"id": 1, "answer": "<CONCLUSION> B </CONCLUSION>", "scene_type": "monologue"}\n'
        '{"id": 2, "prediction": "<CONCLUSION> A </CONCLUSION>", "label": "C"}\n'
        '{"id": 3, "answer": "no idea", "label": "A"}\n'
        "not json\n"
    )
    result = run_cinedub("cot", "check", rows)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "parsed 2/4, matched 1/4"
    assert "MISMATCH" in result.stdout


# ---------------------------------------------------------------------------------------------
# Robustness: what VLMs really write (truncated, untagged, reordered, chatty, fenced, in words).


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # truncated inside the JSON: the letter before it still answers
        ('<CONCLUSION> B {"scene_type": "monologue", "num_peo', {"scene_type": "monologue"}),
        # truncated after the conclusion's letter; the counts come from the reasoning
        ("<REASONING> there are three people; there is no one speaking </REASONING> <CONCLUSION> C",
         {"scene_type": "narration", "num_people": 3, "num_speaking": 0}),
        # no tags at all
        ("Answer: b", {"scene_type": "monologue"}),
        ("The final answer is C.", {"scene_type": "narration"}),
        # tags in lowercase, with spaces, or repeated (the first conclusion counts)
        ("<conclusion> b </conclusion>", {"scene_type": "monologue"}),
        ("< CONCLUSION > C </ CONCLUSION >", {"scene_type": "narration"}),
        ("<CONCLUSION> B </CONCLUSION> <CONCLUSION> A </CONCLUSION>", {"scene_type": "monologue"}),
        # stages out of order, the conclusion first with its JSON
        ('<CONCLUSION> A {"scene_type": "dialogue", "num_people": 2, "num_speaking": 1} </CONCLUSION> '
         "<REASONING> there are two people </REASONING> <SUMMARY> s </SUMMARY>",
         {"scene_type": "dialogue", "num_people": 2, "num_speaking": 1}),
        # prose after the answer that names another option
        ("<CONCLUSION> C </CONCLUSION> Note: option A was considered.", {"scene_type": "narration"}),
        # JSON in a code fence inside the conclusion
        ('<CONCLUSION>\n```json\n{"scene_type": "dialogue", "num_people": 2, "num_speaking": 2}\n```\n</CONCLUSION>',
         {"scene_type": "dialogue", "num_people": 2, "num_speaking": 2}),
        # markdown and words around the letter; the conclusion in words, with a negation
        ("<CONCLUSION> **Answer:** (B) monologue </CONCLUSION>", {"scene_type": "monologue"}),
        ("<CONCLUSION> B. monologue </CONCLUSION>", {"scene_type": "monologue"}),
        ("<CONCLUSION> Monologue. </CONCLUSION>", {"scene_type": "monologue"}),
        ("<CONCLUSION> the category is narration, not dialogue </CONCLUSION>", {"scene_type": "narration"}),
        # the JSON's own values in words or another case
        ('<CONCLUSION> {"scene_type": "B"} </CONCLUSION>', {"scene_type": "monologue"}),
        ('<CONCLUSION> Option B: monologue {"scene_type": "Monologue", "gender": "Female", "emotion": "fearful", '
         '"age": "about 30", "intensity": "0.6", "num_people": "one"} </CONCLUSION>',
         {"scene_type": "monologue", "gender": "female", "emotion": "fear", "age": 30, "age_group": "adult",
          "intensity": 0.6, "num_people": 1}),
        # a structured-output answer: one JSON object with the stages as keys
        ('{"summary": "s", "caption": "c", "reasoning": "r", "conclusion": {"scene_type": "narration", '
         '"num_people": 0, "num_speaking": 0}}', {"scene_type": "narration", "num_people": 0, "num_speaking": 0}),
    ],
)  # fmt: skip
def test_cot_robustness(text, expected):
    parsed = parse_cot(text)
    assert parsed.ok, parsed.error
    assert parsed.conclusion.model_dump(exclude_none=True) == expected


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("<SUMMARY> x </SUMMARY><CAPTION> The video shows a scene with two people in it. <REASONING> First, I",
         "no scene type"),  # truncated before any answer
        ('<CONCLUSION> A {"scene_type": "narration"} </CONCLUSION>', "says dialogue but its JSON says narration"),
        ("игровые игровые A игровые", "no scene type"),  # gibberish with a stray letter inside
        ('<CONCLUSION> {"scene_type": "monologue", "age": "unknown age", "gender": "robot"} </CONCLUSION>', "gender"),
    ],
)  # fmt: skip
def test_cot_robustness_failures_say_why(text, error):
    parsed = parse_cot(text)
    assert not parsed.ok and error in parsed.error


def test_a_structured_answer_is_well_formed_after_rewriting():
    parsed = parse_cot('```json\n{"summary": "s", "caption": "c", "reasoning": "r", '
                       '"conclusion": {"scene_type": "dialogue"}}\n```')  # fmt: skip
    assert parsed.well_formed and parsed.letter == "A" and parsed.stages["CAPTION"] == "c"


def test_the_vlm_schema_and_the_direction_bounds_come_from_the_models():
    """One source: the structured-output schema is the Conclusion model's, the note bounds Direction's."""
    from cinedub.agents.prompts import conclusion_schema, note_changes_schema
    from cinedub.types import DIRECTION_BOUNDS, Direction

    schema = conclusion_schema()
    assert schema["properties"]["age"] == {"type": ["integer", "null"], "minimum": 0, "maximum": 120}
    assert schema["properties"]["emotion"]["enum"] == list(EMOTIONS)
    assert schema["properties"]["intensity"] == {"type": "number", "minimum": 0.0, "maximum": 1.0}
    assert set(schema["required"]) == set(schema["properties"]) and schema["additionalProperties"] is False
    assert DIRECTION_BOUNDS["pace"] == (0.5, 2.0) and DIRECTION_BOUNDS["pitch_shift"] == (-12.0, 12.0)
    notes = note_changes_schema()["properties"]
    for name, (low, high) in DIRECTION_BOUNDS.items():
        assert (notes[name]["minimum"], notes[name]["maximum"]) == (low, high)
        with pytest.raises(ValueError):
            Direction(window=Window(start=0.0, end=1.0), voice="v.wav", **{name: high + 1})
