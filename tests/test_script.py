"""Scenes with a cast: scripts with speakers (SRT, WebVTT, JSON, YAML), a voice per character, notes to a
line or a character (rules and a model's reading), and the bad inputs, each a one-line error."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from cinedub import media
from cinedub.agents.notes import ModelNoteReader, interpret_note
from cinedub.agents.plan import address_note, apply_note, first_plan
from cinedub.agents.prompts import scene_line
from cinedub.agents.windows import check_lines
from cinedub.cli import main
from cinedub.errors import CinedubError
from cinedub.script import read_cast, read_script, split_speaker
from cinedub.studio import Studio
from cinedub.types import Direction, Line, Window
from tests.conftest import SHARED_DATA

WOMAN = SHARED_DATA / "latentsync_demo1_voice.wav"
# Four lines of a two-character scene in the 4 s sample clip: Ben (the LibriVox reader), Anna (a woman).
SCENE = [("Ben", "Listen to me.", 0.1, 1.0), ("Anna", "Where are we going?", 1.0, 2.0),
         ("Ben", "Back to the city.", 2.0, 2.9), ("Anna", "Not tonight.", 2.9, 3.9)]  # fmt: skip


def _stamp(seconds: float) -> str:
    return f"00:00:{int(seconds):02d},{round(seconds % 1 * 1000):03d}"


def _srt(cues: list[tuple[float, float, str]]) -> str:
    return "".join(f"{i}\n{_stamp(a)} --> {_stamp(b)}\n{text}\n\n" for i, (a, b, text) in enumerate(cues, 1))


def _sha(path: str | Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


# ---------------------------------------------------------------------------------------------
# Reading scripts.


@pytest.mark.parametrize("text, recurring, speaker, rest", [
    ("[Anna] Where were you?", set(), "Anna", "Where were you?"),
    ("ANNA: Where were you?", set(), "ANNA", "Where were you?"),
    ("DR. SMITH: Sit down.", set(), "DR. SMITH", "Sit down."),
    ("Anna: Where were you?", {"anna"}, "Anna", "Where were you?"),
    ("Anna: Where were you?", set(), None, "Anna: Where were you?"),  # once, capitalised: not taken blindly
    ("Note: the bridge is out.", set(), None, "Note: the bridge is out."),
    ("It is 10:30 now.", set(), None, "It is 10:30 now."),
    ("the plan: go north", {"the plan"}, None, "the plan: go north"),  # not a capitalised name
    ("[laughs]", set(), None, "[laughs]"),  # a bracket with nothing after it is no speaker
])  # fmt: skip
def test_the_srt_speaker_rule(text, recurring, speaker, rest):
    assert split_speaker(text, recurring) == (speaker, rest)


def test_an_srt_with_speakers(tmp_path):
    path = tmp_path / "scene.srt"
    path.write_text(_srt([(0.1, 1.0, "Anna: Where were you?"), (1.0, 2.0, "[BEN] Out."),
                          (2.0, 2.9, "Note: the bridge is out."), (3.0, 3.9, "Anna: Liar.")]))  # fmt: skip
    lines = read_script(path)
    assert [(line.speaker, line.text) for line in lines] == [
        ("Anna", "Where were you?"), ("BEN", "Out."), (None, "Note: the bridge is out."), ("Anna", "Liar.")]
    assert lines[1].window == Window(start=1.0, end=2.0)
    # a name of the cast is a speaker even once
    single = tmp_path / "one.srt"
    single.write_text(_srt([(0.1, 1.0, "Carla: Hi.")]))
    assert read_script(single)[0].speaker is None and read_script(single, ["carla"])[0].speaker == "Carla"


def test_a_webvtt_with_voice_spans(tmp_path):
    path = tmp_path / "scene.vtt"
    path.write_text("WEBVTT\n\nNOTE written by hand\n\n1\n00:00.100 --> 00:01.000 align:start\n<v Anna>Where were "
                    "you?</v>\n\n00:00:01.000 --> 00:00:02.000\n<v.loud Ben Smith>Out. <i>Driving</i> &amp; "
                    "late.\n\n00:02.000 --> 00:02.900\nNobody's line.\n")  # fmt: skip
    lines = read_script(path)
    assert [(line.speaker, line.text) for line in lines] == [
        ("Anna", "Where were you?"), ("Ben Smith", "Out. Driving & late."), (None, "Nobody's line.")]
    assert lines[0].window == Window(start=0.1, end=1.0)


def test_json_and_yaml_scripts(tmp_path):
    entries = [{"speaker": "Anna", "text": "Where were you?", "start": 0.1, "end": 1.0, "emotion": "angry",
                "intensity": 0.8, "note": "slower"},
               {"speaker": "Ben", "text": "Out.", "start": "00:00:01,000", "end": "00:02.000"}]  # fmt: skip
    (tmp_path / "s.json").write_text(json.dumps(entries))
    (tmp_path / "s.yaml").write_text("lines:\n"
                                     "  - {speaker: Anna, text: 'Where were you?', start: 0.1, end: 1.0, emotion: angry,"
                                     " intensity: 0.8, note: slower}\n"
                                     "  - {speaker: Ben, text: 'Out.', start: '00:00:01,000', end: '00:02.000'}\n")
    for name in ("s.json", "s.yaml"):
        first, second = read_script(tmp_path / name)
        assert (first.speaker, first.emotion, first.intensity, first.note) == ("Anna", "angry", 0.8, "slower")
        assert second.window == Window(start=1.0, end=2.0) and second.emotion is None
    (tmp_path / "free.yaml").write_text("- {speaker: Anna, text: Hello there.}\n")
    assert read_script(tmp_path / "free.yaml")[0].window is None  # no times: the director finds its window


@pytest.mark.parametrize("name, content, says", [
    ("bad.srt", _srt([(0.1, 1.0, "Hi.")]).replace("00:00:00,100", "00:00:0x,100"), "malformed SRT time '00:00:0x,100"),
    ("bad.vtt", "WEBVTT\n\n00:00.1 --> 00:01.000\nHi.\n", "malformed cue time '00:00.1 --> 00:01.000'"),
    ("bad.yaml", "- {speaker: Anna, text: Hi., start: 'soon', end: 1.0}\n", "line 1: malformed start time 'soon'"),
    ("half.json", '[{"text": "Hi.", "start": 1.0}]', "line 1: give both start and end"),
    ("odd.json", '[{"text": "Hi.", "mood": "sad"}]', "line 1: mood: Extra inputs are not permitted"),
    ("empty.yaml", "", "has no lines"),
    ("empty.vtt", "WEBVTT\n", "has no lines"),
    ("notvtt.vtt", "1\n00:00:00,100 --> 00:00:01,000\nHi.\n", "is not a WebVTT file"),
    ("script.txt", "Anna: hi", "unknown script format '.txt'"),
])  # fmt: skip
def test_bad_scripts_are_one_line_errors(tmp_path, name, content, says):
    (tmp_path / name).write_text(content)
    with pytest.raises(CinedubError, match=None) as err:
        read_script(tmp_path / name)
    assert says in str(err.value) and "\n" not in str(err.value)


def test_overlapping_windows_for_one_speaker_are_refused_for_two_allowed():
    a, b = Window(start=0.5, end=1.5), Window(start=1.0, end=2.0)
    natural = [0.5, 0.5]
    check_lines([Line(text="One two.", window=a, speaker="Anna"), Line(text="Three.", window=b, speaker="Ben")], natural)
    with pytest.raises(CinedubError, match=r"lines 1 and 2 overlap .*: Anna cannot speak both at once"):
        check_lines([Line(text="One two.", window=a, speaker="Anna"), Line(text="Three.", window=b, speaker="anna")],
                    natural)  # fmt: skip


# ---------------------------------------------------------------------------------------------
# The cast.


def test_a_cast_in_toml_or_yaml(tmp_path, librivox_wav):
    (tmp_path / "voices").mkdir()
    (tmp_path / "voices" / "ben.wav").write_bytes(Path(librivox_wav).read_bytes())
    (tmp_path / "cast.toml").write_text(f'Anna = "{WOMAN}"\n\n[Ben]\nvoice = "voices/ben.wav"\nnotes = "older, tired"\n')
    (tmp_path / "cast.yaml").write_text(f"Anna: {WOMAN}\nBen: {{voice: voices/ben.wav, notes: 'older, tired'}}\n")
    for name in ("cast.toml", "cast.yaml"):
        cast = read_cast(tmp_path / name)
        assert cast["Ben"].voice == str(tmp_path / "voices" / "ben.wav") and cast["Ben"].notes == "older, tired"
        assert cast["Anna"].voice == str(WOMAN) and cast["Anna"].notes is None
    (tmp_path / "missing.toml").write_text('Anna = "nowhere.wav"\n')
    with pytest.raises(CinedubError, match=r"Anna's voice nowhere.wav is missing"):
        read_cast(tmp_path / "missing.toml")


# ---------------------------------------------------------------------------------------------
# Notes to a line or a character.

SPEAKERS = [speaker for speaker, *_ in SCENE]


@pytest.mark.parametrize("note, lines, text", [
    ("line 3: angrier", [3], "angrier"),
    ("3: slower", [3], "slower"),
    ("2 and 4: louder", [2, 4], "louder"),
    ("Anna: softer", [2, 4], "softer"),
    ("ben, faster", [1, 3], "faster"),
    ("for Anna and Ben: calmer", [1, 2, 3, 4], "calmer"),
    ("Anna softer", [2, 4], "softer"),
    ("everyone: slower", None, "slower"),
    ("again, but angrier", None, "again, but angrier"),
    ("Again: angrier", None, "Again: angrier"),  # note words are not a character's name
])  # fmt: skip
def test_whom_a_note_is_for(note, lines, text):
    address = address_note(note, SPEAKERS)
    assert (address.lines, address.text, address.problem) == (lines, text, None)


@pytest.mark.parametrize("note, says", [("line 7: angrier", "There is no line 7: the scene has 4 lines"),
                                        ("Carl: louder", "There is no character 'Carl' in the scene (Ben, Anna)")])
def test_a_note_to_a_line_or_character_that_is_not_there(note, says):
    assert address_note(note, SPEAKERS).problem.startswith(says)


def _scene_plan():
    windows = [Window(start=a, end=b) for *_, a, b in SCENE]
    return first_plan(Direction(window=windows[0], voice="ben.wav"), windows,
                      [{"speaker": s, "voice": f"{s.lower()}.wav"} for s, *_ in SCENE])  # fmt: skip


def test_a_note_to_a_character_changes_their_lines_only():
    plan = _scene_plan()
    result = apply_note(plan, "Anna: softer", [], interpret_note)
    assert [d.loudness for d in result.plan.lines] == [0.0, -3.0, 0.0, -3.0] and result.changed == [2, 4]
    assert result.message.startswith("Anna (lines 2, 4): Changed loudness") and "Re-rendering lines 2, 4" in result.message
    assert [d.voice for d in result.plan.lines] == ["ben.wav", "anna.wav", "ben.wav", "anna.wav"]


class ScriptedModel:
    """A test double of a model's text (as in test_vlm.py): answers in turn, keeps every prompt."""

    name = "scripted"

    def __init__(self, *answers: str) -> None:
        self.answers, self.prompts = list(answers), []

    def generate(self, prompt, *, max_new_tokens: int) -> str:
        self.prompts.append(prompt)
        return self.answers.pop(0)


