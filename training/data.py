"""Rows (DeepDubber's CoT JSONL, cinedub's JSONL, clip folders) -> TRL datasets with video frames.

A clip becomes `num_frames` frames, sampled with the director's sampler (`cinedub.media.decode_frames`
at the perception fps, resized to `max_side`), evenly spaced, passed to the VLM as images (TRL's
vision collators take `images`). DeepDubber's videos are not public: with `generated_frames=True` a row
whose video is missing gets deterministic generated frames instead (tests; never for real runs).

Dataset columns: `prompt` (conversational, images + question), `completion` (the gold CoT) for SFT;
`prompt`, `chosen`, `rejected` for MPO; `prompt` and `scene_type` (the label, for the outcome reward)
for GRPO; `images` in all.
"""

from __future__ import annotations

import zlib
from pathlib import Path

import numpy as np

from cinedub.errors import CinedubError
from cinedub.training.datasets import CotRow, check_row, read_clip_folder, read_cot_jsonl

FRAME_FPS = 15.0  # the director's perception sampler (agents.perception.DEFAULT_FPS)


def read_rows(source: str | Path) -> list[CotRow]:
    """All rows of a JSONL file or a clip folder."""
    source = Path(source)
    return list(read_clip_folder(source) if source.is_dir() else read_cot_jsonl(source))


def generated_frames(key: str, num_frames: int, size: int = 56) -> list[np.ndarray]:
    """Deterministic stand-in frames for a clip whose video is not available."""
    rng = np.random.default_rng(zlib.crc32(key.encode()))
    base = rng.integers(0, 256, (size, size, 3), dtype=np.uint8)
    return [np.roll(base, 4 * i, axis=1) for i in range(num_frames)]


def clip_frames(path: Path, num_frames: int, max_side: int) -> list[np.ndarray]:
    from cinedub.media import decode_frames

    _, frames = decode_frames(path, fps=FRAME_FPS, max_side=max_side)
    picks = np.linspace(0, len(frames) - 1, num=min(num_frames, len(frames))).round().astype(int)
    return [frames[i] for i in picks]


def row_images(row: CotRow, videos_root: str | Path | None, num_frames: int, max_side: int,
               generated: bool) -> list:  # fmt: skip
    from PIL import Image

    path = Path(videos_root or ".") / (row.video or "")
    if row.video and path.is_file():
        frames = clip_frames(path, num_frames, max_side)
    elif generated:
        frames = generated_frames(row.video or row.id, num_frames)
    else:
        raise CinedubError(f"row {row.row} (id {row.id}): no video at {path} (give --videos_root)")
    return [Image.fromarray(f) for f in frames]


def prompt_messages(question: str, num_images: int) -> list[dict]:
    content = [{"type": "image"} for _ in range(num_images)] + [{"type": "text", "text": question}]
    return [{"role": "user", "content": content}]


def _assistant(text: str) -> list[dict]:
    return [{"role": "assistant", "content": [{"type": "text", "text": text}]}]


def build_dataset(source: str | Path, kind: str, videos_root: str | Path | None = None, num_frames: int = 2,
                  max_side: int = 448, generated: bool = False, limit: int | None = None):  # fmt: skip
    """A `datasets.Dataset` for `kind` in sft | mpo | grpo; a malformed row raises, naming the row."""
    from datasets import Dataset

    need = {"sft": ("video", "answer"), "mpo": ("video", "chosen", "rejected"), "grpo": ("video", "gold")}[kind]
    records = []
    for row in read_rows(source):
        check_row(row, source, need)
        images = row_images(row, videos_root, num_frames, max_side, generated)
        record = {"images": images, "prompt": prompt_messages(row.question, len(images))}
        if kind == "sft":
            record["completion"] = _assistant(row.answer)
        elif kind == "mpo":
            record["chosen"], record["rejected"] = _assistant(row.chosen), _assistant(row.rejected)
        else:
            record["scene_type"] = row.gold
        records.append(record)
        if limit and len(records) >= limit:
            break
    if not records:
        raise CinedubError(f"{source} has no rows")
    return Dataset.from_list(records)
