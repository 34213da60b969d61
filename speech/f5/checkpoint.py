"""Checkpoints: F5-TTS's (safetensors with the `ema_model.` prefix, trainer `.pt` files) and cinedub's own
(safetensors with the model dimensions in the metadata). Safe loading only: safetensors, or torch.load
with weights_only=True (a pickle that needs code is refused).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import torch

from cinedub.errors import CinedubError

from .cfm import CFM
from .config import CONFIGS, ModelDims
from .text import read_vocab

FORMAT = "cinedub-f5"


def read_state(path: str | Path) -> tuple[dict, dict[str, str]]:
    """The raw contents of a checkpoint file and its safetensors metadata ({} for .pt)."""
    path = Path(path)
    if not path.is_file():
        raise CinedubError(f"no checkpoint at {path}")
    if path.suffix == ".safetensors":
        from safetensors import safe_open
        from safetensors.torch import load_file

        with safe_open(str(path), framework="pt") as handle:
            metadata = handle.metadata() or {}
        return load_file(str(path), device="cpu"), metadata
    try:
        return torch.load(path, map_location="cpu", weights_only=True), {}
    except Exception as err:  # an unsafe pickle, a truncated file, not a checkpoint at all
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise CinedubError(f"cannot load {path} safely (weights only): {first[:160]}") from None


def model_state(raw: dict, *, use_ema: bool = True) -> dict[str, torch.Tensor]:
    """A CFM state dict from any of the layouts: F5 safetensors (`ema_model.` keys), F5 trainer .pt
    (`ema_model_state_dict` / `model_state_dict`), or a plain state dict."""
    if use_ema and isinstance(raw.get("ema_model_state_dict"), dict):
        raw = raw["ema_model_state_dict"]
    elif isinstance(raw.get("model_state_dict"), dict):
        raw = raw["model_state_dict"]
    state = {}
    for key, value in raw.items():
        key = key[len("ema_model."):] if key.startswith("ema_model.") else key
        if key in ("initted", "step") or not isinstance(value, torch.Tensor):  # the EMA wrapper's bookkeeping
            continue
        if key.startswith("mel_spec."):  # old F5 checkpoints kept torchaudio's buffers
            continue
        state[key] = value
    return state


def _count(state: dict, pattern: str) -> int:
    found = {int(m.group(1)) for k in state if (m := re.fullmatch(pattern, k))}
    return max(found) + 1 if found else 0


def infer_dims(state: dict[str, torch.Tensor], **overrides) -> ModelDims:
    """Model dimensions read off the tensor shapes (the head width from RoPE's inv_freq)."""
    prefix = "transformer."
    if prefix + "proj_out.weight" not in state:
        raise CinedubError("not an F5-TTS checkpoint: no transformer.proj_out.weight")
    mel_dim, dim = state[prefix + "proj_out.weight"].shape
    blk = prefix + "transformer_blocks.0."
    inner = state[blk + "attn.to_q.weight"].shape[0]
    qk = blk + "attn.q_norm.weight" in state
    rope = state.get(prefix + "rotary_embed.inv_freq")  # dh / 2 frequencies
    dim_head = 2 * rope.shape[0] if rope is not None else state[blk + "attn.q_norm.weight"].shape[0] if qk else 64
    embed = state[prefix + "text_embed.text_embed.weight"]
    values = dict(
        dim=dim, mel_dim=mel_dim, dim_head=dim_head, heads=inner // dim_head,
        depth=_count(state, r"transformer\.transformer_blocks\.(\d+)\.attn_norm\.linear\.weight"),
        ff_mult=state[blk + "ff.ff.0.0.weight"].shape[0] // dim,
        text_num_embeds=embed.shape[0] - 1, text_dim=embed.shape[1],
        conv_layers=_count(state, r"transformer\.text_embed\.text_blocks\.(\d+)\.dwconv\.weight"),
        qk_norm="rms_norm" if qk else None,
        long_skip_connection=prefix + "long_skip_connection.weight" in state,
        control_blocks=_count(state, r"controlnet\.blocks\.(\d+)\.attn_norm\.linear\.weight"),
        duration_head="duration_head.out.weight" in state,
        emotion_classes=state["emotion_classifier.out.weight"].shape[0] if "emotion_classifier.out.weight" in state else 0,
    )  # fmt: skip
    if "emotion_classifier.out.weight" in state:
        values["classifier_dim"] = state["emotion_classifier.out.weight"].shape[1]
    if "controlnet.encoder.visual.weight" in state:
        values["visual_dim"] = state["controlnet.encoder.visual.weight"].shape[1]
        values["reference_dim"] = state["controlnet.encoder.reference.weight"].shape[1]
        clip = state.get("controlnet.encoder.clip.weight")
        values["clip_dim"] = clip.shape[1] if clip is not None else 0
    return ModelDims(**{**values, **overrides})


def find_vocab(checkpoint: Path) -> Path | None:
    """vocab.txt beside the checkpoint (or one folder up), else the one packaged with f5-tts if installed."""
    for candidate in (checkpoint.parent / "vocab.txt", checkpoint.parent.parent / "vocab.txt"):
        if candidate.is_file():
            return candidate
    import importlib.util

    spec = importlib.util.find_spec("f5_tts")
    if spec and spec.submodule_search_locations:
        packaged = Path(next(iter(spec.submodule_search_locations))) / "infer" / "examples" / "vocab.txt"
        if packaged.is_file():
            return packaged
    return None


def load_model(name_or_path: str | Path, *, device: str | torch.device = "cpu", vocab: str | Path | None = None,
               use_ema: bool = True, **overrides) -> CFM:  # fmt: skip
    """A CFM from a config name in CONFIGS (random weights) or a checkpoint file (F5-TTS's or cinedub's).

    `overrides` change dimensions, e.g. control_blocks=6 adds a fresh ControlNet (a copy of the loaded
    first blocks, zero-initialised projections) to a plain F5 checkpoint.
    """
    if str(name_or_path) in CONFIGS:
        model = CFM(dims=CONFIGS[str(name_or_path)].replace(**overrides))
        if vocab is not None:
            model.vocab_char_map = read_vocab(vocab)
        return model.to(device)
    path = Path(name_or_path)
    raw, metadata = read_state(path)
    state = model_state(raw, use_ema=use_ema)
    if metadata.get("format") == FORMAT and "dims" in metadata:
        dims = ModelDims.from_dict({**json.loads(metadata["dims"]), **overrides})
    else:
        dims = infer_dims(state, **overrides)
    model = CFM(dims=dims)
    missing, unexpected = model.load_state_dict(state, strict=False)
    if unexpected:
        raise CinedubError(f"{path.name} has weights this model has no place for: {', '.join(unexpected[:3])}")
    lacking = [k for k in missing if k.startswith("transformer.")]
    if lacking:
        raise CinedubError(f"{path.name} lacks {len(lacking)} DiT weights (e.g. {lacking[0]})")
    if model.controlnet is not None and not any(k.startswith("controlnet.blocks.") for k in state):
        model.controlnet.copy_from(model.transformer)  # a fresh branch over the loaded base
    # The parts that were trained: cinedub's trainer records them (a checkpoint also holds untrained heads);
    # of any other checkpoint, the parts it has weights for.
    trained = json.loads(metadata["trained"]) if "trained" in metadata else {k.split(".")[0] for k in state}
    model.trained_parts = sorted(trained)
    vocab_path = Path(vocab) if vocab is not None else find_vocab(path)
    if "vocab" in metadata:
        model.vocab_char_map = json.loads(metadata["vocab"])
    elif vocab_path is not None:
        model.vocab_char_map = read_vocab(vocab_path)
    if model.vocab_char_map is not None and len(model.vocab_char_map) > dims.text_num_embeds:
        raise CinedubError(f"the vocabulary has {len(model.vocab_char_map)} symbols but the model {dims.text_num_embeds}")
    return model.to(device).eval()


def save_checkpoint(model: CFM, path: str | Path, *, extra: dict[str, str] | None = None) -> Path:
    """cinedub's checkpoint: safetensors of the CFM state, dimensions / vocabulary / extra in the metadata."""
    from safetensors.torch import save_file

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().contiguous().cpu() for k, v in model.state_dict().items()}
    metadata = {"format": FORMAT, "dims": json.dumps(model.dims.to_dict())}
    if model.vocab_char_map is not None:
        metadata["vocab"] = json.dumps(model.vocab_char_map, ensure_ascii=False)
    metadata.update({k: str(v) for k, v in (extra or {}).items()})
    tmp = path.with_name(path.name + ".tmp")
    save_file(state, str(tmp), metadata=metadata)
    tmp.replace(path)
    return path
