"""Who speaks each line (agents/speakers.py) and the draft script (cinedub/draft.py), on a real two-person
scene: the two LatentSync clips side by side (the woman left, the man right), each talking in turn with
their own voice while the other is frozen, a beat of silence between turns, both frozen and silent at
the end."""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pytest

from cinedub import media
from cinedub.agents.perception import perceive
from cinedub.agents.speakers import bind_characters, line_speakers, speech_envelope, turns_by_face
from cinedub.diarize import Turn, diarize
from cinedub.draft import PLACEHOLDER, draft_lines, join_turns, write_draft
from cinedub.errors import CinedubError
from cinedub.script import read_script
from cinedub.types import Perception, Person, Window

from .conftest import SHARED_DATA, run_cinedub

SIDE = (360, 640)  # each person's half of the frame (the clips are 1080x1920), small so perception is quick
FPS = 25
RATE = 44_100
BEAT_S = 0.5  # silence between turns, both faces frozen
END_S = 1.6  # both frozen and silent after the last turn
# (who talks, where in their own clip, seconds): inside stretches of speech of each clip's own audio
# (Silero VAD: the woman talks 0.16-10.0 s with a quiet breath at 3.2-3.5 s, the man 5.06-6.69, 6.82-8.73 and
# 10.40-14.49 s), so each turn's speech starts and ends with it.
TURNS = [("woman", 0.5, 2.6), ("man", 10.45, 2.6), ("woman", 3.6, 2.6), ("man", 5.1, 2.6)]
SOURCES = {"woman": ("latentsync_demo1.mp4", 0.0, 6.5), "man": ("latentsync_demo2.mp4", 5.0, 8.1)}
TOLERANCE_S = 0.3  # the draft's turns against the construction


def construction() -> list[tuple[str, Window]]:
    """Each turn's talker and window in the built scene."""
    out, t = [], 0.0
    for who, _, seconds in TURNS:
        out.append((who, Window(start=round(t, 3), end=round(t + seconds, 3))))
        t += seconds + BEAT_S
    return out


def _ffmpeg(*args: str) -> None:
    subprocess.run([media.ffmpeg_binary(), "-nostdin", "-loglevel", "error", "-y", *args], check=True)


def build_scene(folder: Path) -> Path:
    """The two-person scene, built with ffmpeg from the real clips (scaled down once each first)."""
    w, h = SIDE
    small = {}
    for who, (name, start, seconds) in SOURCES.items():
        small[who] = folder / f"{who}.mp4"
        _ffmpeg("-ss", str(start), "-t", str(seconds), "-i", str(SHARED_DATA / name), "-vf", f"scale={w}:{h}",
                "-c:v", "libx264", "-preset", "ultrafast", "-crf", "18", "-ac", "1", "-ar", str(RATE),
                str(small[who]))  # fmt: skip
        # frozen: a still of the first frame
        _ffmpeg("-i", str(small[who]), "-frames:v", "1", str(folder / f"{who}.png"))
    inputs: list[str] = []
    filters: list[str] = []
    parts: list[tuple[str, str]] = []

    def add(*args: str) -> int:
        inputs.extend(args)
        return inputs.count("-i") - 1

    def video(index: int, seconds: float, label: str) -> None:
        filters.append(f"[{index}:v]fps={FPS},setsar=1,format=yuv420p,trim=duration={seconds},"
                       f"setpts=PTS-STARTPTS[{label}]")  # fmt: skip

    def frozen(who: str, seconds: float, label: str) -> None:
        video(add("-loop", "1", "-framerate", str(FPS), "-t", str(seconds), "-i", str(folder / f"{who}.png")),
              seconds, label)  # fmt: skip

    def silent(seconds: float, k: int) -> None:
        frozen("woman", seconds, f"sl{k}")
        frozen("man", seconds, f"sr{k}")
        filters.append(f"[sl{k}][sr{k}]hstack[sv{k}]")
        index = add("-f", "lavfi", "-t", str(seconds), "-i", f"anullsrc=r={RATE}:cl=mono")
        filters.append(f"[{index}:a]anull[sa{k}]")
        parts.append((f"sv{k}", f"sa{k}"))

    for k, (who, start, seconds) in enumerate(TURNS):
        other = "man" if who == "woman" else "woman"
        talker = add("-ss", str(start - SOURCES[who][1]), "-t", str(seconds), "-i", str(small[who]))
        video(talker, seconds, f"t{k}")
        frozen(other, seconds, f"f{k}")
        left, right = (f"t{k}", f"f{k}") if who == "woman" else (f"f{k}", f"t{k}")
        filters.append(f"[{left}][{right}]hstack[v{k}]")
        filters.append(f"[{talker}:a]apad,atrim=duration={seconds},asetpts=PTS-STARTPTS[a{k}]")
        parts.append((f"v{k}", f"a{k}"))
        silent(BEAT_S if k < len(TURNS) - 1 else END_S, k)
    filters.append("".join(f"[{v}][{a}]" for v, a in parts) + f"concat=n={len(parts)}:v=1:a=1[v][a]")
    scene = folder / "scene.mp4"
    _ffmpeg(*inputs, "-filter_complex", ";".join(filters), "-map", "[v]", "-map", "[a]", "-c:v", "libx264",
            "-preset", "ultrafast", "-crf", "18", "-c:a", "aac", str(scene))  # fmt: skip
    return scene


