"""The VLM director: frames, prompts, parsing, the one repair, the fallback to rules, notes read by a
model, and `local:` end to end with a tiny Qwen2.5-VL (random weights, the real Qwen tokenizer).

The tiny model's answers are gibberish: they must visibly take the repair -> fallback path. Readable
answers come from test doubles of the model's *text* (gold CoT answers from DeepDubber's data, or
cinedub's JSON conclusion); everything around the text (prompts, parsing, validation) is the real code.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from cinedub.agents.frames import _fetch_with_pyav, sample_frames
from cinedub.agents.notes import interpret_note_with_model
from cinedub.agents.prompts import SCENE_TYPE_QUESTION, cot_answer_schema, grounding_text
from cinedub.agents.reasoners import RulesReasoner, load_reasoner
from cinedub.agents.vlm import ModelUnavailable, SampledVideo, VisionPrompt
from cinedub.agents.vlm_reasoner import MAX_NEW_TOKENS_ENV, VLMReasoner, build_reason_prompt
from cinedub.errors import CinedubError
from cinedub.training.datasets import read_cot_jsonl
from cinedub.types import Conclusion, Direction, Line, Perception, Person, Reference, TextEmotion, Window
from tests.conftest import COT_SAMPLE, run_cinedub

# A tiny random model rambles up to the token limit; 32 tokens keep each answer to a few seconds.
TINY_MAX_NEW_TOKENS = "32"
LINE = Line(text="Get out of my car.")


@pytest.fixture(autouse=True)
def _short_answers(monkeypatch):
    monkeypatch.setenv(MAX_NEW_TOKENS_ENV, TINY_MAX_NEW_TOKENS)


@pytest.fixture(scope="session")
def tiny_vlm_dir(tmp_path_factory) -> Path:
    """A tiny Qwen2.5-VL checkpoint folder: random weights, the real tokenizer, image + video processors."""
    from cinedub.training.models import save_tiny_vlm

    return save_tiny_vlm(tmp_path_factory.mktemp("tiny-qwen2.5-vl"))


class ScriptedModel:
    """A test double of the model's text only: answers in turn, and keeps every prompt it was given."""

    def __init__(self, *answers: str | Exception, name: str = "scripted") -> None:
        self.answers = list(answers)
        self.prompts: list[VisionPrompt] = []
        self.name = name

    def generate(self, prompt: VisionPrompt, *, max_new_tokens: int) -> str:
        self.prompts.append(prompt)
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer


def _perception(people: int = 1, speaking: int = 1) -> Perception:
    persons = [
        Person(track_id=i, first_seen=0.0, last_seen=3.0, frames_seen=30, box=(0.2, 0.2, 0.3, 0.4),
               mouth_activity=0.1, talking=i < speaking, speaking_windows=[Window(start=0.5, end=2.5)],
               age=34, gender="male", facial_emotion="angry", facial_emotion_scores={"angry": 0.7, "neutral": 0.3})
        for i in range(people)
    ]  # fmt: skip
    return Perception(duration=4.0, sample_fps=10, num_frames=40, people=persons, num_people=people,
                      num_speaking=speaking, speaker_id=0 if speaking else None,
                      speaking_windows=[Window(start=0.5, end=2.5)] if speaking else [],
                      text=TextEmotion(emotion="angry", scores={"angry": 0.8, "neutral": 0.2}, valence=-0.6))  # fmt: skip


def _gold_rows(n: int) -> list:
    if not COT_SAMPLE.is_file():
        pytest.skip(f"{COT_SAMPLE} is not beside this checkout (../shared/data)")
    rows = [r for r in read_cot_jsonl(COT_SAMPLE) if r.answer and r.gold]
    by_scene = {}
    for row in rows:  # one of each scene type first, then the rest
        by_scene.setdefault(row.gold, row)
    return (list(by_scene.values()) + rows)[:n]


WELL_FORMED = (
    "<SUMMARY> I will count the people and those talking. </SUMMARY>\n"
    "<CAPTION> A woman sits alone in a car, talking, frightened. </CAPTION>\n"
    "<REASONING> There is one people; there is one people speaking; so a monologue. She looks about 30 and "
    "scared. </REASONING>\n"
    '<CONCLUSION> B {"scene_type": "monologue", "num_people": 1, "num_speaking": 1, "gender": "female", '
    '"age": 30, "emotion": "fear", "intensity": 0.7} </CONCLUSION>'
)


# ---------------------------------------------------------------------------------------------
# Frames: one sampler for every backend.


