"""`local:PATH`: a vision-language checkpoint run in-process with transformers (the `ChatModel` contract).

Qwen2.5-VL, Qwen3-VL and InternVL load through `AutoProcessor` + `AutoModelForImageTextToText`. The
frames come from `cinedub.agents.frames` (already sampled and sized the way qwen-vl-utils does it), so
the processor is told not to sample or resize again, only to patchify; the frames' source indices and
rate go with them as video metadata (Qwen3-VL writes timestamps from it). Decoding is greedy, so the
same clip gets the same answer.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

from cinedub.agents.vlm import ModelUnavailable, SampledVideo, VisionPrompt
from cinedub.errors import CinedubError

# Families whose processors can take qwen-vl-utils' frames as they are, when the sizes fit their patches.
QWEN_MODEL_TYPES = ("qwen2_vl", "qwen2_5_vl", "qwen3_vl", "qwen3_vl_moe")

_loaded: dict[tuple[str, str, str], tuple[Any, Any]] = {}  # (path, device, dtype) -> (model, processor)
_loading = threading.Lock()


def check_model_dir(path: Path) -> str:
    """The checkpoint's model_type, or a one-line CinedubError saying why `path` is no usable model."""
    if not path.is_dir():
        raise CinedubError(f"reasoner local:{path}: no such model folder")
    config = path / "config.json"
    if not config.is_file():
        raise CinedubError(f"reasoner local:{path}: not a model folder (no config.json)")
    try:
        model_type = json.loads(config.read_text(encoding="utf-8")).get("model_type", "")
    except (OSError, json.JSONDecodeError) as err:
        raise CinedubError(f"reasoner local:{path}: unreadable config.json: {err}") from None
    from transformers.models.auto.modeling_auto import MODEL_FOR_IMAGE_TEXT_TO_TEXT_MAPPING_NAMES

    if model_type not in MODEL_FOR_IMAGE_TEXT_TO_TEXT_MAPPING_NAMES:
        raise CinedubError(f"reasoner local:{path}: a {model_type or 'unknown'!s} model is not a vision-language "
                           "model transformers can run (Qwen2.5-VL, Qwen3-VL, InternVL)")  # fmt: skip
    return model_type


def _load(path: Path, device: str, dtype: str):
    """(model, processor), loaded once per process and path: loading a real checkpoint takes minutes."""
    key = (str(path.resolve()), device, dtype)
    with _loading:
        if key not in _loaded:
            import torch
            from transformers import AutoModelForImageTextToText, AutoProcessor

            torch_dtype = "auto" if dtype == "auto" else getattr(torch, dtype)
            try:
                processor = AutoProcessor.from_pretrained(path)
                model = AutoModelForImageTextToText.from_pretrained(path, dtype=torch_dtype).to(device).eval()
            except (OSError, ValueError, TypeError, KeyError) as err:
                raise CinedubError(f"reasoner local:{path}: cannot load the model: {err}") from None
            if getattr(processor, "video_processor", None) is None:
                raise CinedubError(f"reasoner local:{path}: its processor has no video processor")
            _loaded[key] = (model, processor)
        return _loaded[key]


def _messages(prompt: VisionPrompt) -> list[dict[str, Any]]:
    """The chat: system, the user turn with the video first (as Qwen's examples put it), later turns."""
    user: list[dict[str, Any]] = [{"type": "video"}] if prompt.video is not None else []
    user.append({"type": "text", "text": prompt.question})
    messages = [{"role": "system", "content": [{"type": "text", "text": prompt.system}]},
                {"role": "user", "content": user}]  # fmt: skip
    for turn in prompt.history:
        messages.append({"role": turn["role"], "content": [{"type": "text", "text": turn["content"]}]})
    return messages


def video_metadata(video: SampledVideo):
    """transformers' VideoMetadata for frames that are already sampled."""
    from transformers.video_utils import VideoMetadata

    total = video.total_frames or len(video.frames)
    source_fps = video.source_fps or video.fps
    height, width = video.frames.shape[1:3]
    return VideoMetadata(total_num_frames=total, fps=source_fps, duration=total / source_fps, width=width,
                         height=height, frames_indices=video.frame_indices or list(range(len(video.frames))))  # fmt: skip


class TransformersChat:
    """A `ChatModel` around a local checkpoint folder."""

    def __init__(self, path: str | Path, *, device: str = "cpu", dtype: str | None = None) -> None:
        self.path = Path(path).expanduser()
        self.name = f"local:{path}"
        self.model_type = check_model_dir(self.path)
        self.device = device
        # float32 on a CPU (bfloat16 matmuls are slow there); the checkpoint's own dtype on an accelerator.
        self.dtype = dtype or ("float32" if device == "cpu" else "auto")
        self.model, self.processor = _load(self.path, device, self.dtype)

    def _sized_for_model(self, video: SampledVideo) -> bool:
        """Whether the frames' sides are multiples of the model's merged patch (28 px for Qwen2.5-VL; Qwen3-VL's
        patches are 16 px, so its processor resizes qwen-vl-utils' 28-px multiples to 32-px ones)."""
        processor = self.processor.video_processor
        patch, merge = getattr(processor, "patch_size", None), getattr(processor, "merge_size", None)
        if self.model_type not in QWEN_MODEL_TYPES or not patch or not merge:
            return False
        height, width = video.frames.shape[1:3]
        return height % (patch * merge) == 0 and width % (patch * merge) == 0

    def generate(self, prompt: VisionPrompt, *, max_new_tokens: int) -> str:
        import torch

        text = self.processor.apply_chat_template(_messages(prompt), add_generation_prompt=True, tokenize=False)
        kwargs: dict[str, Any] = {"text": [text], "return_tensors": "pt"}
        if prompt.video is not None:
            kwargs.update(videos=[prompt.video.frames], video_metadata=[video_metadata(prompt.video)],
                          do_sample_frames=False)  # fmt: skip
            if self._sized_for_model(prompt.video):  # qwen-vl-utils' sizes fit this model's patches: only patchify
                kwargs["do_resize"] = False
            if self.model_type in QWEN_MODEL_TYPES:  # qwen-vl-utils' per-frame pixel cap (silences a notice)
                kwargs["cap_pixels_per_frame"] = True
        try:
            inputs = self.processor(**kwargs).to(self.device)
            with torch.inference_mode():
                output = self.model.generate(**inputs, max_new_tokens=max_new_tokens, do_sample=False)
        except (RuntimeError, ValueError) as err:  # out of memory, a prompt longer than the model takes
            raise ModelUnavailable(f"{self.name} failed to generate: {err}") from None
        new_tokens = output[:, inputs["input_ids"].shape[1] :]  # (1, num_new_tokens)
        return self.processor.batch_decode(new_tokens, skip_special_tokens=True)[0]