def test_the_model_reads_whom_a_note_is_for():
    plan = _scene_plan()
    scene = [scene_line(n, text, d.model_dump(mode="json")) for n, ((_, text, *_), d) in enumerate(zip(SCENE, plan.lines), 1)]
    model = ScriptedModel('{"emotion": "sad", "intensity": 0.7, "lines": [2, 4], "retake": true, '
                          '"explanation": "Anna is hurt"}')  # fmt: skip
    result = apply_note(plan, "make her sound hurt", [], ModelNoteReader(model, None, scene))
    assert [d.emotion for d in result.plan.lines] == ["neutral", "sad", "neutral", "sad"] and result.changed == [2, 4]
    assert result.message.startswith("Lines 2, 4: Anna is hurt.") and len(model.prompts) == 1
    question, schema = model.prompts[0].question, model.prompts[0].json_schema
    assert '2. Anna: "Where are we going?"' in question and '"make her sound hurt"' in question
    assert schema["properties"]["lines"]["items"]["maximum"] == 4
    # an address the rules read is kept; the model is shown the whole note, and its changes go to Ben's lines
    model = ScriptedModel('{"pace": 1.2, "lines": [1, 3], "explanation": "Ben hurries"}')
    result = apply_note(plan, "Ben: faster", [], ModelNoteReader(model, None, scene))
    assert [d.pace for d in result.plan.lines] == [1.2, 1.0, 1.2, 1.0] and '"Ben: faster"' in model.prompts[0].question
    # a line the scene does not have, from the model: no take
    model = ScriptedModel('{"pace": 1.2, "lines": [9], "explanation": "?"}')
    result = apply_note(plan, "hurry up", [], ModelNoteReader(model, None, scene))
    assert not result.retake and "line 9, which the scene does not have" in result.message
    # an unreadable answer: the rules read the note, address included
    model = ScriptedModel("sure thing")
    result = apply_note(plan, "line 2: slower", [], ModelNoteReader(model, None, scene))
    assert result.changed == [2] and "the rule interpreter read it" in result.message


