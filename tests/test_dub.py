"""`cinedub dub` end to end on real footage and a real voice, as a user runs it: takes, notes, sessions
that survive a crash, and every kind of bad input."""

from __future__ import annotations

import hashlib
import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from cinedub import media
from cinedub.speech.measure import speech_span
from tests.conftest import run_cinedub
from cinedub.asr import transcribe, wer


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def sample_dub(tmp_path_factory):
    """The README's command: `cinedub dub --sample`, then a note on the same session."""
    root = tmp_path_factory.mktemp("sample")
    home = root / "home"
    first = run_cinedub("dub", "--sample", "--out", root / "out", "--session", "sample", home=home)
    take1 = {p.name: _sha(p) for p in (root / "out").glob("take-*.wav")}
    second = run_cinedub("dub", "--sample", "--session", "sample", "--note", "again, but angrier", home=home)
    return root, first, take1, second


def test_the_sample_is_dubbed(sample_dub, sample):
    root, first, _, _ = sample_dub
    assert first.returncode == 0, first.stderr
    out = root / "out"
    assert {"take-001.wav", "dub.mp4", "direction.json", "report.json"} <= {p.name for p in out.iterdir()}
    info = media.probe(out / "dub.mp4")
    assert info.has_video and info.has_audio and info.duration == pytest.approx(4.0, abs=0.1)
    direction = json.loads((out / "direction.json").read_text())
    assert {"cot", "conclusion", "direction", "perception"} <= set(direction)
    assert "<CONCLUSION>" in direction["cot"]
    assert direction["conclusion"]["scene_type"] == "monologue"  # one man, talking
    report = json.loads((out / "report.json").read_text())
    assert {"target_window", "take_duration", "stage_timings", "prosody"} <= set(report)
    assert {"watch", "reason", "act"} <= set(report["stage_timings"])


def test_the_sample_is_intelligible(sample_dub, sample):
    root = sample_dub[0]
    audio, rate = media.load_audio(root / "out" / "take-001.wav", sample_rate=16000)
    error = wer(sample.line, transcribe(audio, rate))
    assert error <= 0.15, f"WER {error:.2%}"


def test_takes_fill_their_windows(sample_dub, monkeypatch):
    """Each take's speech, measured on the written WAV, spans its target window within 40 ms."""
    from cinedub.studio import Studio

    root = sample_dub[0]
    monkeypatch.setenv("CINEDUB_HOME", str(root / "home"))
    takes = Studio().takes("sample")
    assert [t.index for t in takes] == [1, 2]
    for take in takes:
        audio, rate = media.load_audio(take.path)
        start, end = speech_span(audio, rate)
        assert abs((end - start) - take.window.duration) <= 0.040, take.name
        assert abs(start - take.window.start) <= 0.040, take.name
        assert abs(take.measured["lines"][0]["duration_error_ms"]) <= 40


def test_a_note_makes_the_next_take(sample_dub):
    root, _, take1, second = sample_dub
    assert second.returncode == 0, second.stderr
    assert "emotion" in second.stdout or "intensity" in second.stdout  # it says what it changed
    out = root / "out"
    assert (out / "take-002.wav").is_file()
    assert {p.name: _sha(p) for p in out.glob("take-00[1].wav")} == take1  # earlier takes untouched
    report = json.loads((out / "report.json").read_text())
    assert report["take"] == 2 and [t["index"] for t in report["takes"]] == [1, 2]
    assert json.loads((out / "direction.json").read_text())["direction"]["emotion"] == "angry"
    listing = run_cinedub("takes", "sample", home=root / "home")
    rows = listing.stdout.strip().splitlines()
    assert listing.returncode == 0 and [r.split("\t")[0] for r in rows] == ["take-001", "take-002"]
    assert "again, but angrier" in listing.stdout
    sessions = run_cinedub("sessions", home=root / "home")
    assert "sample\t2 takes" in sessions.stdout