@pytest.fixture(scope="module")
def scene(tmp_path_factory):
    """The scene, its perception, its sound (16 kHz) and the sound's envelope at the sampled frames, and who
    each tracked face is: the woman's on the left, the man's on the right. (The tracker splits one person into
    several tracks here: measured 4 tracks, the woman's 0-2.5 s, 1.8 s to the end, and 7.9-8.8 s.)"""
    path = build_scene(tmp_path_factory.mktemp("scene"))
    perception = perceive(path)
    audio, rate = media.load_audio(path, 16_000)
    envelope = speech_envelope(audio, rate, perception.frame_times, perception.sample_fps)
    who = {p.track_id: "woman" if p.box[0] + p.box[2] / 2 < 0.5 else "man" for p in perception.people}
    assert set(who.values()) == {"woman", "man"}
    who[None] = None
    return {"path": path, "perception": perception, "audio": audio, "rate": rate, "envelope": envelope,
            "who": who}  # fmt: skip


def test_the_scene_is_built_as_described(scene):
    info = media.probe(scene["path"])
    expected = sum(seconds for _, _, seconds in TURNS) + BEAT_S * (len(TURNS) - 1) + END_S
    assert info.duration == pytest.approx(expected, abs=0.1)  # AAC ends on a whole 1024-sample frame
    assert (info.width, info.height) == (2 * SIDE[0], SIDE[1])


@pytest.mark.parametrize("with_sound", [False, True])
def test_every_line_is_given_to_the_face_that_says_it(scene, with_sound):
    """A 4-line script whose windows are the turns: each line to the talker's face, by the mouths alone and
    with the audio-visual co-activity."""
    turns = construction()
    found = line_speakers(scene["perception"], [window for _, window in turns],
                          scene["envelope"] if with_sound else None)  # fmt: skip
    assert [scene["who"][line.track_id] for line in found] == [who for who, _ in turns]
    for line in found:  # the frozen face's mouth is still: it scores nothing
        assert sorted(line.score.values())[0] == 0.0
    if with_sound:
        assert all(set(line.sync) == set(line.score) for line in found)
    else:
        assert all(line.sync == {} for line in found)


def test_a_window_where_no_mouth_moves_is_narration(scene):
    end = construction()[-1][1].end
    quiet = [Window(start=end + 0.3, end=end + END_S - 0.1)]  # both frozen
    for envelope in (None, scene["envelope"]):
        (line,) = line_speakers(scene["perception"], quiet, envelope)
        assert line.track_id is None and set(scene["who"][t] for t in line.movement) == {"woman", "man"}