# ---------------------------------------------------------------------------------------------
# A two-character scene dubbed with a cast (one session shared by the assertions below).


@pytest.fixture(scope="module")
def scene(tmp_path_factory, sample):
    folder = tmp_path_factory.mktemp("scene")
    (folder / "cast.toml").write_text(f'Anna = "{WOMAN}"\n\n[Ben]\nvoice = "{sample.voice}"\nnotes = "older, tired"\n')
    (folder / "scene.srt").write_text(_srt([(a, b, f"{speaker.upper()}: {text}") for speaker, text, a, b in SCENE]))
    home = folder / "home"
    studio = Studio(home=home)
    lines = read_script(folder / "scene.srt")
    first = studio.dub(sample.clip, lines, None, session="scene", out=folder / "out", cast=folder / "cast.toml",
                       ambience="drop")  # fmt: skip
    direction = json.loads((folder / "out" / "direction.json").read_text())
    return {"folder": folder, "studio": studio, "lines": lines, "first": first, "direction": direction}


def test_each_line_is_spoken_in_its_characters_voice(scene, sample):
    """Each line's take is closer (resemblyzer cosine) to its character's recording than to the other's.
    Measured (own / other): Ben 0.699 / 0.526 and 0.708 / 0.484, Anna 0.644 / 0.585 and 0.587 / 0.542 (the
    warp from the F0 ratio; with the earlier spectral fit Anna's lines sounded closer to Ben)."""
    from cinedub.speaker_encoder import speaker_embedding

    def embedding(path, seconds=None):
        audio, rate = media.load_audio(path, mono=True, max_seconds=seconds)
        return speaker_embedding(audio, rate)

    voices = {"BEN": embedding(sample.voice, 30), "ANNA": embedding(WOMAN, 30)}
    take = scene["first"].take
    assert [(r.direction.speaker, Path(r.direction.voice).name) for r in take.lines] == [
        ("BEN", Path(sample.voice).name), ("ANNA", WOMAN.name), ("BEN", Path(sample.voice).name), ("ANNA", WOMAN.name)]
    similarity = []
    for rendering in take.lines:
        own = rendering.direction.speaker
        other = "ANNA" if own == "BEN" else "BEN"
        e = embedding(rendering.path)
        similarity.append((rendering.line, own, round(float(e @ voices[own]), 3), round(float(e @ voices[other]), 3)))
    assert all(mine > theirs for _, _, mine, theirs in similarity), similarity


