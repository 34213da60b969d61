"""The frames a VLM director watches: sampled once, by one sampler, for every backend.

qwen-vl-utils' `fetch_video` does the sampling (decord reader; frame count a multiple of 2 at `fps`,
between its minimum and `max_frames`; frames resized to multiples of 28 px within `max_pixels`), the
way Qwen2.5-VL / Qwen3-VL were trained to see video. `local:` hands the frames to the processor and
`openai:` encodes the same frames, so both backends are shown exactly the same pictures.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np

from cinedub import media
from cinedub.agents.vlm import SampledVideo
from cinedub.errors import CinedubError

# Qwen2.5-VL's defaults are 2 fps and up to 768 frames; a director needs a few seconds' gist, not all.
DEFAULT_FPS = 2.0
DEFAULT_MAX_FRAMES = 32
# Per frame: 448x448 px at most (256 visual tokens before the 2x2 merge); at least 4 patches of 28 px.
DEFAULT_MAX_PIXELS = 448 * 448
DEFAULT_MIN_PIXELS = 4 * 28 * 28
# qwen-vl-utils samples an even number of frames (Qwen's temporal patch is 2 frames).
FRAME_FACTOR = 2
PATCH_FACTOR = 28


def _fetch_with_qwen_vl_utils(clip: Path, *, fps: float, max_frames: int, max_pixels: int, min_pixels: int):
    """(frames (T, H, W, 3) uint8, metadata dict, sample fps) from qwen-vl-utils with decord."""
    os.environ.setdefault("FORCE_QWENVL_VIDEO_READER", "decord")  # never torchcodec (MODELS.md)
    from qwen_vl_utils import fetch_video

    request = {"video": str(clip), "fps": fps, "max_frames": max_frames, "min_pixels": min_pixels,
               "max_pixels": max(max_pixels, min_pixels)}  # fmt: skip
    (video, metadata), sample_fps = fetch_video(request, return_video_metadata=True, return_video_sample_fps=True)
    # (T, 3, H, W) float 0..255 after its bicubic resize -> (T, H, W, 3) uint8
    frames = video.round().clamp(0, 255).byte().permute(0, 2, 3, 1).numpy()
    return frames, metadata, float(sample_fps)


def _fetch_with_pyav(clip: Path, *, fps: float, max_frames: int, max_pixels: int, min_pixels: int):
    """The same selection rule with PyAV and PIL, for machines where qwen-vl-utils cannot import."""
    from PIL import Image

    info = media.probe(clip)
    times, frames = media.decode_frames(clip)
    total = len(frames)
    source_fps = info.fps or (total / info.duration if info.duration else 1.0)
    wanted = min(max(total / source_fps * fps, FRAME_FACTOR), max_frames, total)
    count = max(FRAME_FACTOR, int(wanted // FRAME_FACTOR) * FRAME_FACTOR)
    if count > total:
        raise CinedubError(f"{clip} has {total} frames; the director needs at least {FRAME_FACTOR}")
    indices = np.linspace(0, total - 1, count).round().astype(int).tolist()
    height, width = frames[0].shape[:2]
    scale = min(1.0, math.sqrt(max_pixels / (height * width)))
    scale = max(scale, math.sqrt(min_pixels / (height * width)))
    size = (max(PATCH_FACTOR, round(width * scale / PATCH_FACTOR) * PATCH_FACTOR),
            max(PATCH_FACTOR, round(height * scale / PATCH_FACTOR) * PATCH_FACTOR))  # fmt: skip
    picked = np.stack([np.asarray(Image.fromarray(frames[i]).resize(size, Image.BICUBIC)) for i in indices])
    metadata = {"fps": source_fps, "frames_indices": indices, "total_num_frames": total, "video_backend": "pyav"}
    return picked, metadata, count / total * source_fps


def sample_frames(clip: str | Path, *, fps: float = DEFAULT_FPS, max_frames: int = DEFAULT_MAX_FRAMES,
                  max_pixels: int = DEFAULT_MAX_PIXELS, min_pixels: int = DEFAULT_MIN_PIXELS) -> SampledVideo:  # fmt: skip
    """Frames of `clip` at about `fps` (at most `max_frames`, even count), each within `max_pixels`."""
    clip = Path(clip)
    if not clip.is_file():
        raise CinedubError(f"no video at {clip}")
    if fps <= 0 or max_frames < FRAME_FACTOR:
        raise CinedubError(f"frame sampling needs fps > 0 and max_frames >= {FRAME_FACTOR}")
    try:
        frames, metadata, sample_fps = _fetch_with_qwen_vl_utils(
            clip, fps=fps, max_frames=max_frames, max_pixels=max_pixels, min_pixels=min_pixels)
    except ImportError:  # qwen-vl-utils / torchvision missing: same rule, PyAV
        frames, metadata, sample_fps = _fetch_with_pyav(
            clip, fps=fps, max_frames=max_frames, max_pixels=max_pixels, min_pixels=min_pixels)
    except (RuntimeError, ValueError, AssertionError) as err:  # decord cannot read it, too few frames
        raise CinedubError(f"cannot sample frames from {clip}: {err}") from None
    source_fps = float(metadata["fps"])
    indices = [int(i) for i in metadata["frames_indices"]]
    return SampledVideo(
        path=clip,
        frames=np.ascontiguousarray(frames),
        times=np.asarray(indices, dtype=np.float64) / source_fps,
        fps=float(sample_fps),
        source_fps=source_fps,
        frame_indices=indices,
        total_frames=int(metadata["total_num_frames"]),
        reader=str(metadata.get("video_backend", "decord")),
    )
