"""A plan per line: notes to one line retake that line only; the other lines' audio is kept byte for byte,
and the soundtrack is re-assembled from the lines' files."""

from __future__ import annotations

import hashlib
import json
import sqlite3
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from langgraph.checkpoint.sqlite import SqliteSaver

from cinedub.agents.notes import interpret_note
from cinedub.agents.plan import addressed, apply_note, first_plan
from cinedub.cli import main
from cinedub.errors import CinedubError
from cinedub.studio import Studio
from cinedub.types import Direction, Line, Window
from tests.conftest import run_cinedub

# Three lines of the sample, each in its own cue of the 4 s clip.
LINES = [("Listen to me.", 0.2, 1.2), ("We drive back tonight.", 1.5, 2.7), ("No matter what.", 2.9, 3.9)]


def _rules(note, direction, history):
    return interpret_note(note, direction, history)


def _plan():
    windows = [Window(start=a, end=b) for _, a, b in LINES]
    return first_plan(Direction(window=windows[0], voice="v.wav"), windows)


@pytest.mark.parametrize("note, lines, rest", [
    ("line 2, angrier", [2], "angrier"),
    ("Line 3: slower", [3], "slower"),
    ("for lines 1 and 3 louder", [1, 3], "louder"),
    ("line 2", [2], "again"),
    ("again, but angrier", None, "again, but angrier"),
    ("online, slower", None, "online, slower"),
])  # fmt: skip
def test_a_note_names_its_lines(note, lines, rest):
    assert addressed(note) == (lines, rest)


def test_a_note_to_one_line_changes_that_line_only():
    plan = _plan()
    result = apply_note(plan, "line 3: slower", [], _rules)
    assert result.retake and result.message.startswith("Line 3: Changed pace")
    assert result.plan.lines[2].pace < 1.0 and result.plan.lines[2].window == plan.lines[2].window
    assert result.plan.lines[:2] == plan.lines[:2] and result.plan.scene == plan.scene
    both = apply_note(plan, "lines 1 and 3: louder", [], _rules)
    assert [d.loudness for d in both.plan.lines] == [3.0, 0.0, 3.0]


def test_a_note_to_no_line_moves_every_line_and_the_scene():
    plan = apply_note(_plan(), "line 2, angrier", [], _rules).plan
    result = apply_note(plan, "slower", [], _rules)
    assert all(d.pace < 1.0 for d in (*result.plan.lines, result.plan.scene))
    assert [d.emotion for d in result.plan.lines] == ["neutral", "angry", "neutral"]  # line 2 keeps its own
    assert "Lines 1, 3:" in result.message and "Line 2:" in result.message  # read once per distinct direction


def test_a_note_to_a_line_that_is_not_there_makes_no_take():
    result = apply_note(_plan(), "line 5, angrier", [], _rules)
    assert not result.retake and "no line 5" in result.message and result.plan == _plan()


