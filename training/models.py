"""Models and processors for fine-tuning the reasoner: real checkpoints, or tiny ones built in-process.

No model hub is reachable here, so tests build a tiny Qwen2.5-VL (real classes, random weights) around
the *real* Qwen tokenizer, converted from the `qwen.tiktoken` file that the `dashscope` wheel ships:
151,643 byte-level BPE ranks plus Qwen2's 22 special tokens = 151,665 ids, `<|image_pad|>` = 151655.

    from cinedub.training.models import load_model_and_processor
    model, processor = load_model_and_processor("tiny-qwen2.5-vl")        # in-process, random weights
    model, processor = load_model_and_processor("Qwen/Qwen2.5-VL-7B-Instruct")  # a real checkpoint (local path)
"""

from __future__ import annotations

import base64
import os
from functools import lru_cache
from pathlib import Path

from cinedub.errors import CinedubError

TINY = "tiny-qwen2.5-vl"

# Qwen2 / Qwen2.5-VL special tokens, in id order after the 151,643 BPE ranks.
QWEN_SPECIAL_TOKENS: tuple[str, ...] = (
    "<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|object_ref_start|>", "<|object_ref_end|>",
    "<|box_start|>", "<|box_end|>", "<|quad_start|>", "<|quad_end|>", "<|vision_start|>", "<|vision_end|>",
    "<|vision_pad|>", "<|image_pad|>", "<|video_pad|>", "<tool_call>", "</tool_call>", "<|fim_prefix|>",
    "<|fim_middle|>", "<|fim_suffix|>", "<|fim_pad|>", "<|repo_name|>", "<|file_sep|>",
)  # fmt: skip

