"""Hostile and careless input (issue 20): session names that point outside the home, lines and scripts
that cannot be dubbed, clips whose streams disagree, notes that do nothing, full disks, read-only homes
and UTF-16 subtitles. Each gets one clear line (or a warning) and loses nothing."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from cinedub import assembly, cli, media
from cinedub.agents.state import json_native, json_node
from cinedub.errors import CinedubError
from cinedub.files import inside, storage_error
from cinedub.studio import Studio, check_session_name, default_session_name
from cinedub.subtitles import read_srt
from cinedub.types import Line, Window
from tests.conftest import run_cinedub

LINE = "I told you I would come back."
SRT_OVERLAP = "1\n00:00:00,500 --> 00:00:02,500\nListen to me.\n\n2\n00:00:01,500 --> 00:00:03,800\nWe drive back.\n"
SRT_ONE_WORD = "1\n00:00:00,200 --> 00:00:03,900\nYes.\n"


def _ffmpeg(*args: str | Path) -> None:
    subprocess.run(["ffmpeg", "-loglevel", "error", "-y", *map(str, args)], check=True)


def _one_line_error(stderr: str) -> str:
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("cinedub"), stderr
    assert "internal error" not in stderr and "Traceback" not in stderr
    return lines[0]


# -- 1. session names -----------------------------------------------------------------------------


def test_a_session_name_cannot_reach_outside_the_home(tmp_path, sample, cinedub_home):
    """The issue's reproduction: the victim's lock file keeps its 27 bytes."""
    victim = tmp_path / "victim" / "Cargo.lock"  # HOME/locks/../../victim/Cargo.lock
    victim.parent.mkdir()
    victim.write_bytes(b"[[package]]\nname = 'cargo'\n")
    result = run_cinedub("dub", sample.clip, "--line", LINE, "--voice", sample.voice, "--session",
                         "../../victim/Cargo", "--out", tmp_path / "o", home=cinedub_home)  # fmt: skip
    assert result.returncode == 2
    assert "invalid session name" in _one_line_error(result.stderr)
    assert victim.read_bytes() == b"[[package]]\nname = 'cargo'\n"
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize("name", ["../evil", "a/b", "..", ".", ".hidden", "-x", "", "x" * 65, "a b", "a\nb"])
def test_invalid_session_names(name):
    with pytest.raises(CinedubError, match="invalid session name"):
        check_session_name(name)


def test_valid_session_names_and_the_default():
    for name in ("car", "Take_2.final-cut", "ui-0123456789ab", "x" * 64):
        assert check_session_name(name) == name
    assert default_session_name(Path("/clips/My clip (final).mp4")) == "My-clip-final"
    assert default_session_name(Path("/clips/..mp4")) == "session"
    check_session_name(default_session_name(Path("/clips/" + "é" * 80 + ".mp4")))


def test_the_default_session_is_not_another_requests(tmp_path, sample, cinedub_home):
    """No --session: the same clip into another --out (the README's first command from a second checkout)
    starts its own session, named clip-2, instead of failing on the first one's; the first --out again
    continues the first session."""
    studio, line = Studio(), [Line(text=LINE)]
    first = studio.dub(sample.clip, line, sample.voice, out=tmp_path / "one")
    second = studio.dub(sample.clip, line, sample.voice, out=tmp_path / "two")
    assert (first.session, second.session) == ("carphone_pristine", "carphone_pristine-2")
    assert second.take.index == 1 and Path(second.take.path).parent == (tmp_path / "two").resolve()
    again = studio.dub(sample.clip, line, None, out=tmp_path / "one", note="angrier")
    assert (again.session, again.take.index) == ("carphone_pristine", 2)


def test_a_linked_lock_file_is_refused_not_followed(tmp_path, sample, cinedub_home):
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me")
    (cinedub_home / "locks").mkdir(parents=True)
    (cinedub_home / "locks" / "s.lock").symlink_to(victim)
    with pytest.raises(CinedubError, match="lock"):
        Studio().dub(sample.clip, [Line(text=LINE)], sample.voice, session="s", out=tmp_path / "o")
    assert victim.read_text() == "keep me"


def test_paths_are_checked_to_lie_inside(tmp_path):
    assert inside(tmp_path, tmp_path / "a" / "b.wav") == (tmp_path / "a" / "b.wav").resolve()
    (tmp_path / "link").symlink_to("/etc")
    for outside in (tmp_path / ".." / "x", "/etc/passwd", tmp_path / "link" / "passwd"):
        with pytest.raises(CinedubError, match="not in"):
            inside(tmp_path, outside)


def test_the_studio_writes_only_in_its_sessions_folders(tmp_path):
    from cinedub.ui.app import StudioUI

    ui = StudioUI(Studio(home=tmp_path / "home"))
    assert ui.folder("ui-0123456789ab") == (tmp_path / "home" / "ui" / "ui-0123456789ab").resolve()
    for name in ("../../etc", "ui-0123456789ab/../../x", "ui-../../../a", ""):
        with pytest.raises(CinedubError, match="no valid session"):
            ui.folder(name)
    shutil.rmtree(ui.serve_root, ignore_errors=True)


# -- the table: cheap bad inputs of findings 1, 4, 6, 7 fail at once, before perception -------------


@pytest.fixture
def no_perception(monkeypatch):
    """Fails the test if the director starts watching the clip: these inputs must be refused before."""

    def perceive(*args, **kwargs):
        raise AssertionError("perception ran on an input that should have been refused first")

    monkeypatch.setattr("cinedub.agents.nodes.perceive_cached", perceive)


def _srt(folder: Path, name: str, text: str, encoding: str = "utf-8") -> str:
    path = folder / name
    path.write_bytes(text.encode(encoding))
    return str(path)


CASES = {
    # name: (dub arguments after CLIP --voice VOICE, what the error says)
    "session ../evil": (["--line", LINE, "--session", "../evil"], "invalid session name"),
    "session a/b": (["--line", LINE, "--session", "a/b"], "invalid session name"),
    "session ..": (["--line", LINE, "--session", ".."], "invalid session name"),
    "session too long": (["--line", LINE, "--session", "s" * 65], "invalid session name"),
    "overlapping cues": (["--srt", "overlap.srt"], "overlap"),
    "cue after the clip": (["--srt", "late.srt"], "after the clip"),
    "cue too short for its line": (["--srt", "short.srt"], "too long for its window"),
    "cue of punctuation only": (["--srt", "dots.srt"], "no words"),
    "UTF-16 SRT without a BOM": (["--srt", "utf16.srt"], "UTF-8"),
    "SRT that is not UTF-8": (["--srt", "latin1.srt"], "UTF-8"),
    "line of punctuation only": (["--line", "?!... --"], "no words"),
    "emoji only": (["--line", "\U0001f600\U0001f525"], "no words"),
    "Chinese line": (["--line", "\u6211\u544a\u8bc9\u8fc7\u4f60\u6211\u4f1a\u56de\u6765"], "Chinese"),
    "Arabic line": (["--line", "\u0642\u0644\u062a \u0644\u0643 \u0625\u0646\u064a \u0633\u0623\u0639\u0648\u062f"], "Arabic"),
    "empty note": (["--line", LINE, "--note", ""], "note is empty"),
    "whitespace note": (["--line", LINE, "--note", "   "], "note is empty"),
    "home is a file": (["--line", LINE], "cannot write to the session home"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_bad_input_fails_at_once_in_one_line(case, tmp_path, sample, cinedub_home, no_perception, capsys, monkeypatch):
    args, expected = CASES[case]
    _srt(tmp_path, "overlap.srt", SRT_OVERLAP)
    _srt(tmp_path, "late.srt", "1\n00:00:01,000 --> 00:00:09,000\nListen to me.\n")
    _srt(tmp_path, "short.srt", f"1\n00:00:01,000 --> 00:00:01,300\n{LINE}\n")
    _srt(tmp_path, "dots.srt", "1\n00:00:01,000 --> 00:00:02,000\n... ?!\n")
    _srt(tmp_path, "utf16.srt", SRT_OVERLAP, "utf-16-le")
    _srt(tmp_path, "latin1.srt", SRT_ONE_WORD.replace("Yes.", "Oui, très."), "latin-1")
    if case == "home is a file":
        cinedub_home.parent.mkdir(parents=True, exist_ok=True)
        cinedub_home.write_text("not a folder")
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "out"
    argv = ["dub", str(sample.clip), "--voice", str(sample.voice), *args, "--out", str(out)]
    code = cli.main(argv)
    error = _one_line_error(capsys.readouterr().err)
    assert code == 2 and expected in error, error
    assert not out.exists()  # nothing half-written
    if case != "home is a file":
        assert Studio().sessions() == []


# -- 4. the session state, and a finished take that a checkpoint failure must not lose ----------------


def test_node_updates_are_made_json_native():
    update = json_node(lambda: {"fit_scale": [np.float64(1.25)], "n": np.int64(3), "a": np.zeros(2, np.float32),
                                "w": (np.float32(0.5), Path("/x"))})()  # fmt: skip
    assert update == {"fit_scale": [1.25], "n": 3, "a": [0.0, 0.0], "w": [0.5, "/x"]}
    assert json.loads(json.dumps(update)) == update
    assert type(json_native({"x": np.float64(2.0)})["x"]) is float


def test_one_word_in_a_long_cue_is_dubbed_and_the_state_is_plain_json(tmp_path, sample, cinedub_home):
    """It crashed with `numpy.float64 is not msgpack serializable` after the take was made."""
    srt = Path(_srt(tmp_path, "one.srt", SRT_ONE_WORD))
    result = Studio().dub(sample.clip, read_srt(srt), sample.voice, session="one", out=tmp_path / "o")
    assert result.take.index == 1 and (tmp_path / "o" / "dub.mp4").is_file()
    # the cue (0.2-3.9 s) keeps its start; one word is not drawn out over 3.7 s
    assert result.take.window.start == pytest.approx(0.2) and result.take.window.duration < 1.0
    state = Studio().session("one")
    assert json.loads(json.dumps(state)) == state  # JSON-native all the way down (no default=)


def test_a_checkpoint_failure_keeps_the_finished_take(tmp_path, sample, cinedub_home, monkeypatch, capsys):
    """The checkpoint after the actor's take fails (a full disk, say): the take stays on disk, the error is
    one line that says so, `takes` says the session was interrupted, and the same command finishes it."""
    from langgraph.checkpoint.sqlite import SqliteSaver

    put = SqliteSaver.put

    def failing_put(self, config, checkpoint, metadata, new_versions):
        if checkpoint["channel_values"].get("takes"):
            raise sqlite3.OperationalError("database or disk is full")
        return put(self, config, checkpoint, metadata, new_versions)

    out = tmp_path / "o"
    argv = ["dub", str(sample.clip), "--line", sample.line, "--voice", str(sample.voice), "--session", "full",
            "--out", str(out)]  # fmt: skip
    with monkeypatch.context() as patch:
        patch.setattr(SqliteSaver, "put", failing_put)
        assert cli.main(argv) == 2
    error = _one_line_error(capsys.readouterr().err)
    assert "database or disk is full" in error and "kept take-001.wav" in error
    take = (out / "take-001.wav").read_bytes()
    assert cli.main(["takes", "full"]) == 0
    assert "interrupted" in capsys.readouterr().out
    assert cli.main(argv) == 0, capsys.readouterr().err
    assert [t.index for t in Studio().takes("full")] == [1]
    assert (out / "take-001.wav").read_bytes() == take  # the same direction and seed: the same take


# -- 5. streams that disagree --------------------------------------------------------------------


@pytest.fixture(scope="module")
def long_audio_session(tmp_path_factory, sample):
    """A 4 s clip with a 20 s audio track, dubbed with the CLI, then given notes that make no take."""
    root = tmp_path_factory.mktemp("streams")
    clip = root / "clip20.mp4"
    _ffmpeg("-i", sample.clip, "-i", sample.voice, "-map", "0:v", "-map", "1:a", "-c:v", "copy",
            "-af", "apad=whole_dur=20", "-c:a", "aac", clip)  # fmt: skip
    home = root / "home"
    common = ["dub", clip, "--line", LINE, "--voice", sample.voice, "--session", "s20"]
    first = run_cinedub(*common, "--out", root / "out", home=home)
    notes = {note: run_cinedub(*common, "--note", note, home=home)
             for note in ("make it purple", "not angry", "happier but sadder", "please")}  # fmt: skip
    return root, clip, first, notes


def test_audio_longer_than_the_video_gives_a_video_long_dub_and_a_warning(long_audio_session):
    root, clip, first, _ = long_audio_session
    info = media.probe(clip)
    assert info.audio_duration == pytest.approx(20.0, abs=0.1)
    assert info.duration == info.video_duration == pytest.approx(4.0, abs=0.05)
    assert first.returncode == 0, first.stderr
    assert "Warning:" in first.stdout and "longer than its video" in first.stdout
    direction = json.loads((root / "out" / "direction.json").read_text())
    assert direction["perception"]["duration"] == pytest.approx(4.0, abs=0.05)
    assert direction["conclusion"]["scene_type"] == "monologue"  # as a 4-5 s cut of the footage is
    with media._open(root / "out" / "dub.mp4") as container:
        ends = media._stream_ends(container)
    assert len(ends) == 2 and all(end == pytest.approx(4.0, abs=0.1) for end in ends.values())


def test_truncated_and_short_audio_clips_are_warned_about(tmp_path, sample):
    full, cut = tmp_path / "full.mp4", tmp_path / "cut.mp4"
    _ffmpeg("-i", sample.clip, "-i", sample.voice, "-map", "0:v", "-map", "1:a", "-c:v", "copy", "-c:a", "aac",
            "-t", "4", "-movflags", "+faststart", full)  # fmt: skip
    cut.write_bytes(full.read_bytes()[: full.stat().st_size // 2])  # the index at the front says 4 s
    info = media.probe(cut)
    assert 0.5 < info.duration < 3.5 and any("truncated" in w for w in info.warnings)
    short = tmp_path / "short_audio.mp4"
    _ffmpeg("-i", sample.clip, "-i", sample.voice, "-map", "0:v", "-map", "1:a", "-c:v", "copy", "-c:a", "aac",
            "-af", "atrim=0:1", short)  # fmt: skip
    warnings = media.probe(short).warnings
    assert len(warnings) == 1 and "shorter than its video" in warnings[0]
    assert media.probe(sample.clip).warnings == [] and media.probe(full).warnings == []


# -- 6. notes: every note gets an answer ---------------------------------------------------------


@pytest.mark.parametrize(("note", "says"), [
    ("make it purple", 'did not understand "make it purple"'),
    ("not angry", "is already"),
    ("happier but sadder", "different emotions"),
    ("please", "asks for no change"),
])  # fmt: skip
def test_a_note_that_makes_no_take_says_why(long_audio_session, note, says):
    result = long_audio_session[3][note]
    assert result.returncode == 2 and result.stdout == ""
    error = _one_line_error(result.stderr)
    assert error.startswith("cinedub: error: no new take:") and says in error, error


def test_notes_that_make_no_take_leave_the_session_as_it_was(long_audio_session):
    root = long_audio_session[0]
    listing = run_cinedub("takes", "s20", home=root / "home")
    assert listing.returncode == 0 and listing.stdout.count("take-") == 2  # take-001, its path
    assert [p.name for p in sorted((root / "out").glob(assembly.TAKE_FILES))] == ["take-001.wav"]
    assert not (root / "out" / "take-002.dialogue.wav").exists()


def test_the_studio_answers_every_note(sample, cinedub_home):
    """In the browser studio too: a note that makes no take gets the director's reason in the chat and
    the status line; an empty one is refused."""
    from cinedub.ui.app import StudioUI, new_session_name

    ui = StudioUI(Studio(home=cinedub_home))
    name = new_session_name()
    list(ui.start(name, str(sample.clip), sample.line, None, str(sample.voice), "auto", ""))
    for note, says in (("make it purple", "did not understand"), ("happier but sadder", "different emotions")):
        last = list(ui.note(name, note))[-1]
        assert last["status"].startswith("No new take:") and says in last["status"]
        assert last["chat"][-2:] == [{"role": "user", "content": note},
                                     {"role": "assistant", "content": last["status"][len("No new take: "):]}]  # fmt: skip
    with pytest.raises(CinedubError, match="type a note"):
        list(ui.note(name, "   "))
    assert len(ui.state(name)["takes"]) == 1
    shutil.rmtree(ui.serve_root, ignore_errors=True)


# -- 7. read-only homes, full disks, UTF-16 subtitles ----------------------------------------------


def _read_only(home: Path, *args: str) -> subprocess.CompletedProcess:
    """`cinedub ARGS` with `home` on a read-only mount (a private mount namespace), else read-only by
    its permissions (which root ignores)."""
    command = [sys.executable, "-m", "cinedub", *args]
    env = {**os.environ, "CINEDUB_HOME": str(home)}
    if shutil.which("unshare") and subprocess.run(["unshare", "-Urm", "true"], capture_output=True).returncode == 0:
        script = f'mount --bind "{home}" "{home}" && mount -o remount,bind,ro "{home}" && exec "$@"'
        return subprocess.run(["unshare", "-Urm", "sh", "-c", script, "sh", *command], capture_output=True,
                              text=True, env=env)  # fmt: skip
    if os.geteuid() == 0:
        pytest.skip("no user namespaces (unshare -Urm) and root ignores permissions: no read-only home here")
    modes = {path: path.stat().st_mode for path in (home, *home.rglob("*"))}
    try:
        for path in modes:
            path.chmod(0o555 if path.is_dir() else 0o444)
        return subprocess.run(command, capture_output=True, text=True, env=env)
    finally:
        for path, mode in modes.items():
            path.chmod(mode)


def test_a_read_only_home_can_still_be_listed(long_audio_session, sample, tmp_path):
    home = tmp_path / "home"
    shutil.copytree(long_audio_session[0] / "home", home)
    sessions = _read_only(home, "sessions")
    assert sessions.returncode == 0, sessions.stderr
    assert sessions.stdout.startswith("s20\t1 takes\twaiting for a note")
    takes = _read_only(home, "takes", "s20")
    assert takes.returncode == 0 and takes.stdout.startswith("take-001\t"), takes.stderr
    dub = _read_only(home, "dub", str(sample.clip), "--line", LINE, "--voice", str(sample.voice), "--session", "new",
                     "--out", str(tmp_path / "o"))  # fmt: skip
    error = _one_line_error(dub.stderr)
    assert "session home" in error and "output folder" not in error


def test_full_disk_errors_are_one_clear_line(tmp_path):
    with pytest.raises(sf.LibsndfileError) as audio:
        sf.write("/dev/full", np.zeros(48_000, np.float32), 48_000, format="WAV", subtype="PCM_16")
    assert "could not be written" in str(storage_error(audio.value, "take-001.wav"))
    with pytest.raises(OSError) as disk, open("/dev/full", "wb") as handle:
        handle.write(b"x" * 1_000_000)
        handle.flush()
    assert str(storage_error(disk.value, "/dev/full")) == "cannot write /dev/full: no space left on the device"
    db = sqlite3.connect(tmp_path / "db.sqlite")
    db.execute("CREATE TABLE t (x)")
    db.execute("PRAGMA max_page_count = 2")
    with pytest.raises(sqlite3.OperationalError) as full:
        db.execute("INSERT INTO t VALUES (?)", (b"x" * 100_000,))
    assert "database or disk is full" in str(storage_error(full.value, "sessions.sqlite"))
    assert storage_error(ValueError("a bug")) is None


def test_a_full_session_database_is_one_line(tmp_path, sample, cinedub_home, monkeypatch, capsys, no_perception):
    """The sessions database fills up (sqlite's own limit, as on a full disk): one line, exit 2."""
    connect = sqlite3.connect

    def small_connect(*args, **kwargs):
        conn = connect(*args, **kwargs)
        conn.execute("PRAGMA max_page_count = 1")
        return conn

    monkeypatch.setattr("cinedub.studio.sqlite3.connect", small_connect)
    argv = ["dub", str(sample.clip), "--line", LINE, "--voice", str(sample.voice), "--out", str(tmp_path / "o")]
    assert cli.main(argv) == 2
    assert "database or disk is full" in _one_line_error(capsys.readouterr().err)


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-be", "utf-32", "utf-8-sig"])
def test_subtitles_with_a_byte_order_mark_are_read(tmp_path, encoding):
    text = SRT_OVERLAP.replace("We drive back.", "We drive back, café.")
    data = text.encode(encoding)
    if encoding == "utf-16-be":
        data = b"\xfe\xff" + data
    path = tmp_path / "lines.srt"
    path.write_bytes(data)
    assert [line.text for line in read_srt(path)] == ["Listen to me.", "We drive back, café."]
    assert read_srt(path)[1].window == Window(start=1.5, end=3.8)
