"""Guidance at sampling time.

- Multi-condition classifier-free guidance (DeepDubber-V1, eq. 20): one flow estimate per nested set of
  conditions, null ⊂ script ⊂ script+video ⊂ script+video+conclusion, each increment with its own scale:
      v = v_full + s_script (v_s - v_null) + s_video (v_sv - v_s) + s_conclusion (v_svc - v_sv)
  With no ControlNet the last two increments vanish and this is F5-TTS's CFG, v + s (v - v_null).
- Emotion-intensity classifier guidance (EmoDubber): an emotion classifier on noisy mels x_t; the flow is
  pushed along alpha * grad log p(target | x_t) (positive guidance) minus beta * the mean grad log p of the
  other emotions (negative guidance).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .config import ModelDims
from .modules import TimestepEmbedding

# The nested condition sets, in the order the batched forward stacks them: (text+audio, video, conclusion).
VARIANTS: dict[str, tuple[bool, bool, bool]] = {
    "full": (True, True, True),
    "script": (True, False, False),
    "script_video": (True, True, False),
    "null": (False, False, False),
}


def needed_variants(*, cfg_script: float, cfg_video: float, cfg_conclusion: float, control: bool) -> list[str]:
    """The flow estimates a step needs, "full" first; without a ControlNet video and conclusion are absent."""
    names = ["full"]
    if not control:
        return names + (["null"] if cfg_script else [])
    wanted = []
    if cfg_script:
        wanted += ["script", "null"]
    if cfg_video:
        wanted += ["script_video", "script"]
    if cfg_conclusion:
        wanted += ["script_video"]
    return names + [n for n in VARIANTS if n in wanted and n != "full"]


def combine(preds: dict[str, torch.Tensor], *, cfg_script: float, cfg_video: float, cfg_conclusion: float,
            control: bool) -> torch.Tensor:  # fmt: skip
    """The guided flow from the variant estimates (each b n mel)."""
    out = preds["full"]
    if not control:
        return out + (out - preds["null"]) * cfg_script if cfg_script else out
    if cfg_script:
        out = out + (preds["script"] - preds["null"]) * cfg_script
    if cfg_video:
        out = out + (preds["script_video"] - preds["script"]) * cfg_video
    if cfg_conclusion:
        out = out + (preds["full"] - preds["script_video"]) * cfg_conclusion
    return out


class EmotionClassifier(nn.Module):
    """Noisy mel x_t (b, n, mel) at flow time t (b,) -> emotion logits (b, emotion_classes)."""

    def __init__(self, *, dims: ModelDims):
        super().__init__()
        h = dims.classifier_dim
        self.time_embed = TimestepEmbedding(h)
        self.conv_in = nn.Conv1d(dims.mel_dim, h, kernel_size=5, padding=2)
        self.film = nn.Linear(h, 2 * h)
        self.conv_mid = nn.Conv1d(h, h, kernel_size=5, padding=2)
        self.out = nn.Linear(h, dims.emotion_classes)

    def forward(self, x: torch.Tensor, t: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        if t.ndim == 0:
            t = t.repeat(x.shape[0])
        scale, shift = self.film(F.silu(self.time_embed(t))).chunk(2, dim=-1)  # b h
        h = F.gelu(self.conv_in(x.transpose(1, 2)))  # b h n
        h = h * (1 + scale[:, :, None]) + shift[:, :, None]
        h = F.gelu(self.conv_mid(h)) + h  # b h n
        if mask is None:
            pooled = h.mean(dim=-1)
        else:
            m = mask[:, None, :].to(h.dtype)
            pooled = (h * m).sum(-1) / m.sum(-1).clamp(min=1.0)
        return self.out(pooled)  # b E


def emotion_guidance(classifier: EmotionClassifier, x: torch.Tensor, t: torch.Tensor, target: torch.Tensor, *,
                     alpha: float, beta: float, mask: torch.Tensor | None = None) -> torch.Tensor:  # fmt: skip
    """d/dx [alpha log p(target | x_t) - beta mean_{j != target} log p(j | x_t)], (b, n, mel), times each row's
    number of frames: the classifier mean-pools over frames, so this keeps alpha's effect per frame independent
    of the take's length (on a tiny trained model alpha ~0.5 flips a confident classifier)."""
    with torch.enable_grad():
        x = x.detach().requires_grad_(True)
        logp = classifier(x, t, mask).log_softmax(dim=-1)  # b E
        positive = logp.gather(1, target.view(-1, 1)).squeeze(1)  # b
        negative = (logp.sum(dim=-1) - positive) / max(logp.shape[-1] - 1, 1)  # b
        (grad,) = torch.autograd.grad((alpha * positive - beta * negative).sum(), x)
    frames = mask.sum(dim=1) if mask is not None else torch.full((x.shape[0],), x.shape[1], device=x.device)
    return grad.detach() * frames.to(grad.dtype)[:, None, None]


def classifier_loss(classifier: EmotionClassifier, x1: torch.Tensor, target: torch.Tensor,
                    mask: torch.Tensor | None = None) -> torch.Tensor:  # fmt: skip
    """Cross-entropy on x_t = (1 - t) x0 + t x1 at a random t, the noise levels the sampler visits."""
    t = torch.rand(x1.shape[0], device=x1.device, dtype=x1.dtype)
    xt = (1 - t[:, None, None]) * torch.randn_like(x1) + t[:, None, None] * x1
    return F.cross_entropy(classifier(xt, t, mask), target)
