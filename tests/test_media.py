"""Media I/O on real footage and real speech: probe, frames, audio of every common format, WAV, mux, SRT."""

from __future__ import annotations

import subprocess

import numpy as np
import pytest

from cinedub import media
from cinedub.errors import CinedubError
from cinedub.subtitles import read_srt, write_srt
from cinedub.types import Line, Window


def test_probe_carphone(carphone_clip):
    info = media.probe(carphone_clip)
    assert info.has_video and not info.has_audio
    assert info.duration == pytest.approx(4.0, abs=0.05)
    assert info.fps == pytest.approx(29.97, abs=0.01)
    assert (info.width, info.height, info.num_frames) == (176, 144, 120)


def test_decode_frames_at_a_chosen_rate(carphone_clip):
    times, frames = media.decode_frames(carphone_clip, fps=10)
    assert len(frames) == 40
    assert frames[0].shape == (144, 176, 3) and frames[0].dtype == np.uint8
    assert np.allclose(np.diff(times), 0.1, atol=0.035)
    _, every = media.decode_frames(carphone_clip)
    assert len(every) == 120


def test_decode_frames_downscales(carphone_clip):
    _, frames = media.decode_frames(carphone_clip, fps=2, max_side=88)
    assert max(frames[0].shape[:2]) == 88


def test_frames_at_gives_back_the_sampled_frames(carphone_clip):
    """Perception re-reads its few crop frames by seeking: they must be the very frames it sampled."""
    times, frames = media.decode_frames(carphone_clip, fps=10, max_side=88)
    picked = [0, 7, 23, len(times) - 1]
    found = media.frames_at(carphone_clip, [float(times[i]) for i in reversed(picked)], max_side=88)
    assert sorted(found) == sorted(float(times[i]) for i in picked)
    assert all(np.array_equal(found[float(times[i])], frames[i]) for i in picked)


@pytest.fixture(scope="module")
def encoded(tmp_path_factory, librivox_wav, carphone_clip):
    """The LibriVox clip encoded as mp3, m4a and as the audio of an mp4, by ffmpeg."""
    folder = tmp_path_factory.mktemp("encoded")
    out = {}
    for ext, codec in (("mp3", ["-c:a", "libmp3lame"]), ("m4a", ["-c:a", "aac"])):
        out[ext] = folder / f"speech.{ext}"
        subprocess.run(["ffmpeg", "-loglevel", "error", "-i", str(librivox_wav), *codec, str(out[ext])], check=True)
    out["mp4"] = folder / "speech.mp4"
    subprocess.run(["ffmpeg", "-loglevel", "error", "-i", str(carphone_clip), "-i", str(librivox_wav), "-map", "0:v",
                    "-map", "1:a", "-c:v", "copy", "-c:a", "aac", str(out["mp4"])], check=True)  # fmt: skip
    return out


@pytest.mark.parametrize("fmt", ["mp3", "m4a", "mp4"])
def test_load_audio_of_any_common_format(encoded, librivox_wav, fmt):
    reference, sr = media.load_audio(librivox_wav)
    assert sr == 16000 and len(reference) == pytest.approx(7.1 * 16000, abs=10)
    decoded, rate = media.load_audio(encoded[fmt], sample_rate=16000)
    assert rate == 16000
    n = min(len(reference), len(decoded)) - 4000
    # Codecs add a delay: compare the envelopes at the best lag.
    env_ref = np.abs(reference[:n]).reshape(-1, 160).mean(1)
    env = np.abs(decoded[: len(decoded) // 160 * 160]).reshape(-1, 160).mean(1)
    corr = max(np.corrcoef(env_ref, env[lag : lag + len(env_ref)])[0, 1] for lag in range(0, 10))
    assert corr > 0.95


def test_resample_keeps_the_signal(librivox_wav):
    audio, sr = media.load_audio(librivox_wav)
    up = media.resample(audio, sr, 22050)
    assert len(up) == pytest.approx(len(audio) * 22050 / 16000, abs=2)
    back = media.resample(up, 22050, sr)
    assert np.corrcoef(audio[1000:-1000], back[1000 : len(audio) - 1000])[0, 1] > 0.99


def test_write_wav_roundtrip(tmp_path, librivox_wav):
    audio, sr = media.load_audio(librivox_wav)
    path = media.write_wav(tmp_path / "out.wav", audio, sr)
    again, sr2 = media.load_audio(path)
    assert sr2 == sr and np.max(np.abs(again - audio)) < 1e-4
    assert [p.name for p in tmp_path.iterdir()] == ["out.wav"]  # no temporary file left


def test_mux_copies_the_video_and_adds_the_audio(tmp_path, carphone_clip, librivox_wav):
    out = media.mux(carphone_clip, librivox_wav, tmp_path / "dub.mp4")
    info = media.probe(out)
    assert info.has_video and info.has_audio and info.video_codec == "h264" and info.num_frames == 120
    original = [f for _, f in media.iter_frames(carphone_clip)]
    muxed = [f for _, f in media.iter_frames(out)]
    assert all(np.array_equal(a, b) for a, b in zip(original, muxed, strict=True))  # stream copied, not re-encoded


@pytest.mark.parametrize("bad", ["missing.mp4", "not_media.mp4"])
def test_bad_files_are_one_line_errors(tmp_path, bad):
    path = tmp_path / bad
    if bad == "not_media.mp4":
        path.write_text("this is not a video\n")
    with pytest.raises(CinedubError) as err:
        media.probe(path)
    assert "\n" not in str(err.value)


def test_srt_roundtrip(tmp_path):
    lines = [Line(text="Where were you?", window=Window(start=0.5, end=1.75)),
             Line(text="Out.  Driving.", window=Window(start=2.0, end=3.2))]  # fmt: skip
    path = write_srt(tmp_path / "lines.srt", lines)
    assert "00:00:00,500 --> 00:00:01,750" in path.read_text()
    back = read_srt(path)
    assert [line.text for line in back] == ["Where were you?", "Out. Driving."]
    assert back[1].window == Window(start=2.0, end=3.2)


def test_bad_srt_is_a_clear_error(tmp_path):
    path = tmp_path / "bad.srt"
    path.write_text("1\nthis is not a timestamp\nhello\n")
    with pytest.raises(CinedubError, match="not a valid SRT"):
        read_srt(path)


def test_outputs_get_ordinary_file_permissions(tmp_path, librivox_wav):
    import os

    audio, sr = media.load_audio(librivox_wav)
    path = media.write_wav(tmp_path / "take.wav", audio, sr)
    umask = os.umask(0)
    os.umask(umask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~umask