def test_frames_of_the_carphone_clip(carphone_clip):
    video = sample_frames(carphone_clip)  # 4.0 s at 29.97 fps, 120 frames; 2 fps asked
    assert video.reader == "decord"
    assert video.frames.dtype == np.uint8 and video.frames.ndim == 4 and video.frames.shape[-1] == 3
    assert len(video.frames) == 8 == len(video.times)  # 4 s x 2 fps, an even count
    assert video.frame_indices == [0, 17, 34, 51, 68, 85, 102, 119]  # evenly spread, first and last frame
    assert video.times == pytest.approx(np.array(video.frame_indices) / 29.97, abs=1e-3)
    assert video.fps == pytest.approx(2.0, abs=0.01) and video.source_fps == pytest.approx(29.97, abs=0.01)
    height, width = video.frames.shape[1:3]
    assert height % 28 == 0 and width % 28 == 0 and height * width <= 448 * 448
    assert video.frames.std() > 10  # real pictures, not blank
    fewer = sample_frames(carphone_clip, fps=1.0, max_frames=4)
    assert len(fewer.frames) == 4 and fewer.frame_indices[0] == 0 and fewer.frame_indices[-1] == 119


def test_the_pyav_fallback_picks_the_same_frames(carphone_clip):
    video = sample_frames(carphone_clip)
    frames, metadata, fps = _fetch_with_pyav(carphone_clip, fps=2.0, max_frames=32, max_pixels=448 * 448,
                                             min_pixels=4 * 28 * 28)  # fmt: skip
    assert metadata["frames_indices"] == video.frame_indices and fps == pytest.approx(video.fps)
    assert frames.shape == video.frames.shape
    # Two decoders and two bicubic resizers: the same pictures, within a few grey levels.
    assert np.abs(frames.astype(float) - video.frames.astype(float)).mean() < 8


def test_every_backend_is_shown_the_sampled_frames(carphone_clip):
    model = ScriptedModel(WELL_FORMED)
    VLMReasoner(model).reason(carphone_clip, _perception(), [LINE])
    shown = model.prompts[0].video
    expected = sample_frames(carphone_clip)
    assert isinstance(shown, SampledVideo) and shown.frame_indices == expected.frame_indices
    np.testing.assert_array_equal(shown.frames, expected.frames)


def test_sampling_a_missing_clip_is_a_clear_error(tmp_path):
    with pytest.raises(CinedubError, match="no video"):
        sample_frames(tmp_path / "nope.mp4")


# ---------------------------------------------------------------------------------------------
# Prompts.


def test_the_prompt_asks_deepdubbers_question_and_the_attributes():
    prompt = build_reason_prompt(None, _perception(), [LINE])
    assert SCENE_TYPE_QUESTION in prompt.question
    for word in ("old", "male or female", "emotion", "intense", "<CONCLUSION>", LINE.text):
        assert word in prompt.question
    assert "perception tools" not in prompt.question and prompt.json_schema is None  # not grounded by default


def test_grounding_gives_the_model_the_perception_facts():
    perception = _perception(people=2, speaking=1)
    prompt = build_reason_prompt(None, perception, [LINE], ground=True)
    assert grounding_text(perception) in prompt.question
    assert "2 people on screen" in prompt.question and "1 of them visibly talking" in prompt.question
    assert "male, about 34 years old" in prompt.question


def test_structured_prompts_carry_the_schema():
    prompt = build_reason_prompt(None, _perception(), [LINE], structured=True)
    assert prompt.json_schema == cot_answer_schema()
    assert prompt.json_schema["properties"]["conclusion"]["properties"]["emotion"]["enum"][0] == "angry"


# ---------------------------------------------------------------------------------------------
# The reasoner around text doubles.


def test_gold_answers_parse_into_the_conclusion(carphone_clip):
    rows = _gold_rows(6)
    model = ScriptedModel(*(row.answer for row in rows))
    reasoner = VLMReasoner(model)
    for row in rows:
        reasoning = reasoner.reason(carphone_clip, _perception(), [LINE])
        assert reasoning.backend == "scripted"
        assert reasoning.conclusion.scene_type == row.gold, row.answer
        assert reasoning.cot == row.answer.strip()
        # DeepDubber answers only the scene type and the counts: the speaker comes from perception.
        assert reasoning.conclusion.emotion == "angry" and reasoning.conclusion.gender == "male"
        assert any("taken from perception" in note for note in reasoning.notes)
    assert len({row.gold for row in rows}) == 3


