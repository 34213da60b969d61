"""The ControlNet branch (DeepDubber-V1's actor): a trainable copy of the DiT's first N blocks that sees the
director's conditions and feeds each main block a residual through a zero-initialised linear layer.

Conditions, per take:
- the director's Conclusion: scene type, gender, age group, emotion (label ids, 0 = not given), intensity;
- per-frame visual features brought to the mel frame rate: mouth activity and face-mesh features
  (`speech.actor.VISUAL_FEATURES`), plus a slot for a CLIP-like image embedding when a user has such an encoder;
- the retrieved references: mean / std log-mel (an audio embedding) and their prosody, one vector
  (`references.reference_condition`, computed the same way for the actor and for stage 2 of training).
Video and conclusion (with the references) are separate conditions for multi-condition CFG; each can be
dropped per batch row (`keep_video`, `keep_conclusion`).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from .config import HOP_LENGTH, LABEL_TABLES, SAMPLE_RATE, ModelDims
from .modules import DiTBlock


@dataclass
class Conditions:
    """The director's conditions for a batch, as tensors."""

    labels: torch.Tensor  # b 4 long: scene_type, gender, age_group, emotion; 0 = not given
    intensity: torch.Tensor  # b float in [0, 1]; < 0 = not given
    visual: torch.Tensor | None = None  # b n visual_dim, at mel frame rate
    clip: torch.Tensor | None = None  # b n clip_dim, at mel frame rate
    reference: torch.Tensor | None = None  # b reference_dim

    @property
    def batch(self) -> int:
        return self.labels.shape[0]

    def repeat(self, times: int) -> Conditions:
        """The same conditions for `times` stacked copies of the batch (guidance variants)."""
        rep = lambda v: None if v is None else v.repeat(times, *([1] * (v.ndim - 1)))  # noqa: E731
        return Conditions(rep(self.labels), rep(self.intensity), rep(self.visual), rep(self.clip), rep(self.reference))


def label_ids(*, scene_type: str | None = None, gender: str | None = None, age_group: str | None = None,
              emotion: str | None = None) -> list[int]:  # fmt: skip
    """Label names -> ids (1-based within each table; 0 for a label not given)."""
    values = {"scene_type": scene_type, "gender": gender, "age_group": age_group, "emotion": emotion}
    return [LABEL_TABLES[k].index(v) + 1 if v in LABEL_TABLES[k] else 0 for k, v in values.items()]


def to_mel_rate(features: np.ndarray, fps: float, num_frames: int, *, start: float = 0.0,
                sample_rate: int = SAMPLE_RATE, hop_length: int = HOP_LENGTH) -> np.ndarray:  # fmt: skip
    """Per-video-frame features (T, f) sampled at `fps` -> (num_frames, f) at mel frame times from `start` s
    (linear interpolation, held at the ends)."""
    features = np.asarray(features, dtype=np.float32).reshape(len(features), -1)
    if len(features) == 0:
        return np.zeros((num_frames, features.shape[1]), np.float32)
    src = np.arange(len(features)) / fps
    dst = start + np.arange(num_frames) * hop_length / sample_rate
    return np.stack([np.interp(dst, src, features[:, j]) for j in range(features.shape[1])], axis=1).astype(np.float32)