def test_co_activity_breaks_a_tie_between_two_moving_mouths():
    """Two mouths moving exactly as much (one's opening is the other's played backwards): the one whose
    opening follows the voice's loudness speaks, and with the voice reversed, the other one."""
    fps, frames = 10.0, 60
    rng = np.random.default_rng(0)
    loudness = rng.uniform(-50.0, -10.0, frames)  # dB per frame
    opening = 0.05 + 0.001 * (loudness + 50.0)  # face heights: wider as the voice gets louder
    times = [round(i / fps, 3) for i in range(frames)]
    people = [Person(track_id=k, first_seen=0.0, last_seen=times[-1], frames_seen=frames,
                     box=(0.1 + 0.5 * k, 0.2, 0.2, 0.2), mouth_activity=0.02, talking=True)
              for k in (0, 1)]  # fmt: skip
    series = {0: [float(v) for v in opening], 1: [float(v) for v in opening[::-1]]}
    perception = Perception(duration=frames / fps, sample_fps=fps, num_frames=frames, frame_times=times,
                            people=people, mouth_series=series)  # fmt: skip
    window = [Window(start=0.0, end=frames / fps)]
    (alone,) = line_speakers(perception, window)
    assert alone.movement[0] == pytest.approx(alone.movement[1], rel=0.02)
    (heard,) = line_speakers(perception, window, loudness)
    assert heard.track_id == 0 and heard.sync[0] > 0.8 and heard.sync[1] < 0.5  # measured 0.85, 0.36
    (reversed_,) = line_speakers(perception, window, loudness[::-1].copy())
    assert reversed_.track_id == 1


def test_the_envelope_floors_silence():
    rate, fps = 16_000, 10.0
    audio = np.zeros(2 * rate, np.float32)
    audio[rate:] = 0.1 * np.sin(2 * np.pi * 200 * np.arange(rate) / rate)
    envelope = speech_envelope(audio, rate, [i / fps for i in range(20)], fps)
    loud = 20 * np.log10(0.1 / np.sqrt(2))
    assert envelope[12:] == pytest.approx(loud, abs=0.1)
    assert envelope[:9] == pytest.approx(loud - 40.0)  # silence reads as the floor


def test_characters_bound_to_faces_from_the_order_of_speaking(scene):
    """Anna, Ben, Anna, Ben over the turns: Anna is the woman's face, Ben the man's; a narrator's line over
    the frozen end is off screen."""
    end = construction()[-1][1].end
    windows = [window for _, window in construction()] + [Window(start=end + 0.3, end=end + END_S - 0.1)]
    speakers = [line.track_id for line in line_speakers(scene["perception"], windows, scene["envelope"])]
    binding = bind_characters(["Anna", "Ben", "Anna", "Ben", "Narrator"], speakers)
    assert [(b.character, scene["who"][b.track_id], b.lines) for b in binding] == [
        ("Anna", "woman", [1, 3]), ("Ben", "man", [2, 4]), ("Narrator", None, [5])]
    assert sum(binding[0].votes.values()) == 2 and binding[2].votes == {}
    # A face says most of a character's lines (2 of 3 here); one face per character; unnamed lines left out.
    binding = bind_characters(["Anna", "Anna", "Anna", "Ben", None], [1, 1, 2, 2, 1])
    assert [(b.character, b.track_id) for b in binding] == [("Anna", 1), ("Ben", 2)]
    binding = bind_characters(["Anna", "Ben"], [1, 1])  # both seen on one face: the first keeps it
    assert [(b.character, b.track_id) for b in binding] == [("Anna", 1), ("Ben", None)]
    with pytest.raises(ValueError, match="2 characters for 1 lines"):
        bind_characters(["Anna", "Ben"], [1])


