"""The CoT parser and the rules reasoner's CoT, on DeepDubber's gold answers and on sloppy text."""

from __future__ import annotations

from pathlib import Path

import pytest

from cinedub.agents.cot import parse_cot
from cinedub.agents.prompts import STAGES
from cinedub.agents.reasoners import RulesReasoner, load_reasoner, scene_type_from_counts
from cinedub.errors import CinedubError
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