# Qwen2-VL's chat template (images and videos become <|vision_start|><|image_pad|><|vision_end|>).
QWEN_VL_CHAT_TEMPLATE = (
    "{% set image_count = namespace(value=0) %}{% set video_count = namespace(value=0) %}"
    "{% for message in messages %}{% if loop.first and message['role'] != 'system' %}"
    "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n{% endif %}"
    "<|im_start|>{{ message['role'] }}\n"
    "{% if message['content'] is string %}{{ message['content'] }}<|im_end|>\n"
    "{% else %}{% for content in message['content'] %}"
    "{% if content['type'] == 'image' or 'image' in content or 'image_url' in content %}"
    "{% set image_count.value = image_count.value + 1 %}"
    "{% if add_vision_id %}Picture {{ image_count.value }}: {% endif %}<|vision_start|><|image_pad|><|vision_end|>"
    "{% elif content['type'] == 'video' or 'video' in content %}{% set video_count.value = video_count.value + 1 %}"
    "{% if add_vision_id %}Video {{ video_count.value }}: {% endif %}<|vision_start|><|video_pad|><|vision_end|>"
    "{% elif 'text' in content %}{{ content['text'] }}{% endif %}{% endfor %}<|im_end|>\n"
    "{% endif %}{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


def qwen_tiktoken_path() -> Path:
    try:
        import dashscope
    except ImportError:
        raise CinedubError("the Qwen tokenizer comes from the dashscope wheel: pip install dashscope") from None
    path = Path(dashscope.__file__).parent / "resources" / "qwen.tiktoken"
    if not path.is_file():
        raise CinedubError(f"dashscope ships no qwen.tiktoken at {path}")
    return path


def _cache_dir() -> Path:
    root = os.environ.get("CINEDUB_CACHE") or Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "cinedub"
    return Path(root) / "qwen2-tokenizer"


def _vocab_and_merges(path: Path) -> tuple[dict[str, int], list[tuple[str, str]]]:
    """tiktoken ranks -> byte-level BPE vocab and merges (the algorithm of transformers' TikTokenConverter)."""
    from transformers.convert_slow_tokenizer import bytes_to_unicode

    ranks: dict[bytes, int] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if line:
            token, rank = line.split()
            ranks[base64.b64decode(token)] = int(rank)
    byte_encoder = bytes_to_unicode()

    def text(b: bytes) -> str:
        return "".join(byte_encoder[c] for c in b)

    merges = []
    for token, rank in ranks.items():
        local = [(token[:i], token[i:], rank) for i in range(1, len(token)) if token[:i] in ranks and token[i:] in ranks]
        local.sort(key=lambda x: (ranks[x[0]], ranks[x[1]]))
        merges.extend(local)
    merges.sort(key=lambda m: m[2])
    return {text(t): r for t, r in ranks.items()}, [(text(a), text(b)) for a, b, _ in merges]


@lru_cache(maxsize=1)
def qwen_tokenizer():
    """The real Qwen2 tokenizer (151,665 ids), converted once from dashscope's qwen.tiktoken and cached."""
    from transformers import AddedToken, Qwen2Tokenizer

    cache = _cache_dir()
    if (cache / "tokenizer.json").is_file():
        return Qwen2Tokenizer.from_pretrained(cache)
    vocab, merges = _vocab_and_merges(qwen_tiktoken_path())
    tokenizer = Qwen2Tokenizer(vocab=vocab, merges=merges, errors="replace")
    tokenizer.add_special_tokens(
        {"additional_special_tokens": [AddedToken(t, special=True) for t in QWEN_SPECIAL_TOKENS[1:]]}
    )
    tokenizer.pad_token, tokenizer.eos_token = "<|endoftext|>", "<|im_end|>"
    tokenizer.chat_template = QWEN_VL_CHAT_TEMPLATE
    if len(tokenizer) != 151665 or tokenizer.convert_tokens_to_ids("<|image_pad|>") != 151655:
        raise CinedubError(f"converted Qwen tokenizer is wrong: {len(tokenizer)} ids")
    cache.mkdir(parents=True, exist_ok=True)
    tokenizer.save_pretrained(cache)
    return tokenizer


def _processor_class():
    """Qwen2.5-VL's processor, tolerant of a missing torchvision (the PIL image processor, no video one):
    transformers' class check looks the video base class up in a registry that is a stub without it."""
    from transformers import Qwen2_5_VLProcessor

    class Qwen2_5_VLPilProcessor(Qwen2_5_VLProcessor):
        def check_argument_for_proper_class(self, argument_name, argument):
            try:
                return super().check_argument_for_proper_class(argument_name, argument)
            except AttributeError:  # VIDEO_PROCESSOR_MAPPING is a torchvision stub
                return type(argument)
            except TypeError:  # torchvision present (cinedub.compat): the check refuses video_processor=None
                if argument is None:
                    return None
                raise

        def save_pretrained(self, save_directory, *args, **kwargs):
            if getattr(self, "video_processor", None) is not None:
                return super().save_pretrained(save_directory, *args, **kwargs)
            Path(save_directory).mkdir(parents=True, exist_ok=True)
            self.tokenizer.save_pretrained(save_directory)
            self.image_processor.save_pretrained(save_directory)
            return [str(save_directory)]

    return Qwen2_5_VLPilProcessor


def tiny_processor(max_pixels: int = 56 * 56):
    """A Qwen2.5-VL processor around the real tokenizer; frames (as images) are resized to <= `max_pixels`."""
    from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import Qwen2VLImageProcessorPil

    image_processor = Qwen2VLImageProcessorPil(min_pixels=28 * 28, max_pixels=max_pixels)
    return _processor_class()(image_processor=image_processor, tokenizer=qwen_tokenizer(), video_processor=None,
                              chat_template=QWEN_VL_CHAT_TEMPLATE)  # fmt: skip


def load_processor(path: str | Path):
    """A saved processor: AutoProcessor, or (tiny / no torchvision) the PIL Qwen2.5-VL processor."""
    from transformers import AutoProcessor, Qwen2Tokenizer
    from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import Qwen2VLImageProcessorPil

    try:
        processor = AutoProcessor.from_pretrained(path)
        if hasattr(processor, "image_processor"):
            return processor
    except (AttributeError, ImportError, ValueError, TypeError):
        pass
    image_processor = Qwen2VLImageProcessorPil.from_pretrained(path)
    return _processor_class()(image_processor=image_processor, tokenizer=Qwen2Tokenizer.from_pretrained(path),
                              video_processor=None, chat_template=QWEN_VL_CHAT_TEMPLATE)  # fmt: skip


def tiny_qwen2_5_vl_config(hidden: int = 64, layers: int = 2):
    """Qwen2.5-VL with tiny dims and the real tokenizer's vocabulary size and special ids."""
    from transformers import Qwen2_5_VLConfig

    tok = qwen_tokenizer()
    ids = {name: tok.convert_tokens_to_ids(t) for name, t in
           (("image", "<|image_pad|>"), ("video", "<|video_pad|>"), ("start", "<|vision_start|>"),
            ("end", "<|vision_end|>"), ("eos", "<|im_end|>"), ("pad", "<|endoftext|>"))}  # fmt: skip
    heads = 4
    # M-RoPE splits half the head size into (time, height, width) sections: 8 = 2 + 3 + 3, 16 = 4 + 6 + 6.
    half = hidden // heads // 2
    sections = [half // 4, (half - half // 4) // 2, half - half // 4 - (half - half // 4) // 2]
    text = dict(vocab_size=len(tok), hidden_size=hidden, intermediate_size=2 * hidden, num_hidden_layers=layers,
                num_attention_heads=heads, num_key_value_heads=2, max_position_embeddings=4096,
                rope_scaling={"type": "mrope", "mrope_section": sections},
                rope_parameters={"rope_type": "default", "rope_theta": 10000.0, "mrope_section": sections},
                tie_word_embeddings=True, eos_token_id=ids["eos"], pad_token_id=ids["pad"],
                bos_token_id=ids["pad"])  # fmt: skip
    vision = dict(depth=1, hidden_size=32, intermediate_size=64, num_heads=2, out_hidden_size=hidden,
                  patch_size=14, spatial_merge_size=2, temporal_patch_size=2, window_size=56,
                  fullatt_block_indexes=[0], in_channels=3)  # fmt: skip
    return Qwen2_5_VLConfig(text_config=text, vision_config=vision, image_token_id=ids["image"],
                            video_token_id=ids["video"], vision_start_token_id=ids["start"],
                            vision_end_token_id=ids["end"], tie_word_embeddings=True,
                            eos_token_id=ids["eos"], pad_token_id=ids["pad"])  # fmt: skip


def tiny_qwen2_5_vl(seed: int = 0, hidden: int = 64):
    import torch
    from transformers import Qwen2_5_VLForConditionalGeneration

    torch.manual_seed(seed)
    model = Qwen2_5_VLForConditionalGeneration(tiny_qwen2_5_vl_config(hidden=hidden))
    model.generation_config.eos_token_id = model.config.eos_token_id
    model.generation_config.pad_token_id = model.config.pad_token_id
    return model


# vLLM's CPU attention takes heads of at least 32 dims (vllm/v1/attention/backends/cpu_attn.py); the tiny
# model's own 16 serve transformers only.
VLLM_CPU_MIN_HEAD_SIZE = 32


def save_tiny_vlm(folder: str | Path, *, head_size: int = 16, seed: int = 0) -> Path:
    """A tiny Qwen2.5-VL checkpoint folder (random weights, the real tokenizer, image and video processors)
    that `--reasoner local:FOLDER` loads and, with head_size >= VLLM_CPU_MIN_HEAD_SIZE, vLLM serves."""
    from transformers import Qwen2_5_VLProcessor
    from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import Qwen2VLImageProcessorPil
    from transformers.models.qwen2_vl.video_processing_qwen2_vl import Qwen2VLVideoProcessor

    folder = Path(folder)
    pixels = dict(min_pixels=28 * 28, max_pixels=56 * 56)  # a few visual tokens a frame keep it fast
    processor = Qwen2_5_VLProcessor(image_processor=Qwen2VLImageProcessorPil(**pixels), tokenizer=qwen_tokenizer(),
                                    video_processor=Qwen2VLVideoProcessor(**pixels),
                                    chat_template=QWEN_VL_CHAT_TEMPLATE)  # fmt: skip
    folder.mkdir(parents=True, exist_ok=True)
    tiny_qwen2_5_vl(seed, hidden=4 * head_size).save_pretrained(folder)
    processor.save_pretrained(folder)
    return folder


def save_tiny_qwen3_vl(folder: str | Path, *, seed: int = 0) -> Path:
    """A tiny Qwen3-VL checkpoint folder (random weights, the real tokenizer; 16-px patches, deepstack on its
    one vision block) for `local:FOLDER` and `--model_name_or_path FOLDER`."""
    import torch
    from transformers import Qwen3VLConfig, Qwen3VLForConditionalGeneration, Qwen3VLProcessor
    from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import Qwen2VLImageProcessorPil
    from transformers.models.qwen3_vl.video_processing_qwen3_vl import Qwen3VLVideoProcessor

    tok = qwen_tokenizer()
    ids = {name: tok.convert_tokens_to_ids(f"<|{name}|>") for name in ("image_pad", "video_pad", "vision_start", "vision_end")}
    rope = {"rope_type": "default", "rope_theta": 10000.0, "mrope_section": [2, 3, 3], "mrope_interleaved": True}
    config = Qwen3VLConfig(
        text_config=dict(vocab_size=len(tok), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, head_dim=16, rope_scaling=rope,
                         rope_parameters=rope, tie_word_embeddings=True, eos_token_id=tok.convert_tokens_to_ids("<|im_end|>")),
        vision_config=dict(depth=1, hidden_size=32, intermediate_size=64, num_heads=2, out_hidden_size=64, patch_size=16,
                           spatial_merge_size=2, temporal_patch_size=2, deepstack_visual_indexes=[0], num_position_embeddings=64),
        image_token_id=ids["image_pad"], video_token_id=ids["video_pad"], vision_start_token_id=ids["vision_start"],
        vision_end_token_id=ids["vision_end"], tie_word_embeddings=True)  # fmt: skip
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(seed)
    Qwen3VLForConditionalGeneration(config).save_pretrained(folder)
    Qwen3VLProcessor(image_processor=Qwen2VLImageProcessorPil(min_pixels=32 * 32, max_pixels=64 * 64, patch_size=16),
                     tokenizer=tok, chat_template=QWEN_VL_CHAT_TEMPLATE,
                     video_processor=Qwen3VLVideoProcessor(size={"shortest_edge": 4 * 32 * 32, "longest_edge": 448 * 448},
                                                           patch_size=16)).save_pretrained(folder)  # fmt: skip
    return folder


def load_model_and_processor(name: str, dtype: str = "auto", seed: int = 0):
    """`tiny-qwen2.5-vl` (built in-process) or a local Qwen2.5-VL / Qwen3-VL / InternVL checkpoint."""
    if name == TINY:
        return tiny_qwen2_5_vl(seed), tiny_processor()
    from transformers import AutoModelForImageTextToText

    if not Path(name).exists() and os.environ.get("HF_HUB_OFFLINE") == "1":
        raise CinedubError(f"no model at {name} (the hub is offline; give a local checkpoint folder)")
    model = AutoModelForImageTextToText.from_pretrained(name, dtype=dtype)
    return model, load_processor(name)