def test_the_draft_script_follows_the_turns(scene, tmp_path):
    """No script: the clip's dialogue diarized (told there are two speakers; counted alone GE2E hears one in
    these two short foreign-language voices), each diarized speaker linked to the face that talks in their
    turns and the turns corrected by the mouths, and the draft's lines are the construction's turns within
    TOLERANCE_S, each with its talker's face. The clips speak Russian and Portuguese, so the
    words are left to write; the YAML reads back as a script."""
    perception, audio, rate = scene["perception"], scene["audio"], scene["rate"]
    turns, faces = turns_by_face(perception, diarize(audio, rate, num_speakers=2), scene["envelope"])
    lines = draft_lines(audio, rate, turns=turns, faces=faces)
    expected = construction()
    assert len(lines) == len(expected), lines
    for line, (who, window) in zip(lines, expected):
        assert line.start == pytest.approx(window.start, abs=TOLERANCE_S)
        assert line.end == pytest.approx(window.end, abs=TOLERANCE_S)
        assert scene["who"][line.face] == who and line.text is None
    assert [line.speaker for line in lines] == ["S1", "S2", "S1", "S2"]

    written = write_draft(tmp_path / "draft.yaml", lines, clip=scene["path"])
    back = read_script(written)
    assert [(b.speaker, b.text, b.window.start, b.window.end) for b in back] == [
        (line.speaker, PLACEHOLDER, round(line.start, 3), round(line.end, 3)) for line in lines]
    assert f"# S1: the face of track {lines[0].face}" in written.read_text()


def test_cinedub_script_writes_the_draft(scene, tmp_path, sample):
    """`cinedub script CLIP --speakers 2`: the same draft from the command line (one line of summary), and a
    clip with no sound, or a bad --speakers, is a one-line error that writes nothing."""
    out = tmp_path / "draft.yaml"
    done = run_cinedub("script", scene["path"], "--speakers", "2", "--out", out)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"4 lines, 2 speakers (S1, S2) -> {out}"
    back = read_script(out)
    assert [line.speaker for line in back] == ["S1", "S2", "S1", "S2"]
    for line, (_, window) in zip(back, construction()):
        assert line.window.start == pytest.approx(window.start, abs=TOLERANCE_S)
    for args, message in (([sample.clip], "has no sound"), ([scene["path"], "--speakers", "0"], "at least 1")):
        failed = run_cinedub("script", *args, "--out", tmp_path / "nothing.yaml")
        assert failed.returncode == 2 and message in failed.stderr and len(failed.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "nothing.yaml").exists()


def test_a_dub_of_the_scene_says_who_speaks_each_line(scene, tmp_path, sample):
    """A dub of the scene with a script (Anna, Ben, Anna, Ben, and a narrator over the frozen end): the
    director finds each line's face (with the scene's own dialogue as the tie-break) and binds the
    characters to the faces; direction.json shows both, and the narrator's line is off screen."""
    import json

    from cinedub.studio import Studio
    from cinedub.types import Line

    end = construction()[-1][1].end
    texts = ["I told you I would come back.", "You should not have come here.", "I had nowhere else to go.",
             "Then sit down and listen.", "And then it rained."]  # fmt: skip
    windows = [window for _, window in construction()] + [Window(start=end + 0.2, end=end + END_S - 0.1)]
    lines = [Line(text=text, window=window, speaker=speaker)
             for text, window, speaker in zip(texts, windows, ["Anna", "Ben", "Anna", "Ben", "Narrator"])]  # fmt: skip
    Studio().dub(scene["path"], lines, sample.voice, session="scene", out=tmp_path / "out")
    saved = json.loads((tmp_path / "out" / "direction.json").read_text())
    who = {p["track_id"]: "woman" if p["box"][0] + p["box"][2] / 2 < 0.5 else "man"
           for p in saved["perception"]["people"]}  # fmt: skip
    who[None] = None
    assert [who[line["face"]] for line in saved["lines"]] == ["woman", "man", "woman", "man", None]
    assert [line["on_screen"] for line in saved["lines"]] == [True, True, True, True, False]
    assert [(b["character"], who[b["track_id"]]) for b in saved["cast_faces"]] == [
        ("Anna", "woman"), ("Ben", "man"), ("Narrator", None)]
    assert len(saved["line_speakers"]) == 5 and all("score" in s for s in saved["line_speakers"])
    # each line concluded from its own speaker's face: dialogue on screen, narration off it
    concluded = [line["conclusion"] for line in saved["lines"]]
    print("per-line conclusions:", [(c["scene_type"], c["gender"], c["age"], c["emotion"]) for c in concluded])
    assert [c["scene_type"] for c in concluded] == ["dialogue"] * 4 + ["narration"]
    assert [c["gender"] for c in concluded] == ["female", "male", "female", "male", "unknown"]