def test_a_well_formed_json_conclusion_is_the_conclusion(carphone_clip):
    reasoning = VLMReasoner(ScriptedModel(WELL_FORMED)).reason(carphone_clip, _perception(), [LINE])
    assert reasoning.conclusion == Conclusion(scene_type="monologue", num_people=1, num_speaking=1, gender="female",
                                              age=30, emotion="fear", intensity=0.7)  # fmt: skip
    assert reasoning.conclusion.age_group == "adult"
    assert reasoning.notes == [] and reasoning.backend == "scripted"


def test_a_structured_answer_is_read_and_written_back_as_stages(carphone_clip):
    answer = json.dumps({"summary": "count", "caption": "two men, one talking", "reasoning": "so dialogue",
                         "conclusion": {"scene_type": "dialogue", "num_people": 2, "num_speaking": 1,
                                        "gender": "male", "age": 50, "emotion": "sad", "intensity": 0.4}})  # fmt: skip
    reasoning = VLMReasoner(ScriptedModel(answer), structured=True).reason(carphone_clip, _perception(2, 1), [LINE])
    assert reasoning.conclusion.scene_type == "dialogue" and reasoning.conclusion.emotion == "sad"
    assert "<CAPTION> two men, one talking </CAPTION>" in reasoning.cot and "<CONCLUSION> A {" in reasoning.cot


def test_a_bad_answer_is_repaired_once(carphone_clip):
    bad = '<CONCLUSION> B {"scene_type": "monologue", "num_people": 1, "num_speaking": 3} </CONCLUSION>'
    model = ScriptedModel(bad, WELL_FORMED)
    reasoning = VLMReasoner(model).reason(carphone_clip, _perception(), [LINE])
    assert reasoning.conclusion.emotion == "fear" and reasoning.backend == "scripted"
    assert len(model.prompts) == 2
    repair = model.prompts[1]
    assert repair.history[0] == {"role": "assistant", "content": bad}
    assert repair.history[1]["role"] == "user" and "3 people speaking but only 1 on screen" in repair.history[1]["content"]
    assert repair.video is model.prompts[0].video and repair.question == model.prompts[0].question
    assert "asked once more" in reasoning.notes[0] and "the repaired answer was readable" in reasoning.notes


def test_unreadable_twice_falls_back_to_rules(carphone_clip):
    model = ScriptedModel("I think the video is nice.", "<CONCLUSION> D </CONCLUSION>")
    perception = _perception()
    reasoning = VLMReasoner(model).reason(carphone_clip, perception, [LINE])
    assert reasoning.backend == "scripted→rules"
    assert reasoning.conclusion == RulesReasoner().reason(carphone_clip, perception, [LINE]).conclusion
    assert "model answer unreadable twice: no scene type in the conclusion" in reasoning.notes[-1]
    assert reasoning.notes[-1].endswith("used rules")


def test_an_unavailable_model_falls_back_to_rules(carphone_clip):
    reasoning = VLMReasoner(ScriptedModel(ModelUnavailable("server down"))).reason(carphone_clip, _perception(), [LINE])
    assert reasoning.backend == "scripted→rules"
    assert reasoning.notes == ["model unavailable: server down; used rules"]
    # ... also when it fails on the repair
    model = ScriptedModel("gibberish", ModelUnavailable("timed out"))
    reasoning = VLMReasoner(model).reason(carphone_clip, _perception(), [LINE])
    assert reasoning.backend == "scripted→rules" and reasoning.notes[-1] == "model unavailable: timed out; used rules"


# ---------------------------------------------------------------------------------------------
# Notes read by the model.


def _direction(**kw) -> Direction:
    refs = [Reference(clip_id=f"ref{i}", audio=f"/r{i}.wav", score=0.9 - i / 10) for i in range(3)]
    return Direction(window=Window(start=0.5, end=2.5), voice="/v.wav", references=refs, **kw)


def test_a_note_becomes_direction_changes():
    answer = ('Sure. {"emotion": "fear", "intensity": 0.75, "pace": 0.9, "retake": true, '
              '"explanation": "She is scared, not sad, and holds the last word"}')  # fmt: skip
    model = ScriptedModel(answer)
    direction = _direction(emotion="sad", intensity=0.6)
    result = interpret_note_with_model(model, "she's scared, not sad - and hold the last word", direction,
                                       {"scene_type": "monologue"}, [direction])  # fmt: skip
    assert (result.direction.emotion, result.direction.intensity, result.direction.pace) == ("fear", 0.75, 0.9)
    assert result.retake and result.interpreter == "scripted"
    assert "She is scared, not sad" in result.message and "emotion sad -> fear" in result.message
    prompt = model.prompts[0]
    assert prompt.json_schema["properties"]["emotion"]["enum"][2] == "fear"
    assert "hold the last word" in prompt.question and "'emotion': 'sad'" in prompt.question