def test_a_session_survives_a_crash_mid_take(tmp_path, sample, cinedub_home):
    from cinedub.studio import Studio

    out = tmp_path / "out"
    args = [sys.executable, "-m", "cinedub", "dub", "--sample", "--session", "crash", "--out", str(out)]
    assert subprocess.run(args, capture_output=True).returncode == 0
    take1 = _sha(out / "take-001.wav")
    studio = Studio()
    proc = subprocess.Popen([*args[:-2], "--note", "sadder"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    killed_in = None
    with studio._graph() as graph:
        while time.monotonic() < deadline and proc.poll() is None:
            snapshot = graph.get_state(studio._config("crash"))
            if snapshot.next == ("act",) and len(snapshot.values["takes"]) == 1:
                proc.send_signal(signal.SIGKILL)
                killed_in = snapshot.next
                break
            time.sleep(0.01)
    proc.wait()
    assert killed_in == ("act",), "the process finished before it could be killed mid-take"
    assert _sha(out / "take-001.wav") == take1
    assert not (out / "take-002.wav").exists()
    resumed = run_cinedub("dub", "--sample", "--session", "crash", "--note", "louder")
    assert resumed.returncode == 0, resumed.stderr
    takes = studio.takes("crash")
    assert [t.index for t in takes] == [1, 2, 3]
    assert (takes[1].note, takes[2].note) == ("sadder", "louder")
    assert takes[1].direction.intensity > takes[0].direction.intensity or takes[1].direction.emotion == "sad"
    assert takes[2].direction.loudness == takes[1].direction.loudness + 3.0
    assert _sha(out / "take-001.wav") == take1
    assert not list(out.glob(".*.part*")), "a temporary file of the killed take was left behind"


# -- bad input: one line on stderr, non-zero exit, nothing written -------------------------------


def _ffmpeg(*args: str) -> None:
    subprocess.run(["ffmpeg", "-loglevel", "error", "-y", *args], check=True)


@pytest.fixture(scope="module")
def bad_inputs(tmp_path_factory, librivox_wav):
    folder = tmp_path_factory.mktemp("bad")
    (folder / "not_a_video.mp4").write_text("definitely not a video\n")
    _ffmpeg("-f", "lavfi", "-i", "anullsrc=r=16000:cl=mono", "-t", "2", "-c:a", "aac", str(folder / "audio_only.mp4"))
    _ffmpeg("-f", "lavfi", "-i", "color=c=black:s=64x64:r=25", "-frames:v", "0", "-c:v", "libx264",
            str(folder / "no_frames.mp4"))  # fmt: skip
    (folder / "empty.wav").write_bytes(b"")
    _ffmpeg("-f", "lavfi", "-i", "anullsrc=r=16000:cl=mono", "-t", "3", str(folder / "silent.wav"))
    _ffmpeg("-i", str(librivox_wav), "-t", "0.6", str(folder / "short.wav"))
    (folder / "a_file").write_text("x")
    return folder


def _case(name: str, folder: Path, sample) -> list[str]:
    clip, voice, line = str(sample.clip), str(sample.voice), sample.line
    cases = {
        "missing clip": [str(folder / "nope.mp4"), "--line", line, "--voice", voice],
        "not a video": [str(folder / "not_a_video.mp4"), "--line", line, "--voice", voice],
        "no video stream": [str(folder / "audio_only.mp4"), "--line", line, "--voice", voice],
        "video with no frames": [str(folder / "no_frames.mp4"), "--line", line, "--voice", voice],
        "missing voice": [clip, "--line", line, "--voice", str(folder / "nope.wav")],
        "zero-length voice": [clip, "--line", line, "--voice", str(folder / "empty.wav")],
        "silent voice": [clip, "--line", line, "--voice", str(folder / "silent.wav")],
        "voice under 1 s": [clip, "--line", line, "--voice", str(folder / "short.wav")],
        "empty line": [clip, "--line", "   ", "--voice", voice],
        "line too long": [clip, "--line", " ".join([line] * 6), "--voice", voice],
        "unwritable out": [clip, "--line", line, "--voice", voice, "--out", str(folder / "a_file" / "out")],
        "bad intensity": [clip, "--line", line, "--voice", voice, "--intensity", "3"],
    }
    return cases[name]


@pytest.mark.parametrize(
    "case",
    ["missing clip", "not a video", "no video stream", "video with no frames", "missing voice", "zero-length voice",
     "silent voice", "voice under 1 s", "empty line", "line too long", "unwritable out", "bad intensity"],
)  # fmt: skip
def test_bad_input_is_one_line_and_writes_nothing(case, bad_inputs, sample, tmp_path, cinedub_home):
    args = _case(case, bad_inputs, sample)
    out = tmp_path / "out"
    if "--out" not in args:
        args += ["--out", str(out)]
    result = run_cinedub("dub", *args, "--session", "bad")
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("cinedub"), result.stderr
    assert not out.exists()  # nothing half-written
    assert "bad\t" not in run_cinedub("sessions").stdout  # no session left behind