def test_with_no_voice_each_character_speaks_in_their_own_voice_from_the_clip(scene, tmp_path):
    """The automatic cast: a script naming two characters, no --voice and no --cast: each character is given the
    diarized speaker heard in their lines (their own speech, cut from the clip's dialogue stem), and each
    line's take is closer (resemblyzer) to that character's own voice than to the other's."""
    import json

    from cinedub.speaker_encoder import speaker_embedding
    from cinedub.studio import Studio
    from cinedub.types import Line

    texts = ["I told you I would come back.", "You should not have come here.", "I had nowhere else to go.",
             "Then sit down and listen."]  # fmt: skip
    lines = [Line(text=text, window=window, speaker="Anna" if who == "woman" else "Ben")
             for text, (who, window) in zip(texts, construction())]  # fmt: skip
    result = Studio().dub(scene["path"], lines, None, session="own-cast", out=tmp_path / "out", ambience="drop")
    cast = json.loads((tmp_path / "out" / "direction.json").read_text())["cast"]
    assert sorted(cast) == ["Anna", "Ben"] and all("the clip's own voice" in c["notes"] for c in cast.values())
    print("automatic cast:", {name: c["notes"] for name, c in cast.items()})
    assert any("Cast from the clip's own voices: Anna, Ben." in m for m in result.messages)

    def embedding(path):
        audio, rate = media.load_audio(path, mono=True)
        return speaker_embedding(audio, rate)

    # each person's voice: their whole clip's dialogue, the room and music taken out
    from cinedub.stems import split_dialogue

    voices = {}
    for who, (name, _, _) in SOURCES.items():
        audio, rate = media.load_audio(SHARED_DATA / name, mono=True)
        stems = split_dialogue(audio, rate)
        voices[who] = speaker_embedding(stems.dialogue, stems.sample_rate)
    similarity = []
    for rendering, (who, _) in zip(result.take.lines, construction()):
        other = "man" if who == "woman" else "woman"
        e = embedding(rendering.path)
        similarity.append((rendering.line, who, round(float(e @ voices[who]), 3), round(float(e @ voices[other]), 3)))
    print("own / other voice similarity per line:", similarity)
    assert all(mine > theirs for _, _, mine, theirs in similarity), similarity


def test_classify_with_a_script_reports_each_lines_speaker_and_conclusion(scene, tmp_path, cinedub_home):
    import json

    import yaml

    script = tmp_path / "scene.yaml"
    script.write_text(yaml.safe_dump([{"speaker": "Anna" if who == "woman" else "Ben", "text": "Some words here.",
                                       "start": w.start, "end": w.end} for who, w in construction()]))  # fmt: skip
    done = run_cinedub("classify", scene["path"], "--script", script, home=cinedub_home)
    assert done.returncode == 0, done.stderr
    lines = json.loads(done.stdout)["lines"]
    assert [scene["who"][line["face"]] for line in lines] == [who for who, _ in construction()]
    assert [line["scene_type"] for line in lines] == ["dialogue"] * 4
    assert [line["gender"] for line in lines] == ["female", "male", "female", "male"]
    two = run_cinedub("classify", scene["path"], SHARED_DATA / "latentsync_demo1.mp4", "--script", script,
                      home=cinedub_home)
    assert two.returncode != 0 and "exactly one CLIP" in two.stderr


