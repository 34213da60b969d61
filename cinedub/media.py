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
from cinedub.files import atomic_path, storage_error
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


# A stream may end this much before or after another (or before its header's length) without a warning.
STREAM_TOLERANCE_S = 0.5


def _stream_ends(container: av.container.InputContainer) -> dict[int, float]:
    """Seconds from its start to the end of each stream's last packet (demuxed, not decoded), by stream
    index: what the file really holds, which a truncated file's header does not say. A packet that
    cannot be read ends the measurement there."""
    ends: dict[int, float] = {}
    try:
        for packet in container.demux():
            stamp = packet.pts if packet.pts is not None else packet.dts
            stream = packet.stream
            if stamp is None or stream.type not in ("video", "audio"):
                continue
            end = float((stamp - (stream.start_time or 0) + (packet.duration or 0)) * stream.time_base)
            ends[stream.index] = max(ends.get(stream.index, 0.0), end)
    except av.error.FFmpegError:
        pass
    return ends


def _header_seconds(stream: av.stream.Stream | None) -> float | None:
    return float(stream.duration * stream.time_base) if stream is not None and stream.duration else None


def _stream_warnings(path: str | Path, video_s: float, header_s: float | None, audio_s: float | None) -> list[str]:
    """What is wrong with a clip's streams but does not stop a dub (the dub is the video's length)."""
    warnings = []
    if header_s is not None and header_s > video_s + STREAM_TOLERANCE_S:
        warnings.append(f"{path} looks truncated: its video stops at {video_s:.2f} s, its header says "
                        f"{header_s:.2f} s; the dub is {video_s:.2f} s long")  # fmt: skip
    if audio_s is not None and audio_s <= 0:
        warnings.append(f"{path} has an empty audio stream (the dub replaces it)")
    elif audio_s is not None and abs(audio_s - video_s) > STREAM_TOLERANCE_S:
        longer = "longer" if audio_s > video_s else "shorter"
        warnings.append(f"{path}'s audio ({audio_s:.2f} s) is {longer} than its video ({video_s:.2f} s); the "
                        f"clip and the dub are the video's {video_s:.2f} s")  # fmt: skip
    return warnings


def probe(path: str | Path) -> ClipInfo:
    """Duration, streams, frame rate and size of a media file. A clip's duration is its video stream's,
    measured to its last packet (not the container's, which an audio track or a truncated file
    stretches); `warnings` says when the streams disagree."""
    with _open(path) as container:
        video = next(iter(container.streams.video), None)
        audio = next(iter(container.streams.audio), None)
        container_s = float(container.duration / av.time_base) if container.duration is not None else None
        ends = _stream_ends(container)
        video_s = ends.get(video.index, 0.0) if video is not None else None
        audio_s = ends.get(audio.index, 0.0) if audio is not None else None
        if video_s is not None:
            duration = video_s
        elif audio_s is not None:
            duration = audio_s or container_s or _header_seconds(audio) or 0.0
        else:
            duration = container_s or 0.0
        info = ClipInfo(path=str(path), duration=duration, has_video=video is not None, has_audio=audio is not None,
                        video_duration=video_s, audio_duration=audio_s)  # fmt: skip
        if video is not None:
            rate = video.average_rate or video.guessed_rate
            info.fps = float(rate) if rate else None
            info.width, info.height = video.codec_context.width, video.codec_context.height
            info.video_codec = video.codec_context.name
            info.warnings = _stream_warnings(path, duration, _header_seconds(video) or container_s, audio_s)
            counted = video.frames if video.frames and not info.warnings else None  # a header may overstate
            info.num_frames = counted or (round(duration * info.fps) if info.fps else None)
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
                yield t, _rgb(frame, max_side)
        except av.error.FFmpegError as err:
            raise CinedubError(f"cannot decode the video in {path}: {err}") from None


def check_clip(path: str | Path) -> ClipInfo:
    """A readable video with at least one frame (its info, with the probe's warnings), or a one-line
    CinedubError."""
    info = probe(path)
    if not info.has_video:
        raise CinedubError(f"{path} has no video stream")
    if next(iter_frames(path), None) is None:
        raise CinedubError(f"{path} has no video frames")
    return info