def _sha(path: str | Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def test_a_retake_of_line_2_keeps_lines_1_and_3(sample, tmp_path, capsys, cinedub_home):
    lines = [Line(text=text, window=Window(start=a, end=b)) for text, a, b in LINES]
    studio = Studio()
    first = studio.dub(sample.clip, lines, sample.voice, session="three", out=tmp_path / "out")
    second = studio.dub(sample.clip, lines, sample.voice, session="three", note="line 2, angrier")
    assert (first.take.rerendered, second.take.index, second.take.rerendered) == ([1, 2, 3], 2, [2])
    assert [r.direction.emotion for r in second.take.lines] == ["neutral", "angry", "neutral"]
    old, new = first.take.lines, second.take.lines
    assert all(Path(r.path).parent.name == "take-002" for r in new)  # each take holds all its lines' files
    assert [_sha(a.path) == _sha(b.path) for a, b in zip(old, new)] == [True, False, True]
    # the soundtrack is re-assembled from the files: lines 1 and 3 sound sample for sample as before
    track1, rate = sf.read(first.take.path, dtype="int16")
    track2, _ = sf.read(second.take.path, dtype="int16")
    for kept in (old[0], old[2]):
        line, line_rate = sf.read(kept.path, dtype="float32")
        assert line_rate == rate
        span = slice(int(round(kept.start * rate)), int(round(kept.start * rate)) + len(line))
        assert np.array_equal(track1[span], track2[span]) and np.any(track1[span])
    begin = int(round(old[1].start * rate))
    span = slice(begin, begin + len(sf.read(old[1].path)[0]))
    assert not np.array_equal(track1[span], track2[span])
    capsys.readouterr()
    assert main(["takes", "three"]) == 0
    shown = capsys.readouterr().out.splitlines()
    assert "rendered: all lines" in shown[0] and "rendered: line 2\t" in shown[1]
    # the typed session reopens in a new process and takes a note to one line there too
    srt = tmp_path / "three.srt"
    srt.write_text("".join(f"{i}\n00:00:0{a:.3f} --> 00:00:0{b:.3f}\n{text}\n\n".replace(".", ",", 2)
                           for i, (text, a, b) in enumerate(LINES, 1)))  # fmt: skip
    third = run_cinedub("dub", sample.clip, "--srt", srt, "--voice", sample.voice, "--session", "three",
                        "--note", "line 3: slower", home=cinedub_home)  # fmt: skip
    assert third.returncode == 0, third.stderr
    assert [t.rerendered for t in Studio().takes("three")] == [[1, 2, 3], [2], [3]]
    # every checkpoint of the session holds JSON values only (the typed state is dumped at the boundary)
    with sqlite3.connect(cinedub_home / "sessions.sqlite") as conn:
        checkpoints = SqliteSaver(conn).list({"configurable": {"thread_id": "three"}})
        saved = [c.checkpoint["channel_values"] for c in checkpoints]
    states = [{k: v for k, v in values.items() if not k.startswith(("__", "branch:"))} for values in saved]
    assert sum("plan" in state and "takes" in state for state in states) > 5
    assert all(json.loads(json.dumps(state)) == state for state in states)


def test_new_words_for_one_line_re_render_that_line_only(sample, tmp_path, cinedub_home):
    lines = [Line(text=text, window=Window(start=a, end=b)) for text, a, b in LINES]
    studio = Studio()
    first = studio.dub(sample.clip, lines, sample.voice, session="words", out=tmp_path / "out")
    edited = [*lines[:1], lines[1].model_copy(update={"text": "We ride home tonight."}), *lines[2:]]
    second = studio.dub(sample.clip, edited, sample.voice, session="words")
    assert (second.take.index, second.take.rerendered) == (2, [2])
    assert [r.text for r in second.take.lines] == [line.text for line in edited]
    assert "line 2" in " ".join(second.messages)
    assert [_sha(a.path) == _sha(b.path) for a, b in zip(first.take.lines, second.take.lines)] == [True, False, True]
    # more than words changed is another script: one line, nothing done
    moved = [*edited[:2], edited[2].model_copy(update={"window": Window(start=3.0, end=3.9)})]
    with pytest.raises(CinedubError, match="only its lines' words"):
        studio.dub(sample.clip, moved, sample.voice, session="words")
    with pytest.raises(CinedubError, match="not both"):
        studio.dub(sample.clip, lines, sample.voice, session="words", note="slower")
    assert len(studio.takes("words")) == 2


def test_a_session_saved_before_plans_per_line_still_takes_notes(sample, tmp_path, capsys):
    """The state the release before per-line plans checkpointed (one `direction`, the lines' `base_windows`,
    takes without their lines), written through the real SqliteSaver, opens and takes notes."""
    lines = [Line(text=text, window=Window(start=a, end=b)) for text, a, b in LINES]
    studio = Studio()
    studio.dub(sample.clip, lines, sample.voice, session="new", out=tmp_path / "new")
    values = studio.session("new")

    def old_direction(direction: dict) -> dict:
        return {k: v for k, v in direction.items() if k != "speaker"}  # a field that release did not have

    old = {k: v for k, v in values.items() if k not in ("plan", "waiting_for_note")}
    old.update(direction=old_direction(values["plan"]["scene"]), out_dir=str(tmp_path / "old"),
               base_windows=[d["window"] for d in values["plan"]["lines"]],
               takes=[{**{k: v for k, v in t.items() if k != "lines"}, "direction": old_direction(t["direction"])}
                      for t in values["takes"]])  # fmt: skip
    (tmp_path / "old").mkdir()
    config = {"configurable": {"thread_id": "old"}}
    with studio._graph() as graph:
        graph.update_state(config, old, as_node="export")
        graph.invoke(None, config, context=studio.context())  # on to wait_for_note, as that release left it
    assert studio.session("old")["waiting_for_note"] and "plan" not in studio.session("old")
    second = studio.dub(sample.clip, lines, sample.voice, session="old", note="line 2, angrier")
    assert second.take.index == 2 and second.take.rerendered == [1, 2, 3]  # take 1 kept no line files
    assert [r.direction.emotion for r in second.take.lines] == ["neutral", "angry", "neutral"]
    third = studio.dub(sample.clip, lines, sample.voice, session="old", note="line 3: slower")
    assert third.take.rerendered == [3]
    capsys.readouterr()
    assert main(["takes", "old"]) == 0
    assert "rendered: -\t" in capsys.readouterr().out.splitlines()[0]
    # a state this version cannot read at all: one line that says what to do
    with studio._graph() as graph:
        odd = {**old, "fit_scale": "wide"}
        graph.update_state({"configurable": {"thread_id": "odd"}}, odd, as_node="export")
    with pytest.raises(CinedubError, match=r"fit_scale.*start a new session with --session NAME"):
        studio.dub(sample.clip, lines, sample.voice, session="odd", note="again")


def test_a_session_with_no_plan_at_all_fails_with_one_line():
    from cinedub.agents.plan import state_plan
    from cinedub.agents.state import DirectorState

    state = DirectorState(clip="c.mp4", lines=[Line(text="Hi.")], voice="v.wav", out_dir="out")
    with pytest.raises(CinedubError, match="start a new session with --session NAME"):
        state_plan(state)