def test_direction_json_says_each_lines_speaker_voice_and_the_cast(scene, sample):
    saved = scene["direction"]
    assert [(line["speaker"], line["voice"]) for line in saved["lines"]] == [
        (r.direction.speaker, r.direction.voice) for r in scene["first"].take.lines]
    assert saved["cast"]["Ben"] == {"voice": str(sample.voice), "notes": "older, tired"}
    assert [d["speaker"] for d in saved["plan"]] == ["BEN", "ANNA", "BEN", "ANNA"]
    # the actor performed each line against its character's recording
    performed = [r.applied["reference_voice"]["path"] for r in scene["first"].take.lines]
    assert performed == [str(sample.voice), str(WOMAN), str(sample.voice), str(WOMAN)]


def test_a_note_to_one_character_or_one_line_rerenders_only_those(scene, sample, capsys):
    studio, lines, folder = scene["studio"], scene["lines"], scene["folder"]
    first = scene["first"].take
    second = studio.dub(sample.clip, lines, None, session="scene", note="Anna: softer")
    assert second.take.rerendered == [2, 4]
    assert any("Re-rendering lines 2, 4" in m for m in second.messages)
    assert [_sha(a.path) == _sha(b.path) for a, b in zip(first.lines, second.take.lines)] == [True, False, True, False]
    third = studio.dub(sample.clip, lines, None, session="scene", note="3: slower")
    assert third.take.rerendered == [3]
    assert [_sha(a.path) == _sha(b.path) for a, b in zip(second.take.lines, third.take.lines)] == [True, True, False, True]
    assert [r.direction.loudness for r in third.take.lines] == [0.0, -3.0, 0.0, -3.0]


