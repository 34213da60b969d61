"""The F5-TTS v1 DiT backbone: text embedding (ConvNeXt V2), input embedding (noisy mel + masked
conditioning mel + text, convolutional position embedding), RoPE, AdaLN-zero blocks, final AdaLN.

Parameter names equal f5_tts.model.backbones.dit.DiT's. Two things are cinedub's: per-row dropout flags
(so every guidance variant runs in one batched forward), and the ControlNet's residuals, added after
the first blocks through zero-initialised projections (see controlnet.py).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F
from torch import nn

from .config import ModelDims
from .modules import AdaLayerNormFinal, ConvNeXtV2Block, ConvPositionEmbedding, DiTBlock, RotaryEmbedding, \
    TimestepEmbedding, precompute_freqs_cis  # fmt: skip

if TYPE_CHECKING:
    from .controlnet import ControlInput

Flags = bool | torch.Tensor  # one flag for the batch, or one per row (b,)


def _rows(flag: Flags, batch: int, device) -> torch.Tensor:
    """A per-row boolean (b,) from a flag."""
    if isinstance(flag, torch.Tensor):
        return flag.to(device=device, dtype=torch.bool).reshape(batch)
    return torch.full((batch,), bool(flag), device=device, dtype=torch.bool)


class TextEmbedding(nn.Module):
    """Text ids (b, nt), -1 = padding -> (b, n, text_dim) aligned to the n mel frames (filler 0 after the text)."""

    def __init__(self, *, text_num_embeds: int, text_dim: int, conv_layers: int = 0, conv_mult: int = 2,
                 mask_padding: bool = True, max_pos: int = 8192):  # fmt: skip
        super().__init__()
        self.text_embed = nn.Embedding(text_num_embeds + 1, text_dim)  # index 0: filler / dropped text
        self.mask_padding = mask_padding
        self.extra_modeling = conv_layers > 0
        if self.extra_modeling:
            self.register_buffer("freqs_cis", precompute_freqs_cis(text_dim, max_pos), persistent=False)
            self.text_blocks = nn.Sequential(*[ConvNeXtV2Block(text_dim, text_dim * conv_mult)
                                               for _ in range(conv_layers)])  # fmt: skip

    def forward(self, text: torch.Tensor, seq_len: int | torch.Tensor, drop_text: Flags = False) -> torch.Tensor:
        text = text + 1  # b nt; padding -1 -> filler 0
        valid = None
        if isinstance(seq_len, torch.Tensor):  # per-row lengths (b,)
            seq_len = seq_len.to(device=text.device, dtype=torch.long)
            n = int(seq_len.max().item())
        else:
            n = int(seq_len)
        text = F.pad(text[:, :n], (0, n - min(n, text.shape[1])), value=0)  # b n
        if isinstance(seq_len, torch.Tensor):
            valid = torch.arange(n, device=text.device).unsqueeze(0) < seq_len.unsqueeze(1)  # b n
            text = text.masked_fill(~valid, 0)
        pad_mask = (text == 0).unsqueeze(-1) if self.mask_padding else None  # b n 1, before any drop
        drop = _rows(drop_text, text.shape[0], text.device)
        if bool(drop.any()):
            text = text.masked_fill(drop.unsqueeze(1), 0)
        x = self.text_embed(text)  # b n d
        if valid is not None:
            x = x.masked_fill(~valid.unsqueeze(-1), 0.0)
        if self.extra_modeling:
            freqs = self.freqs_cis[:n, :]  # n d
            if valid is not None:
                freqs = freqs.unsqueeze(0) * valid.unsqueeze(-1).to(freqs.dtype)
            x = x + freqs
            if pad_mask is not None:
                x = x.masked_fill(pad_mask, 0.0)
                for block in self.text_blocks:
                    x = block(x).masked_fill(pad_mask, 0.0)
            else:
                x = self.text_blocks(x)
        return x


class InputEmbedding(nn.Module):
    """[noisy mel | conditioning mel | text] (b, n, 2 mel + text_dim) -> (b, n, d), plus conv positions."""

    def __init__(self, *, mel_dim: int, text_dim: int, out_dim: int):
        super().__init__()
        self.proj = nn.Linear(mel_dim * 2 + text_dim, out_dim)
        self.conv_pos_embed = ConvPositionEmbedding(out_dim)

    def forward(self, x: torch.Tensor, cond: torch.Tensor, text_embed: torch.Tensor, *,
                drop_audio_cond: Flags = False, mask: torch.Tensor | None = None) -> torch.Tensor:  # fmt: skip
        drop = _rows(drop_audio_cond, x.shape[0], x.device)
        if bool(drop.any()):
            cond = cond.masked_fill(drop[:, None, None], 0.0)
        x = self.proj(torch.cat((x, cond, text_embed), dim=-1))  # b n d
        return self.conv_pos_embed(x, mask=mask) + x


class DiT(nn.Module):
    """Predicts the flow (b, n, mel) from the noisy mel x_t, the masked prompt mel, the text and t."""

    def __init__(self, *, dims: ModelDims):
        super().__init__()
        self.dims = dims
        self.dim, self.depth = dims.dim, dims.depth
        self.time_embed = TimestepEmbedding(dims.dim)
        self.text_embed = TextEmbedding(text_num_embeds=dims.text_num_embeds, text_dim=dims.text_dim,
                                        conv_layers=dims.conv_layers)  # fmt: skip
        self.input_embed = InputEmbedding(mel_dim=dims.mel_dim, text_dim=dims.text_dim, out_dim=dims.dim)
        self.rotary_embed = RotaryEmbedding(dims.dim_head)
        self.transformer_blocks = nn.ModuleList([
            DiTBlock(dim=dims.dim, heads=dims.heads, dim_head=dims.dim_head, ff_mult=dims.ff_mult,
                     dropout=dims.dropout, qk_norm=dims.qk_norm, pe_attn_head=dims.pe_attn_head)
            for _ in range(dims.depth)
        ])  # fmt: skip
        self.long_skip_connection = nn.Linear(dims.dim * 2, dims.dim, bias=False) if dims.long_skip_connection else None
        self.norm_out = AdaLayerNormFinal(dims.dim)
        self.proj_out = nn.Linear(dims.dim, dims.mel_dim)
        self.initialize_weights()

    def initialize_weights(self) -> None:
        # AdaLN-zero: every block starts as the identity ...
        for block in self.transformer_blocks:
            nn.init.zeros_(block.attn_norm.linear.weight)
            nn.init.zeros_(block.attn_norm.linear.bias)
        # ... and the output starts at zero flow.
        nn.init.zeros_(self.norm_out.linear.weight)
        nn.init.zeros_(self.norm_out.linear.bias)
        nn.init.zeros_(self.proj_out.weight)
        nn.init.zeros_(self.proj_out.bias)

    def embed_text(self, text: torch.Tensor, seq_len: int | torch.Tensor, drop_text: Flags = False) -> torch.Tensor:
        """(b, nt) ids -> (b, n, text_dim); the sampler computes this once per take, not per step."""
        return self.text_embed(text, seq_len, drop_text=drop_text)

    def embed_input(self, x: torch.Tensor, cond: torch.Tensor, text_embed: torch.Tensor, *,
                    drop_audio_cond: Flags = False, mask: torch.Tensor | None = None) -> torch.Tensor:  # fmt: skip
        return self.input_embed(x, cond, text_embed, drop_audio_cond=drop_audio_cond, mask=mask)

    def forward(
        self,
        x: torch.Tensor,  # b n mel: noisy mel x_t
        cond: torch.Tensor,  # b n mel: the prompt mel, zero where generated
        text: torch.Tensor | None,  # b nt: text ids (-1 padding); None when text_embed is given
        time: torch.Tensor,  # b or scalar: flow time in [0, 1]
        *,
        mask: torch.Tensor | None = None,  # b n: valid frames (None: all)
        drop_audio_cond: Flags = False,
        drop_text: Flags = False,
        text_embed: torch.Tensor | None = None,  # b n text_dim, precomputed (drop_text then ignored)
        control: ControlInput | None = None,  # the ControlNet and its condition embedding
    ) -> torch.Tensor:
        batch, seq_len = x.shape[0], x.shape[1]
        if time.ndim == 0:
            time = time.repeat(batch)
        t = self.time_embed(time)  # b d
        if text_embed is None:
            text_embed = self.embed_text(text, seq_len if mask is None else mask.sum(dim=1), drop_text)
        h = self.embed_input(x, cond, text_embed, drop_audio_cond=drop_audio_cond, mask=mask)  # b n d
        rope = self.rotary_embed.forward_from_seq_len(seq_len)  # 1 n dh
        residuals = control.residuals(h, t, mask=mask, rope=rope) if control is not None else []
        skip = h if self.long_skip_connection is not None else None
        for i, block in enumerate(self.transformer_blocks):
            h = block(h, t, mask=mask, rope=rope)
            if i < len(residuals):
                h = h + residuals[i]  # zero at initialisation: the base model's output exactly
        if skip is not None:
            h = self.long_skip_connection(torch.cat((h, skip), dim=-1))
        return self.proj_out(self.norm_out(h, t))  # b n mel