def test_eval_measures_each_line_of_a_scene(scene, tmp_path, cinedub_home):
    """`cinedub eval --dub` with a script and a cast: the scene is dubbed (each character in their voice) and
    every line is measured on its own: words, voice, timing."""
    import json

    import yaml

    voices = {"Anna": SHARED_DATA / "latentsync_demo1_voice.wav", "Ben": SHARED_DATA / "latentsync_demo2_voice.wav"}
    (tmp_path / "cast.yaml").write_text(yaml.safe_dump({name: str(path) for name, path in voices.items()}))
    texts = ["I told you I would come back.", "You should not have come here.", "I had nowhere else to go.",
             "Then sit down and listen."]  # fmt: skip
    (tmp_path / "scene.yaml").write_text(yaml.safe_dump(
        [{"speaker": "Anna" if who == "woman" else "Ben", "text": text, "start": w.start, "end": w.end}
         for text, (who, w) in zip(texts, construction())]))  # fmt: skip
    (tmp_path / "rows.jsonl").write_text(json.dumps({"id": "scene", "video": str(scene["path"]),
                                                     "script": "scene.yaml", "cast": "cast.yaml",
                                                     "voice": str(voices["Anna"])}) + "\n")  # fmt: skip
    done = run_cinedub("eval", "--dub", "--manifest", tmp_path / "rows.jsonl", "--out", tmp_path / "eval",
                       home=cinedub_home)  # fmt: skip
    assert done.returncode == 0, done.stderr
    (item,) = [json.loads(line) for line in (tmp_path / "eval" / "items.jsonl").read_text().splitlines()]
    lines = item["lines"]
    print("per line (wer, secs, duration error ms):",
          [(m["speaker"], m["wer"], m["secs"], m["duration_error_ms"]) for m in lines])
    assert [(m["line"], m["speaker"], m["text"]) for m in lines] == [
        (n, "Anna" if who == "woman" else "Ben", text) for n, (text, (who, _)) in enumerate(zip(texts, construction()), 1)]
    assert all(m["wer"] <= 40.0 and m["secs"] > 45.0 and m["duration_error_ms"] < 400 for m in lines), lines


class _AskedLibrary:
    """A stand-in for the reference library that answers each query with one reference naming the lines it
    was asked about, and keeps the questions (the lines, the conclusion, whose face)."""

    def __init__(self) -> None:
        self.queries = []

    def query(self, clip, lines, conclusion, *, k: int = 3, perception=None):
        from cinedub.types import Reference

        self.queries.append((lines, conclusion, perception.speaker_id if perception is not None else None))
        text = " / ".join(line.text for line in lines)
        return [Reference(clip_id=f"for: {text}", audio=str(SHARED_DATA / "latentsync_demo1_voice.wav"), score=1.0)]


def test_references_are_retrieved_per_line_in_a_scene_with_a_cast(scene, tmp_path, sample):
    from cinedub.studio import Studio
    from cinedub.types import Line

    texts = ["I told you I would come back.", "You should not have come here.", "I had nowhere else to go.",
             "Then sit down and listen."]  # fmt: skip
    lines = [Line(text=text, window=window, speaker="Anna" if who == "woman" else "Ben")
             for text, (who, window) in zip(texts, construction())]  # fmt: skip
    library = _AskedLibrary()
    result = Studio(library=library).dub(scene["path"], lines, sample.voice, out=tmp_path / "out", ambience="drop")
    per_line = library.queries[1:]  # (the first is the scene's, for its default direction)
    assert [[line.text for line in asked] for asked, _, _ in per_line] == [[text] for text in texts]
    assert [scene["who"][face] for _, _, face in per_line] == [who for who, _ in construction()]
    assert [c.gender for _, c, _ in per_line] == ["female", "male", "female", "male"]
    assert [r.direction.references[0].clip_id for r in result.take.lines] == [f"for: {text}" for text in texts]


