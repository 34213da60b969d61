"""The director on real footage: scene type from perception facts, and the graph's first take."""

from __future__ import annotations

import pytest

from cinedub.agents.cot import parse_cot
from cinedub.agents.perception import perceive
from cinedub.agents.reasoners import RulesReasoner
from cinedub.types import Line
from tests.conftest import pyfeat


@pytest.mark.parametrize(
    ("clip", "scene", "people", "speaking"),
    [
        ("carphone", "monologue", 1, 1),  # the man talking in the car
        ("single_face.mp4", "narration", 1, 0),  # a smiling man who does not talk
        ("no_face.mp4", "narration", 0, 0),  # nobody on screen
    ],
)
def test_scene_type_on_real_footage(clip, scene, people, speaking, carphone_clip):
    path = carphone_clip if clip == "carphone" else pyfeat(clip)
    perception = perceive(path, "Where were you last night?")
    reasoning = RulesReasoner().reason(path, perception, [Line(text="Where were you last night?")])
    c = reasoning.conclusion
    assert (c.scene_type, c.num_people, c.num_speaking) == (scene, people, speaking)
    assert parse_cot(reasoning.cot).conclusion == c


def test_classify_writes_a_json_line_per_clip_and_scores_labels(tmp_path, carphone_clip):
    import json

    from tests.conftest import run_cinedub

    manifest = tmp_path / "labels.jsonl"
    rows = [{"video": str(carphone_clip), "scene_type": "monologue"},
            {"video": str(pyfeat("no_face.mp4")), "label": "C"}]  # fmt: skip
    manifest.write_text("".join(json.dumps(r) + "\n" for r in rows))
    out = tmp_path / "preds.jsonl"
    result = run_cinedub("classify", "--manifest", manifest, "--videos-root", "/", "--out", out)
    assert result.returncode == 0, result.stderr
    preds = [json.loads(line) for line in out.read_text().splitlines()]
    assert [p["scene_type"] for p in preds] == ["monologue", "narration"]
    assert all(p["correct"] for p in preds) and all("<CONCLUSION>" in p["cot"] for p in preds)
    assert "Ave.Acc 100.00  Ave.Recall 100.00" in result.stdout