def _rgb(frame: av.VideoFrame, max_side: int | None) -> np.ndarray:
    """The frame as RGB (H, W, 3) uint8, scaled (even sides) so its longer side is at most `max_side`."""
    width, height = frame.width, frame.height
    if max_side and max(width, height) > max_side:
        scale = max_side / max(width, height)
        width, height = int(round(width * scale / 2) * 2), int(round(height * scale / 2) * 2)
    return frame.to_ndarray(format="rgb24", width=width, height=height)


def frames_at(path: str | Path, times: list[float], max_side: int | None = None) -> dict[float, np.ndarray]:
    """The frames `iter_frames` gave at `times` (its times), by time: each found by seeking to the
    keyframe before it, so a few frames of a long clip cost a few GOPs' decoding, not the clip's."""
    found: dict[float, np.ndarray] = {}
    with _open(path) as container:
        if not container.streams.video:
            raise CinedubError(f"{path} has no video stream")
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        try:
            for wanted in sorted(set(times)):
                container.seek(int(wanted / stream.time_base), stream=stream, backward=True, any_frame=False)
                for frame in container.decode(stream):
                    if frame.pts is not None and float(frame.pts * stream.time_base) + 1e-6 >= wanted:
                        found[wanted] = _rgb(frame, max_side)
                        break
        except av.error.FFmpegError as err:
            raise CinedubError(f"cannot decode the video in {path}: {err}") from None
    return found


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


def load_audio(path: str | Path, sample_rate: int | None = None, mono: bool = True,
               max_seconds: float | None = None) -> tuple[np.ndarray, int]:  # fmt: skip
    """Decode the first audio stream of any file ffmpeg reads (wav, flac, mp3, m4a, mp4 ...).

    Returns float32 samples in [-1, 1], (num_samples,) when mono else (num_samples, channels), and the
    sample rate (resampled to `sample_rate` when given). With `max_seconds`, decoding stops there: only
    the start of a long recording is read (and held in memory).
    """
    with _open(path) as container:
        if not container.streams.audio:
            raise CinedubError(f"{path} has no audio stream")
        stream = container.streams.audio[0]
        layout = "mono" if mono else stream.codec_context.layout.name
        rate = stream.codec_context.sample_rate
        resampler = av.AudioResampler(format="flt", layout=layout, rate=rate)
        chunks = []
        limit = None if max_seconds is None else int(round(max_seconds * rate))
        read = 0
        try:
            for frame in container.decode(stream):
                for out in resampler.resample(frame):
                    chunks.append(_interleaved(out))
                    read += len(chunks[-1])
                if limit is not None and read >= limit:
                    break
            else:
                for out in resampler.resample(None):
                    chunks.append(_interleaved(out))
        except av.error.FFmpegError as err:
            raise CinedubError(f"cannot decode the audio in {path}: {err}") from None
    audio = np.concatenate(chunks) if chunks else np.zeros((0, 1), np.float32)
    audio = audio if limit is None else audio[:limit]
    audio = audio[:, 0] if mono else audio
    if sample_rate is not None and len(audio):
        audio, rate = resample(audio, rate, sample_rate), sample_rate
    return np.clip(audio, -1.0, 1.0).astype(np.float32), rate


def write_wav(path: str | Path, audio: np.ndarray, sample_rate: int, subtype: str = "PCM_16") -> Path:
    """Write WAV (16-bit PCM; subtype="FLOAT" keeps float32 samples exactly), atomically."""
    path = Path(path)
    try:
        with atomic_path(path) as tmp:
            sf.write(tmp, np.clip(audio, -1.0, 1.0), sample_rate, subtype=subtype, format="WAV")
    except (OSError, sf.LibsndfileError) as err:
        raise storage_error(err, path) or err from None
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
    """Write `out`: the video stream of `video` copied as it is, with `audio` as its only sound; both
    end where the video does."""
    out = Path(out)
    with atomic_path(out) as tmp:
        cmd = [
            ffmpeg_binary(), "-nostdin", "-hide_banner", "-loglevel", "error", "-y",
            "-i", str(video), "-i", str(audio),
            "-map", "0:v:0", "-map", "1:a:0", "-c:v", "copy", "-c:a", "aac", "-b:a", "160k",
            "-t", f"{probe(video).duration:.3f}", "-movflags", "+faststart", str(tmp),
        ]  # fmt: skip
        result = subprocess.run(cmd, capture_output=True, text=True)
        if result.returncode != 0:
            message = result.stderr.strip().splitlines()[-1] if result.stderr.strip() else "unknown error"
            raise CinedubError(f"ffmpeg could not mux {out.name}: {message}")
    return out
