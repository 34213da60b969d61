"""The building blocks of the F5-TTS v1 DiT, with its parameter names and numerics.

ein notation: b batch, n mel frames, nt text tokens, d model width, h heads, dh head width.
Each class matches the module of the same role in f5_tts/model/modules.py (same math, same state-dict
keys), so a released checkpoint loads into it unchanged.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


class SinusPositionEmbedding(nn.Module):
    """Timestep t (b,) -> sinusoidal features (b, dim), t scaled by 1000."""

    def __init__(self, dim: int):
        super().__init__()
        self.dim = dim

    def forward(self, x: torch.Tensor, scale: float = 1000) -> torch.Tensor:
        half_dim = self.dim // 2
        emb = math.log(10000) / (half_dim - 1)
        emb = torch.exp(torch.arange(half_dim, device=x.device).float() * -emb)  # (half,)
        emb = scale * x.unsqueeze(1) * emb.unsqueeze(0)  # (b, half)
        return torch.cat((emb.sin(), emb.cos()), dim=-1)  # (b, dim)


class TimestepEmbedding(nn.Module):
    """Flow time t (b,) -> conditioning vector (b, d) for every AdaLN."""

    def __init__(self, dim: int, *, freq_embed_dim: int = 256):
        super().__init__()
        self.time_embed = SinusPositionEmbedding(freq_embed_dim)
        self.time_mlp = nn.Sequential(nn.Linear(freq_embed_dim, dim), nn.SiLU(), nn.Linear(dim, dim))

    def forward(self, timestep: torch.Tensor) -> torch.Tensor:
        hidden = self.time_embed(timestep).to(timestep.dtype)  # b 256
        return self.time_mlp(hidden)  # b d


class ConvPositionEmbedding(nn.Module):
    """Two grouped convolutions (kernel 31, 16 groups) with Mish: relative position from the content."""

    def __init__(self, dim: int, *, kernel_size: int = 31, groups: int = 16):
        super().__init__()
        assert kernel_size % 2 == 1
        self.conv1d = nn.Sequential(
            nn.Conv1d(dim, dim, kernel_size, groups=groups, padding=kernel_size // 2),
            nn.Mish(),
            nn.Conv1d(dim, dim, kernel_size, groups=groups, padding=kernel_size // 2),
            nn.Mish(),
        )

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        x = x.permute(0, 2, 1)  # b n d -> b d n
        keep = None if mask is None else mask.unsqueeze(1)  # b 1 n
        if keep is not None:
            x = x.masked_fill(~keep, 0.0)
        for layer in self.conv1d:
            x = layer(x)
            if keep is not None and isinstance(layer, nn.Conv1d):
                x = x.masked_fill(~keep, 0.0)
        # Contiguous again: a permuted (b, n, d) makes the residual stream that is added to it permuted
        # too, and every later LayerNorm copy it and every residual add stride across it (~5% of a
        # Base forward on CPU). F5's cfg_infer hides this by concatenating its two halves.
        return x.permute(0, 2, 1).contiguous()  # b n d


def precompute_freqs_cis(dim: int, end: int, theta: float = 10000.0) -> torch.Tensor:
    """Absolute sinusoidal positions for the text encoder, (end, dim): [cos | sin]."""
    freqs = 1.0 / (theta ** (torch.arange(0, dim, 2)[: dim // 2].float() / dim))
    t = torch.arange(end, device=freqs.device)
    freqs = torch.outer(t, freqs).float()  # end dim/2
    return torch.cat([torch.cos(freqs), torch.sin(freqs)], dim=-1)


class GRN(nn.Module):
    """Global response normalisation (ConvNeXt V2); gamma = beta = 0 makes it the identity."""

    def __init__(self, dim: int):
        super().__init__()
        self.gamma = nn.Parameter(torch.zeros(1, 1, dim))
        self.beta = nn.Parameter(torch.zeros(1, 1, dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # b n d
        gx = torch.norm(x, p=2, dim=1, keepdim=True)  # b 1 d
        nx = gx / (gx.mean(dim=-1, keepdim=True) + 1e-6)
        return self.gamma * (x * nx) + self.beta + x


class ConvNeXtV2Block(nn.Module):
    """Depthwise conv (7) -> LayerNorm -> MLP with GRN, residual; (b, nt, d) in and out."""

    def __init__(self, dim: int, intermediate_dim: int, *, dilation: int = 1):
        super().__init__()
        self.dwconv = nn.Conv1d(dim, dim, kernel_size=7, padding=dilation * 3, groups=dim, dilation=dilation)
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        self.pwconv1 = nn.Linear(dim, intermediate_dim)
        self.act = nn.GELU()
        self.grn = GRN(intermediate_dim)
        self.pwconv2 = nn.Linear(intermediate_dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        residual = x
        x = self.dwconv(x.transpose(1, 2)).transpose(1, 2)  # b n d
        x = self.pwconv2(self.grn(self.act(self.pwconv1(self.norm(x)))))
        return residual + x


class RotaryEmbedding(nn.Module):
    """RoPE over the head width with interleaved pairs (x-transformers' layout, buffer `inv_freq`)."""

    def __init__(self, dim: int, *, base: float = 10000.0):
        super().__init__()
        self.register_buffer("inv_freq", 1.0 / (base ** (torch.arange(0, dim, 2).float() / dim)))

    def forward_from_seq_len(self, seq_len: int) -> torch.Tensor:
        t = torch.arange(seq_len, device=self.inv_freq.device).type_as(self.inv_freq)
        freqs = torch.einsum("i,j->ij", t, self.inv_freq)  # n dh/2
        return torch.stack((freqs, freqs), dim=-1).reshape(1, seq_len, -1)  # 1 n dh: f0 f0 f1 f1 ...


def _rotate_half(x: torch.Tensor) -> torch.Tensor:
    x1, x2 = x.unflatten(-1, (-1, 2)).unbind(dim=-1)  # pairs (x1, x2) -> (-x2, x1)
    return torch.stack((-x2, x1), dim=-1).flatten(-2)


def apply_rotary(t: torch.Tensor, freqs: torch.Tensor) -> torch.Tensor:
    """t (b, h, n, dh), freqs (1, n, dh') with dh' <= dh (the rest is left unrotated)."""
    rot_dim, seq_len, dtype = freqs.shape[-1], t.shape[-2], t.dtype
    freqs = freqs[:, -seq_len:, :].unsqueeze(1)  # 1 1 n dh'
    if rot_dim == t.shape[-1] and dtype in (torch.float32, torch.float64):
        # Each pair (x1, x2) as the complex number x1 + i x2, times e^(i f): the same rotation in one pass
        # over t instead of five, and no concatenation with an empty unrotated rest (~3% of a forward on CPU).
        angle = freqs[..., ::2]  # 1 1 n dh/2: one angle per pair (freqs holds each twice)
        pairs = t.unflatten(-1, (-1, 2))  # b h n dh/2 2, a view (q and k are transposed views, last dim dense)
        pairs = torch.view_as_complex(pairs if pairs.stride(-1) == 1 else pairs.contiguous())
        return torch.view_as_real(pairs * torch.polar(torch.ones_like(angle), angle)).flatten(-2)
    t, rest = t[..., :rot_dim], t[..., rot_dim:]
    t = t * freqs.cos() + _rotate_half(t) * freqs.sin()
    return torch.cat((t, rest), dim=-1).type(dtype)


class RMSNorm(nn.Module):
    def __init__(self, dim: int, *, eps: float = 1e-6):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.weight.dtype in (torch.float16, torch.bfloat16):
            x = x.to(self.weight.dtype)
        return F.rms_norm(x, normalized_shape=(x.shape[-1],), weight=self.weight, eps=self.eps)


class AdaLayerNorm(nn.Module):
    """AdaLN-zero: t (b, d) -> shift/scale/gate for attention and for the MLP (six chunks)."""

    def __init__(self, dim: int):
        super().__init__()
        self.silu = nn.SiLU()
        self.linear = nn.Linear(dim, dim * 6)
        self.norm = nn.LayerNorm(dim, elementwise_affine=False, eps=1e-6)

    def forward(self, x: torch.Tensor, emb: torch.Tensor):
        emb = self.linear(self.silu(emb))  # b 6d
        shift_msa, scale_msa, gate_msa, shift_mlp, scale_mlp, gate_mlp = torch.chunk(emb, 6, dim=1)
        x = self.norm(x) * (1 + scale_msa[:, None]) + shift_msa[:, None]
        return x, gate_msa, shift_mlp, scale_mlp, gate_mlp


class AdaLayerNormFinal(nn.Module):
    """The final modulation before the output projection: t (b, d) -> scale, shift (in that order)."""

    def __init__(self, dim: int):
        super().__init__()
        self.silu = nn.SiLU()
        self.linear = nn.Linear(dim, dim * 2)
        self.norm = nn.LayerNorm(dim, elementwise_affine=False, eps=1e-6)

    def forward(self, x: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:
        scale, shift = torch.chunk(self.linear(self.silu(emb)), 2, dim=1)  # b d, b d
        return self.norm(x) * (1 + scale)[:, None, :] + shift[:, None, :]


class FeedForward(nn.Module):
    """Linear -> GELU(tanh) -> dropout -> Linear; keys ff.0.0 and ff.2 as in F5."""

    def __init__(self, dim: int, *, mult: float = 4, dropout: float = 0.0, approximate: str = "tanh"):
        super().__init__()
        inner = int(dim * mult)
        self.ff = nn.Sequential(nn.Sequential(nn.Linear(dim, inner), nn.GELU(approximate=approximate)),
                                nn.Dropout(dropout), nn.Linear(inner, dim))  # fmt: skip

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.ff(x)


class Attention(nn.Module):
    """Self-attention with RoPE (on all heads, or the first `pe_attn_head`) and optional q/k RMSNorm."""

    def __init__(self, *, dim: int, heads: int, dim_head: int, dropout: float = 0.0, qk_norm: str | None = None,
                 pe_attn_head: int | None = None):  # fmt: skip
        super().__init__()
        self.heads, self.dim_head, self.pe_attn_head = heads, dim_head, pe_attn_head
        inner = heads * dim_head
        self.to_q = nn.Linear(dim, inner)
        self.to_k = nn.Linear(dim, inner)
        self.to_v = nn.Linear(dim, inner)
        if qk_norm is None:
            self.q_norm = self.k_norm = None
        elif qk_norm == "rms_norm":
            self.q_norm, self.k_norm = RMSNorm(dim_head), RMSNorm(dim_head)
        else:
            raise ValueError(f"unknown qk_norm {qk_norm!r}")
        self.to_out = nn.ModuleList([nn.Linear(inner, dim), nn.Dropout(dropout)])

    def forward(self, x: torch.Tensor, *, mask: torch.Tensor | None = None,
                rope: torch.Tensor | None = None) -> torch.Tensor:  # fmt: skip
        b = x.shape[0]
        q, k, v = (proj(x).view(b, -1, self.heads, self.dim_head).transpose(1, 2)
                   for proj in (self.to_q, self.to_k, self.to_v))  # fmt: skip  # b h n dh
        if self.q_norm is not None:
            q, k = self.q_norm(q), self.k_norm(k)
        if rope is not None:
            if self.pe_attn_head is None:
                q, k = apply_rotary(q, rope), apply_rotary(k, rope)
            else:
                pn = self.pe_attn_head
                q = torch.cat((apply_rotary(q[:, :pn], rope), q[:, pn:]), dim=1)
                k = torch.cat((apply_rotary(k[:, :pn], rope), k[:, pn:]), dim=1)
        # F5 v1 trains and samples without an attention mask (padding is masked after the projection)
        out = F.scaled_dot_product_attention(q, k, v, dropout_p=0.0, is_causal=False)  # b h n dh
        out = out.transpose(1, 2).reshape(b, -1, self.heads * self.dim_head).to(q.dtype)  # b n h*dh
        out = self.to_out[1](self.to_out[0](out))
        if mask is not None:
            out = out.masked_fill(~mask.unsqueeze(-1), 0.0)
        return out


class DiTBlock(nn.Module):
    """AdaLN-zero transformer block: modulated attention and modulated MLP, both gated by t."""

    def __init__(self, *, dim: int, heads: int, dim_head: int, ff_mult: float = 4, dropout: float = 0.1,
                 qk_norm: str | None = None, pe_attn_head: int | None = None):  # fmt: skip
        super().__init__()
        self.attn_norm = AdaLayerNorm(dim)
        self.attn = Attention(dim=dim, heads=heads, dim_head=dim_head, dropout=dropout, qk_norm=qk_norm,
                              pe_attn_head=pe_attn_head)  # fmt: skip
        self.ff_norm = nn.LayerNorm(dim, elementwise_affine=False, eps=1e-6)
        self.ff = FeedForward(dim, mult=ff_mult, dropout=dropout, approximate="tanh")

    def forward(self, x: torch.Tensor, t: torch.Tensor, *, mask: torch.Tensor | None = None,
                rope: torch.Tensor | None = None) -> torch.Tensor:  # fmt: skip
        norm, gate_msa, shift_mlp, scale_mlp, gate_mlp = self.attn_norm(x, emb=t)
        x = x + gate_msa.unsqueeze(1) * self.attn(norm, mask=mask, rope=rope)
        norm = self.ff_norm(x) * (1 + scale_mlp[:, None]) + shift_mlp[:, None]
        return x + gate_mlp.unsqueeze(1) * self.ff(norm)