class ConditionEncoder(nn.Module):
    """Conditions -> two per-frame embeddings (b, n, d): the video one and the conclusion (+ references) one."""

    def __init__(self, *, dims: ModelDims):
        super().__init__()
        d = dims.dim
        self.labels = nn.ModuleList([nn.Embedding(len(LABEL_TABLES[k]) + 1, d) for k in LABEL_TABLES])
        self.intensity = nn.Linear(1, d)
        self.reference = nn.Linear(dims.reference_dim, d)
        self.visual = nn.Linear(dims.visual_dim, d)
        self.clip = nn.Linear(dims.clip_dim, d) if dims.clip_dim > 0 else None
        self.visual_dim = dims.visual_dim

    def forward(self, c: Conditions, n: int) -> tuple[torch.Tensor, torch.Tensor]:
        dtype = self.intensity.weight.dtype
        conclusion = sum(table(c.labels[:, i]) for i, table in enumerate(self.labels))  # b d
        given = (c.intensity >= 0).to(dtype).unsqueeze(-1)  # b 1
        conclusion = conclusion + given * self.intensity(c.intensity.clamp(min=0).to(dtype).unsqueeze(-1))
        if c.reference is not None:
            conclusion = conclusion + self.reference(c.reference.to(dtype))
        conclusion = conclusion.unsqueeze(1).expand(-1, n, -1)  # b n d
        video = torch.zeros_like(conclusion)
        if c.visual is not None:
            visual = c.visual[:, :n].to(dtype)
            visual = nn.functional.pad(visual, (0, self.visual_dim - visual.shape[-1], 0, n - visual.shape[1]))
            video = video + self.visual(visual)
        if c.clip is not None and self.clip is not None:
            clip = c.clip[:, :n].to(dtype)
            video = video + self.clip(nn.functional.pad(clip, (0, 0, 0, n - clip.shape[1])))
        return video, conclusion


class ControlNet(nn.Module):
    """A trainable copy of the first `dims.control_blocks` DiT blocks, conditioned on the director."""

    def __init__(self, *, dims: ModelDims):
        super().__init__()
        self.dims = dims
        self.encoder = ConditionEncoder(dims=dims)
        self.input_proj = nn.Linear(dims.dim, dims.dim)
        self.blocks = nn.ModuleList([
            DiTBlock(dim=dims.dim, heads=dims.heads, dim_head=dims.dim_head, ff_mult=dims.ff_mult,
                     dropout=dims.dropout, qk_norm=dims.qk_norm, pe_attn_head=dims.pe_attn_head)
            for _ in range(dims.control_blocks)
        ])  # fmt: skip
        self.zero_proj = nn.ModuleList([nn.Linear(dims.dim, dims.dim) for _ in range(dims.control_blocks)])
        self.zero_init()

    def zero_init(self) -> None:
        """The conditions enter, and the residuals leave, through layers that start at exactly zero."""
        nn.init.zeros_(self.input_proj.weight)
        nn.init.zeros_(self.input_proj.bias)
        for proj in self.zero_proj:
            nn.init.zeros_(proj.weight)
            nn.init.zeros_(proj.bias)

    @torch.no_grad()
    def copy_from(self, base: nn.Module) -> None:
        """Start the copy from the base DiT's first blocks (ControlNet's recipe)."""
        for mine, theirs in zip(self.blocks, base.transformer_blocks):
            mine.load_state_dict(copy.deepcopy(theirs.state_dict()))

    def embed(self, c: Conditions, n: int, *, keep_video: torch.Tensor | bool = True,
              keep_conclusion: torch.Tensor | bool = True) -> torch.Tensor:  # fmt: skip
        """(b, n, d) condition embedding; rows with keep_* False lose that condition (CFG / dropout)."""
        video, conclusion = self.encoder(c, n)
        kv = torch.as_tensor(keep_video, device=video.device).to(video.dtype).reshape(-1, 1, 1)
        kc = torch.as_tensor(keep_conclusion, device=video.device).to(video.dtype).reshape(-1, 1, 1)
        return kv * video + kc * conclusion

    def residuals(self, h: torch.Tensor, t: torch.Tensor, embed: torch.Tensor, *, mask: torch.Tensor | None,
                  rope: torch.Tensor | None) -> list[torch.Tensor]:  # fmt: skip
        """h (b, n, d) the DiT's input embedding, t (b, d) -> one (b, n, d) residual per main block."""
        h = h + self.input_proj(embed)
        out = []
        for block, proj in zip(self.blocks, self.zero_proj):
            h = block(h, t, mask=mask, rope=rope)
            out.append(proj(h))
        return out


@dataclass
class ControlInput:
    """What the DiT's forward needs from the ControlNet for one batch: the net and the condition embedding."""

    net: ControlNet
    embed: torch.Tensor  # b n d

    def residuals(self, h: torch.Tensor, t: torch.Tensor, *, mask: torch.Tensor | None,
                  rope: torch.Tensor | None) -> list[torch.Tensor]:  # fmt: skip
        return self.net.residuals(h, t, self.embed, mask=mask, rope=rope)