def test_a_note_can_pick_a_reference_a_take_and_nudge_intensity():
    direction = _direction(emotion="angry", intensity=0.5, pitch_shift=2.0)
    first = _direction(emotion="happy", intensity=0.8)
    result = interpret_note_with_model(
        ScriptedModel('{"like_take": 1, "reference": 2, "explanation": "like the first, closer to ref2"}'),
        "like the first take, but follow the last reference", direction, None, [first, direction])
    assert (result.direction.emotion, result.direction.intensity, result.direction.pitch_shift) == ("happy", 0.8, 0.0)
    assert [r.clip_id for r in result.direction.references] == ["ref2", "ref0", "ref1"] and result.retake
    nudged = interpret_note_with_model(ScriptedModel('{"intensity_delta": -0.2, "explanation": "a bit less"}'),
                                       "a little less", direction, None, [direction])  # fmt: skip
    assert nudged.direction.intensity == 0.3
    again = interpret_note_with_model(ScriptedModel('{"retake": true, "explanation": "another go"}'), "again",
                                      direction, None, [direction])  # fmt: skip
    assert again.retake and again.direction.seed == direction.seed + 1 and not again.changes


@pytest.mark.parametrize("answer", ["angrier it is!", '{"emotion": "furious", "explanation": "x"}',
                                    '{"pace": 7, "explanation": "x"}', ModelUnavailable("down")])  # fmt: skip
def test_an_unusable_reading_of_a_note_falls_back_to_the_rules(answer):
    direction = _direction(emotion="angry", intensity=0.5)
    result = interpret_note_with_model(ScriptedModel(answer), "angrier", direction, None, [direction])
    assert result.interpreter == "rules" and result.direction.intensity == 0.7  # the rule: +0.2
    assert "the rule interpreter read it" in result.message


# ---------------------------------------------------------------------------------------------
# `local:` with a tiny Qwen2.5-VL on real footage.


def test_local_spec_errors_are_one_line(tmp_path):
    with pytest.raises(CinedubError, match="no such model folder"):
        load_reasoner(f"local:{tmp_path / 'missing'}")
    with pytest.raises(CinedubError, match="not a model folder"):
        load_reasoner(f"local:{tmp_path}")
    (tmp_path / "config.json").write_text('{"model_type": "bert"}')
    with pytest.raises(CinedubError, match="not a vision-language model"):
        load_reasoner(f"local:{tmp_path}")
    with pytest.raises(CinedubError, match="needs a model folder"):
        load_reasoner("local:")


def test_the_tiny_model_answers_gibberish_and_the_director_falls_back(tiny_vlm_dir, carphone_clip):
    from cinedub.agents.local_model import TransformersChat

    reasoner = load_reasoner(f"local:{tiny_vlm_dir}", ground=True)
    assert isinstance(reasoner, VLMReasoner) and isinstance(reasoner.model, TransformersChat)
    assert reasoner.model._sized_for_model(reasoner.frames(carphone_clip))  # Qwen2.5-VL: 28-px patches, no resize
    assert load_reasoner(f"local:{tiny_vlm_dir}").model.model is reasoner.model.model  # loaded once per process
    # One model loader: the director's context holds the model its reasoner asks (and hands to the note
    # interpreter and the library's describer); a rules director has none.
    from cinedub.agents.context import DirectorContext
    from cinedub.agents.descriptions import load_describer

    context = DirectorContext.for_reasoner(f"local:{tiny_vlm_dir}", actor=None)
    assert context.model is context.reasoner.model and isinstance(context.model, TransformersChat)
    assert load_describer(f"local:{tiny_vlm_dir}").model.model is reasoner.model.model
    assert DirectorContext.for_reasoner("rules", actor=None).model is None
    assert DirectorContext.for_reasoner(reasoner, actor=None).model is reasoner.model
    prompt = build_reason_prompt(reasoner.frames(carphone_clip), _perception(), [LINE], ground=True)
    answer = reasoner.model.generate(prompt, max_new_tokens=8)
    assert isinstance(answer, str)
    # greedy: the same frames and question give the same answer
    assert reasoner.model.generate(prompt, max_new_tokens=8) == answer
    reasoning = reasoner.reason(carphone_clip, _perception(), [LINE])
    assert reasoning.backend == f"local:{tiny_vlm_dir}→rules"
    assert "asked once more" in reasoning.notes[0] and "unreadable twice" in reasoning.notes[-1]


