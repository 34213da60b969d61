"""The duration head: how many mel frames a text takes in a voice. Trained in stage 1 beside the flow (an MSE
on log frames, the prompt branch reading the utterance's own mel); once trained, the F5 actor's
`natural_seconds` gives the director a line's natural length from it: the whole length of a line that no
script, dialogue or lips time (free narration), and the length a given window is checked against. With a
window the frame count is the window's."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .config import ModelDims
from .modules import ConvNeXtV2Block


class DurationHead(nn.Module):
    """text ids (b, nt) + prompt mel (b, n, mel) -> predicted log number of frames of the text (b,)."""

    def __init__(self, *, dims: ModelDims, layers: int = 2):
        super().__init__()
        d = dims.text_dim
        self.embed = nn.Embedding(dims.text_num_embeds + 1, d)
        self.blocks = nn.ModuleList([ConvNeXtV2Block(d, 2 * d) for _ in range(layers)])
        self.prompt = nn.Linear(dims.mel_dim, d)
        self.out = nn.Linear(d, 1)

    def forward(self, text: torch.Tensor, prompt: torch.Tensor | None = None,
                prompt_mask: torch.Tensor | None = None) -> torch.Tensor:  # fmt: skip
        valid = text != -1  # b nt
        x = self.embed((text + 1).clamp(min=0)).masked_fill(~valid.unsqueeze(-1), 0.0)  # b nt d
        for block in self.blocks:
            x = block(x).masked_fill(~valid.unsqueeze(-1), 0.0)
        count = valid.sum(-1).clamp(min=1)  # b
        pooled = x.sum(1) / count.unsqueeze(-1)  # b d
        if prompt is not None:
            if prompt_mask is None:
                pooled = pooled + self.prompt(prompt.mean(1))
            else:
                m = prompt_mask.unsqueeze(-1).to(prompt.dtype)
                pooled = pooled + self.prompt((prompt * m).sum(1) / m.sum(1).clamp(min=1.0))
        per_token = self.out(F.silu(pooled)).squeeze(-1)  # b: log frames per token
        return torch.log(count.to(per_token.dtype)) + per_token

    def frames(self, text: torch.Tensor, prompt: torch.Tensor | None = None) -> torch.Tensor:
        """Predicted frames (b,) long."""
        return self.forward(text, prompt).exp().round().long().clamp(min=1)


def duration_loss(pred_log_frames: torch.Tensor, frames: torch.Tensor) -> torch.Tensor:
    return F.mse_loss(pred_log_frames, torch.log(frames.to(pred_log_frames.dtype).clamp(min=1)))