# ---------------------------------------------------------------------------------------------
# Bad input: one line, nothing written.


def _fails(capsys, *argv) -> str:
    assert main(["dub", *map(str, argv)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and err.startswith("cinedub: error: ")
    return err


def test_bad_scenes_are_one_line_errors_and_write_nothing(tmp_path, sample, capsys, cinedub_home):
    script = tmp_path / "scene.yaml"
    script.write_text("".join(f"- {{speaker: {s}, text: '{t}', start: {a}, end: {b}}}\n" for s, t, a, b in SCENE))
    (tmp_path / "anna.toml").write_text(f'Anna = "{WOMAN}"\n')
    (tmp_path / "notaudio.txt").write_text("hello")
    (tmp_path / "bad.toml").write_text(f'Anna = "{WOMAN}"\nBen = "notaudio.txt"\n')
    (tmp_path / "gone.toml").write_text(f'Anna = "{WOMAN}"\nBen = "gone.wav"\n')
    (tmp_path / "both.yaml").write_text("- {speaker: Anna, text: One two three, start: 0.5, end: 1.5}\n"
                                        "- {speaker: Anna, text: Four five, start: 1.2, end: 2.0}\n")  # fmt: skip
    out = tmp_path / "out"
    base = [sample.clip, "--script", script, "--out", out]
    assert "Ben has no voice" in _fails(capsys, *base, "--cast", tmp_path / "anna.toml")
    assert "voice for Ben is not usable" in _fails(capsys, *base, "--cast", tmp_path / "bad.toml")
    assert "Ben's voice gone.wav is missing" in _fails(capsys, *base, "--cast", tmp_path / "gone.toml")
    assert "Anna cannot speak both at once" in _fails(capsys, sample.clip, "--script", tmp_path / "both.yaml",
                                                      "--voice", sample.voice, "--out", out)  # fmt: skip
    cast = ["--cast", tmp_path / "anna.toml", "--voice", sample.voice]
    assert "there is no line 5" in _fails(capsys, *base, *cast, "--note", "line 5: angrier")
    assert "there is no character 'Carl'" in _fails(capsys, *base, *cast, "--note", "Carl: louder")
    assert not out.exists() and not (cinedub_home / "sessions.sqlite").exists()