def test_a_tiny_qwen3_vl_watches_the_clip_through_local(tmp_path, carphone_clip):
    """Qwen3-VL's patches are 16 px: its processor resizes the 28-px-multiple frames itself."""
    from cinedub.agents.local_model import TransformersChat
    from cinedub.training.models import save_tiny_qwen3_vl

    save_tiny_qwen3_vl(tmp_path)
    chat = TransformersChat(tmp_path)
    video = sample_frames(carphone_clip)
    assert chat.model_type == "qwen3_vl" and not chat._sized_for_model(video)
    prompt = build_reason_prompt(video, None, [LINE])
    answer = chat.generate(prompt, max_new_tokens=6)
    assert isinstance(answer, str) and chat.generate(prompt, max_new_tokens=6) == answer


def test_cinedub_dub_with_a_local_model_on_real_footage(tiny_vlm_dir, sample, tmp_path):
    out = tmp_path / "out"
    spec = f"local:{tiny_vlm_dir}"
    first = run_cinedub("dub", sample.clip, "--voice", sample.voice, "--line", sample.line, "--reasoner", spec,
                        "--out", out, "--session", "vlm")  # fmt: skip
    assert first.returncode == 0, first.stderr
    direction = json.loads((out / "direction.json").read_text())
    assert direction["reasoner"] == f"{spec}→rules"
    notes = direction["reasoner_notes"]
    assert "model answer unreadable" in notes[0] and "asked once more" in notes[0]
    assert notes[-1].startswith("model answer unreadable twice") and notes[-1].endswith("used rules")
    assert direction["conclusion"]["scene_type"] == "monologue" and "<CONCLUSION>" in direction["cot"]
    assert (out / "dub.mp4").is_file() and (out / "take-001.wav").is_file()
    # A note: the tiny model reads it first, cannot, and the rule interpreter makes the take.
    second = run_cinedub("dub", sample.clip, "--voice", sample.voice, "--line", sample.line, "--reasoner", spec,
                         "--session", "vlm", "--note", "again, but angrier")  # fmt: skip
    assert second.returncode == 0, second.stderr
    assert "the rule interpreter read it" in second.stdout
    take2 = json.loads((out / "direction.json").read_text())
    assert take2["take"] == 2 and take2["direction"]["emotion"] == "angry"


def test_cinedub_classify_with_a_local_model(tiny_vlm_dir, carphone_clip, tmp_path):
    spec = f"local:{tiny_vlm_dir}"
    result = run_cinedub("classify", "--reasoner", spec, carphone_clip)
    assert result.returncode == 0, result.stderr
    record = json.loads(result.stdout.strip().splitlines()[-1])
    assert record["reasoner"] == f"{spec}→rules"  # the tiny model's answer was unreadable twice
    assert record["scene_type"] == "monologue" and "error" not in record


def test_a_vlm_director_runs_the_whole_graph_and_reads_both_notes(sample, tmp_path):
    """The graph with a VLM reasoner whose *text* is scripted (no server, no weights): its conclusion
    directs take 1, the first note (given with take 1) and a later note are read by the model."""
    from cinedub.studio import Studio

    first_note = '{"emotion": "fear", "intensity": 0.8, "retake": true, "explanation": "He is scared of the road"}'
    later_note = '{"pace": 1.2, "retake": true, "explanation": "Faster, he is in a hurry"}'
    model = ScriptedModel(WELL_FORMED, first_note, later_note)
    studio = Studio(reasoner=VLMReasoner(model))
    first = studio.dub(sample.clip, [Line(text=sample.line)], sample.voice, session="vlm", out=tmp_path / "dub",
                       note="he's scared, not angry")  # fmt: skip
    saved = json.loads((tmp_path / "dub" / "direction.json").read_text())
    assert saved["reasoner"] == "scripted" and saved["conclusion"]["gender"] == "female"  # the model's, not perception's
    assert (first.take.direction.emotion, first.take.direction.intensity) == ("fear", 0.8)
    assert any("He is scared of the road" in m for m in first.messages)
    second = studio.dub(sample.clip, [Line(text=sample.line)], sample.voice, session="vlm", note="faster")
    assert second.take.index == 2 and second.take.direction.pace == 1.2 and second.take.direction.emotion == "fear"
    assert "faster" in model.prompts[-1].question and len(model.prompts) == 3