def test_the_director_rebinds_a_character_to_another_face_with_a_note(scene, tmp_path, sample):
    """The binding is editable: "Anna is face N" gives Anna's lines to that face (here the man's, on purpose),
    concludes them from it again and re-directs them; a face the clip does not have makes no take."""
    import json

    from cinedub.studio import Studio
    from cinedub.types import Line

    texts = ["I told you I would come back.", "You should not have come here.", "I had nowhere else to go.",
             "Then sit down and listen."]  # fmt: skip
    lines = [Line(text=text, window=window, speaker="Anna" if who == "woman" else "Ben")
             for text, (who, window) in zip(texts, construction())]  # fmt: skip
    studio, out = Studio(), tmp_path / "out"
    studio.dub(scene["path"], lines, sample.voice, session="rebind", out=out, ambience="drop")
    before = json.loads((out / "direction.json").read_text())
    ben = next(b["track_id"] for b in before["cast_faces"] if b["character"] == "Ben")
    again = studio.dub(scene["path"], lines, sample.voice, session="rebind", note=f"Anna is face {ben}")
    assert again.new_take and f"Anna is now face {ben} (male" in " ".join(again.messages), again.messages
    after = json.loads((out / "direction.json").read_text())
    assert [(b["character"], b["track_id"]) for b in after["cast_faces"]] == [("Anna", ben), ("Ben", ben)]
    assert [line["face"] for line in after["lines"]] == [ben] * 4
    assert [line["conclusion"]["gender"] for line in after["lines"]] == ["male"] * 4
    assert [line["face"] for line in before["lines"]] != [ben] * 4  # (it was the woman's face before)
    missing = studio.dub(scene["path"], lines, sample.voice, session="rebind", note="Anna is face 99")
    assert not missing.new_take and "There is no face 99" in " ".join(missing.messages)
    off = studio.dub(scene["path"], lines, sample.voice, session="rebind", note="Anna is off screen")
    saved = json.loads((out / "direction.json").read_text())
    assert off.new_take and [line["conclusion"]["scene_type"] for line in saved["lines"]][::2] == ["narration"] * 2


def test_join_turns_spans_a_speakers_pauses_not_another_speaker():
    turns = [Turn(0.0, 1.0, "S1"), Turn(1.5, 3.0, "S1"), Turn(3.2, 4.0, "S2"), Turn(5.0, 6.0, "S2"),
             Turn(6.1, 9.0, "S2"), Turn(9.2, 14.0, "S2")]  # fmt: skip
    assert join_turns(turns) == [Turn(0.0, 3.0, "S1"), Turn(3.2, 4.0, "S2"), Turn(5.0, 9.0, "S2"),
                                 Turn(9.2, 14.0, "S2")]  # fmt: skip


def test_an_empty_draft_is_a_one_line_error(tmp_path):
    assert draft_lines(np.zeros(16_000, np.float32), 16_000, turns=[], english=True) == []
    with pytest.raises(CinedubError, match="no draft to write") as caught:
        write_draft(tmp_path / "draft.yaml", [])
    assert "\n" not in str(caught.value) and not list(tmp_path.iterdir())


def test_an_english_draft_has_the_words(tmp_path):
    """Two real English voices one after the other (the LatentSync voice recordings, 1 s apart): two lines,
    the packaged Whisper's words in each, the right words in the right line."""
    first, rate = media.load_audio(SHARED_DATA / "latentsync_demo1_voice.wav", 16_000)
    second, _ = media.load_audio(SHARED_DATA / "latentsync_demo2_voice.wav", 16_000)
    audio = np.concatenate([first[: 5 * rate], np.zeros(rate, np.float32), second[: 5 * rate]])
    lines = draft_lines(audio, rate, english=True, num_speakers=2)
    assert [line.speaker for line in lines] == ["S1", "S2"]
    assert "broke beauty" in lines[0].text.lower() and "relationships" in lines[1].text.lower()
    assert lines[0].end <= 5.3 and lines[1].start >= 5.7
    path = write_draft(tmp_path / "draft.yml", lines)
    assert [line.text for line in read_script(path)] == [line.text for line in lines]
    assert "track" not in path.read_text()  # no faces were linked: the header says nothing of them

