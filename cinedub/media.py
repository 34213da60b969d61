"""Media I/O: probe a clip, decode frames and audio (PyAV), resample (soxr), write WAV, mux (ffmpeg)."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import av
import numpy as np
import soundfile as sf
import soxr

from cinedub.errors import CinedubError
from cinedub.files import atomic_path
from cinedub.types import ClipInfo


def _require_file(path: str | Path) -> Path:
    path = Path(path)
    if not path.exists():
        raise CinedubError(f"no such file: {path}")
    if not path.is_file():
        raise CinedubError(f"not a file: {path}")
    return path


def _open(path: str | Path) -> av.container.InputContainer:
    path = _require_file(path)
    try:
        return av.open(str(path))
    except (av.error.FFmpegError, UnicodeDecodeError, ValueError) as err:
        raise CinedubError(f"{path} is not a media file ffmpeg can read ({err.__class__.__name__})") from None


def probe(path: str | Path) -> ClipInfo:
    """Duration, streams, frame rate and size of a media file."""
    with _open(path) as container:
        video = next(iter(container.streams.video), None)
        audio = next(iter(container.streams.audio), None)
        if container.duration is not None:
            duration = float(container.duration / av.time_base)
        else:
            stream = video or audio
            duration = float(stream.duration * stream.time_base) if stream and stream.duration else 0.0
        info = ClipInfo(path=str(path), duration=duration, has_video=video is not None, has_audio=audio is not None)
        if video is not None:
            rate = video.average_rate or video.guessed_rate
            info.fps = float(rate) if rate else None
            info.width, info.height = video.codec_context.width, video.codec_context.height
            info.num_frames = video.frames or (round(duration * info.fps) if info.fps else None)
            info.video_codec = video.codec_context.name
        if audio is not None:
            info.audio_codec = audio.codec_context.name
            info.sample_rate = audio.codec_context.sample_rate
        return info


def iter_frames(path: str | Path, fps: float | None = None, max_side: int | None = None) -> Iterator[tuple[float, np.ndarray]]:
    """Yield (time in seconds, RGB frame (H, W, 3) uint8), sampled at `fps` (None: every frame).

    Sampling keeps the first decoded frame at or after each tick k / fps, so the times are the real
    presentation times of the frames returned.
    """
    with _open(path) as container:
        if not container.streams.video:
            raise CinedubError(f"{path} has no video stream")
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        next_tick = 0.0
        try:
            for frame in container.decode(stream):
                if frame.pts is None:
                    continue
                t = float(frame.pts * stream.time_base)
                if fps is not None:
                    if t + 1e-6 < next_tick:
                        continue
                    next_tick = (np.floor(t * fps + 1e-6) + 1) / fps
                width, height = frame.width, frame.height
                if max_side and max(width, height) > max_side:
                    scale = max_side / max(width, height)
                    width, height = int(round(width * scale / 2) * 2), int(round(height * scale / 2) * 2)
                yield t, frame.to_ndarray(format="rgb24", width=width, height=height)
        except av.error.FFmpegError as err:
            raise CinedubError(f"cannot decode the video in {path}: {err}") from None


def decode_frames(path: str | Path, fps: float | None = None, max_side: int | None = None) -> tuple[np.ndarray, list[np.ndarray]]:
    """All sampled frames at once: (times (N,), frames [N x (H, W, 3) uint8])."""
    times, frames = [], []
    for t, rgb in iter_frames(path, fps, max_side):
        times.append(t)
        frames.append(rgb)
    if not frames:
        raise CinedubError(f"{path} has no video frames")
    return np.asarray(times), frames


def resample(audio: np.ndarray, sr_in: int, sr_out: int) -> np.ndarray:
    """High-quality resampling (soxr) of a mono or (samples, channels) signal."""
    if sr_in == sr_out:
        return audio.astype(np.float32, copy=False)
    return soxr.resample(audio, sr_in, sr_out, quality="HQ").astype(np.float32)


def _interleaved(frame: av.AudioFrame) -> np.ndarray:
    """(samples, channels) from a packed-float frame."""
    return frame.to_ndarray().reshape(-1, len(frame.layout.channels))


def load_audio(path: str | Path, sample_rate: int | None = None, mono: bool = True) -> tuple[np.ndarray, int]:
    """Decode the first audio stream of any file ffmpeg reads (wav, flac, mp3, m4a, mp4 ...).

    Returns float32 samples in [-1, 1], (num_samples,) when mono else (num_samples, channels), and the
    sample rate (resampled to `sample_rate` when given).
    """
    with _open(path) as container:
        if not container.streams.audio:
            raise CinedubError(f"{path} has no audio stream")
        stream = container.streams.audio[0]
        layout = "mono" if mono else stream.codec_context.layout.name
        rate = stream.codec_context.sample_rate
        resampler = av.AudioResampler(format="flt", layout=layout, rate=rate)
        chunks = []
        try:
            for frame in container.decode(stream):
                for out in resampler.resample(frame):
                    chunks.append(_interleaved(out))
            for out in resampler.resample(None):
                chunks.append(_interleaved(out))
        except av.error.FFmpegError as err:
            raise CinedubError(f"cannot decode the audio in {path}: {err}") from None
    audio = np.concatenate(chunks) if chunks else np.zeros((0, 1), np.float32)
    audio = audio[:, 0] if mono else audio
    if sample_rate is not None and len(audio):
        audio, rate = resample(audio, rate, sample_rate), sample_rate
    return np.clip(audio, -1.0, 1.0).astype(np.float32), rate


def write_wav(path: str | Path, audio: np.ndarray, sample_rate: int) -> Path:
    """Write 16-bit PCM WAV, atomically."""
    path = Path(path)
    with atomic_path(path) as tmp:
        sf.write(tmp, np.clip(audio, -1.0, 1.0), sample_rate, subtype="PCM_16", format="WAV")
    return path


def place(audio: np.ndarray, sample_rate: int, start: float, total: float) -> np.ndarray:
    """Put `audio` at `start` seconds in a silent track `total` seconds long (clipped to it)."""
    track = np.zeros(int(round(total * sample_rate)), np.float32)
    offset = int(round(start * sample_rate))
    chunk = audio[: max(0, len(track) - offset)]
    track[offset : offset + len(chunk)] += chunk
    return track


def ffmpeg_binary() -> str:
    binary = shutil.which("ffmpeg")
    if binary is None:
        raise CinedubError("ffmpeg is not installed (apt-get install ffmpeg)")
    return binary


def mux(video: str | Path, audio: str | Path, out: str | Path) -> Path:
    """Write `out`: the video stream of `video` copied as it is, with `audio` as its only sound."""
    out = Path(out)
    with atomic_path(out) as tmp:
        cmd = [
            ffmpeg_binary(), "-nostdin", "-hide_banner", "-loglevel", "error", "-y",
            "-i", str(video), "-i", str(audio),
            "-map", "0:v:0", "-map", "1:a:0", "-c:v", "copy", "-c:a", "aac", "-b:a", "160k",
            "-movflags", "+faststart", str(tmp),
        ]  # fmt: skip
        result = subprocess.run(cmd, capture_output=True, text=True)
        if result.returncode != 0:
            message = result.stderr.strip().splitlines()[-1] if result.stderr.strip() else "unknown error"
            raise CinedubError(f"ffmpeg could not mux {out.name}: {message}")
    return out
