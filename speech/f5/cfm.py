"""Conditional flow matching (F5-TTS): the training loss on a masked span, and sampling with an Euler ODE,
sway sampling, the low-NFE (EPSS) schedules, batched multi-condition CFG and emotion classifier guidance.

The model holds the DiT (`transformer`, F5's name, so checkpoints' `transformer.*` keys load) and cinedub's
parts: the ControlNet, the duration head and the emotion classifier.
"""

from __future__ import annotations

import contextlib
import random
from collections.abc import Callable, Iterator

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.rnn import pad_sequence

from .config import ModelDims
from .controlnet import Conditions, ControlInput, ControlNet
from .dit import DiT
from .duration import DurationHead
from .guidance import VARIANTS, EmotionClassifier, combine, emotion_guidance, needed_variants
from .mel import MelSpec

# Empirically pruned step sampling (F5-TTS v1): hand-picked grids out of 32 for few steps.
EPSS_TIMESTEPS: dict[int, list[int]] = {
    5: [0, 2, 4, 8, 16, 32],
    6: [0, 2, 4, 6, 8, 16, 32],
    7: [0, 2, 4, 6, 8, 16, 24, 32],
    10: [0, 2, 4, 6, 8, 12, 16, 20, 24, 28, 32],
    12: [0, 2, 4, 6, 8, 10, 12, 14, 16, 20, 24, 28, 32],
    16: [0, 1, 2, 3, 4, 5, 6, 7, 8, 10, 12, 14, 16, 20, 24, 28, 32],
}


def timesteps(steps: int, *, use_epss: bool = True, sway: float | None = None, device=None,
              dtype=torch.float32) -> torch.Tensor:  # fmt: skip
    """The (steps + 1,) time grid from 0 to 1: EPSS's for the step counts it knows, else uniform; then sway
    sampling t + s (cos(pi t / 2) - 1 + t), which with s < 0 spends more steps early."""
    if use_epss and steps in EPSS_TIMESTEPS:
        t = (1 / 32) * torch.tensor(EPSS_TIMESTEPS[steps], device=device, dtype=dtype)
    else:
        t = torch.linspace(0, 1, steps + 1, device=device, dtype=dtype)
    if sway is not None:
        t = t + sway * (torch.cos(torch.pi / 2 * t) - 1 + t)
    return t


def lens_to_mask(lens: torch.Tensor, length: int | None = None) -> torch.Tensor:
    length = int(lens.amax()) if length is None else length
    return torch.arange(length, device=lens.device)[None, :] < lens[:, None]  # b n


def mask_from_frac_lengths(lens: torch.Tensor, frac: torch.Tensor) -> torch.Tensor:
    """A random span of `frac` of each row's length (b, n): the part to infill in training."""
    lengths = (frac * lens).long()
    start = ((lens - lengths) * torch.rand_like(frac)).long().clamp(min=0)
    seq = torch.arange(int(lens.max()), device=lens.device).long()
    return (seq[None, :] >= start[:, None]) & (seq[None, :] < (start + lengths)[:, None])


@contextlib.contextmanager
def flush_denormals() -> Iterator[None]:
    """Treat denormal floats as zero on CPU while sampling: some random / freshly initialised branches drift
    into denormals, which x86 handles ~10x slower (measured: 3.9 s -> 0.5 s for a tiny ControlNet take).
    torch has no getter for the flag, so it is left off afterwards (its default)."""
    enabled = torch.set_flush_denormal(True)
    try:
        yield
    finally:
        if enabled:
            torch.set_flush_denormal(False)


class CFM(nn.Module):
    def __init__(self, *, dims: ModelDims, sigma: float = 0.0, audio_drop_prob: float = 0.3,
                 cond_drop_prob: float = 0.2, frac_lengths_mask: tuple[float, float] = (0.7, 1.0),
                 condition_drop_prob: float = 0.05, vocab_char_map: dict[str, int] | None = None):  # fmt: skip
        super().__init__()
        self.dims = dims
        self.mel_spec = MelSpec(n_mels=dims.mel_dim)
        self.num_channels = dims.mel_dim
        self.transformer = DiT(dims=dims)
        self.controlnet = ControlNet(dims=dims) if dims.control_blocks > 0 else None
        if self.controlnet is not None:
            self.controlnet.copy_from(self.transformer)
        self.duration_head = DurationHead(dims=dims) if dims.duration_head else None
        self.emotion_classifier = EmotionClassifier(dims=dims) if dims.emotion_classes > 0 else None
        self.sigma = sigma
        self.audio_drop_prob, self.cond_drop_prob = audio_drop_prob, cond_drop_prob
        self.condition_drop_prob = condition_drop_prob  # each of script / video / conclusion in stage 2
        self.frac_lengths_mask = frac_lengths_mask
        self.vocab_char_map = vocab_char_map

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    def _mel(self, inp: torch.Tensor) -> torch.Tensor:
        if inp.ndim == 2:  # raw wave b nw -> b n mel
            inp = self.mel_spec(inp).permute(0, 2, 1)
        return inp

    # ------------------------------------------------------------------------------------------
    # training

    def forward(self, inp: torch.Tensor, text: torch.Tensor, *, lens: torch.Tensor | None = None,
                conditions: Conditions | None = None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:  # fmt: skip
        """Flow-matching loss on a random span (70-100 %) of each row; returns (loss, cond, pred).

        Without conditions: F5's recipe (drop the audio prompt 30 %, text and prompt together 20 %, per batch).
        With conditions (stage 2): each of script, video and conclusion dropped 5 % per row.
        """
        x1 = self._mel(inp)  # b n mel
        batch, seq_len, dtype, device = *x1.shape[:2], x1.dtype, x1.device
        lens = torch.full((batch,), seq_len, device=device) if lens is None else lens
        mask = lens_to_mask(lens, length=seq_len)
        frac = torch.zeros((batch,), device=device).float().uniform_(*self.frac_lengths_mask)
        span = mask_from_frac_lengths(lens, frac) & mask  # b n: to be generated
        x0 = torch.randn_like(x1)
        time = torch.rand((batch,), dtype=dtype, device=device)
        t = time[:, None, None]
        xt = (1 - t) * x0 + t * x1  # b n mel
        flow = x1 - x0
        cond = torch.where(span[..., None], torch.zeros_like(x1), x1)

        control = None
        if conditions is None or self.controlnet is None:
            drop_audio = random.random() < self.audio_drop_prob
            drop_text = random.random() < self.cond_drop_prob
            drop_audio = drop_audio or drop_text
        else:
            p = self.condition_drop_prob
            drop_text = torch.rand(batch, device=device) < p
            drop_audio = drop_text | (torch.rand(batch, device=device) < p)
            keep_video = torch.rand(batch, device=device) >= p
            keep_conclusion = torch.rand(batch, device=device) >= p
            embed = self.controlnet.embed(conditions, seq_len, keep_video=keep_video, keep_conclusion=keep_conclusion)
            control = ControlInput(self.controlnet, embed)
        pred = self.transformer(xt, cond, text, time, mask=mask, drop_audio_cond=drop_audio, drop_text=drop_text,
                                control=control)  # fmt: skip
        loss = F.mse_loss(pred, flow, reduction="none")[span]
        return loss.mean(), cond, pred

    # ------------------------------------------------------------------------------------------
    # sampling

    @torch.no_grad()
    def sample(
        self,
        cond: torch.Tensor,  # b n mel (or b nw wave): the prompt
        text: torch.Tensor,  # b nt ids, -1 padding: prompt text + text to say
        duration: int | torch.Tensor,  # total frames (prompt + generated), per row or one
        *,
        lens: torch.Tensor | None = None,  # b: prompt frames (default: all of cond)
        steps: int = 32,
        cfg_strength: float = 1.0,  # script guidance (F5's cfg_strength; its inference uses 2)
        cfg_video: float = 0.0,
        cfg_conclusion: float = 0.0,
        sway_sampling_coef: float | None = None,
        use_epss: bool = True,
        seed: int | None = None,
        conditions: Conditions | None = None,
        emotion: torch.Tensor | None = None,  # b long: target emotion index (0-based) for classifier guidance
        emotion_alpha: float = 0.0,
        emotion_beta: float = 0.0,
        exact_duration: bool = False,  # keep `duration` even when shorter than text / prompt + 1
        max_duration: int = 65536,
        no_ref_audio: bool = False,
        vocoder: Callable[[torch.Tensor], torch.Tensor] | None = None,
        keep_trajectory: bool = True,
    ) -> tuple[torch.Tensor, torch.Tensor | list[torch.Tensor]]:
        """(mel b n mel with the prompt copied in, trajectory (steps + 1) b n mel); as F5's CFM.sample."""
        self.eval()
        cond = self._mel(cond).to(next(self.parameters()).dtype)
        batch, cond_len, device = *cond.shape[:2], cond.device
        lens = torch.full((batch,), cond_len, device=device, dtype=torch.long) if lens is None else lens
        cond_mask = lens_to_mask(lens)
        if isinstance(duration, int):
            duration = torch.full((batch,), duration, device=device, dtype=torch.long)
        if not exact_duration:  # so something is generated (F5's rule)
            duration = torch.maximum(torch.maximum((text != -1).sum(dim=-1), lens) + 1, duration)
        duration = duration.clamp(max=max_duration)
        n = int(duration.amax())
        cond = F.pad(cond, (0, 0, 0, max(0, n - cond_len)), value=0.0)[:, :n]
        if no_ref_audio:
            cond = torch.zeros_like(cond)
        cond_mask = F.pad(cond_mask, (0, max(0, n - cond_mask.shape[-1])), value=False)[:, :n].unsqueeze(-1)
        step_cond = torch.where(cond_mask, cond, torch.zeros_like(cond))  # b n mel
        mask = lens_to_mask(duration) if batch > 1 else None  # single rows need no mask

        # the guidance variants, stacked along the batch: computed once per take, reused every step
        control = self.controlnet is not None and conditions is not None
        names = needed_variants(cfg_script=cfg_strength, cfg_video=cfg_video, cfg_conclusion=cfg_conclusion,
                                control=control)  # fmt: skip
        flags = torch.tensor([VARIANTS[name] for name in names], device=device)  # k 3
        rows = lambda f: f.repeat_interleave(batch)  # noqa: E731  (k,) -> (k b,)
        seq = duration if mask is not None else n
        text_cond = self.transformer.embed_text(text, seq, drop_text=False)  # b n text_dim
        text_null = self.transformer.embed_text(text, seq, drop_text=True) if "null" in names else None
        text_embed = torch.cat([text_cond if VARIANTS[name][0] else text_null for name in names], dim=0)
        drop_audio = ~rows(flags[:, 0])
        k = len(names)
        rows_mask = mask.repeat(k, 1) if mask is not None else None
        control_input = None
        if control:
            embed = self.controlnet.embed(conditions.repeat(k), n, keep_video=rows(flags[:, 1]),
                                          keep_conclusion=rows(flags[:, 2]))  # fmt: skip
            control_input = ControlInput(self.controlnet, embed)
        guide = (emotion is not None and self.emotion_classifier is not None
                 and (emotion_alpha > 0 or emotion_beta > 0))  # fmt: skip
        generated = (~cond_mask).squeeze(-1) if mask is None else (~cond_mask).squeeze(-1) & mask  # b n

        def fn(t: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
            xk = x.repeat(k, 1, 1) if k > 1 else x
            condk = step_cond.repeat(k, 1, 1) if k > 1 else step_cond
            pred = self.transformer(xk, condk, None, t, mask=rows_mask, drop_audio_cond=drop_audio,
                                    text_embed=text_embed, control=control_input)  # fmt: skip
            preds = dict(zip(names, torch.chunk(pred, k, dim=0)))
            v = combine(preds, cfg_script=cfg_strength, cfg_video=cfg_video, cfg_conclusion=cfg_conclusion,
                        control=control)  # fmt: skip
            if guide:
                grad = emotion_guidance(self.emotion_classifier, x, t.expand(batch), emotion.to(device),
                                        alpha=emotion_alpha, beta=emotion_beta, mask=generated)  # fmt: skip
                v = v + grad * generated.unsqueeze(-1)
            return v

        # noise: seeded per row so a row's take does not depend on the batch it is in
        noise = []
        for dur in duration:
            if seed is not None:
                torch.manual_seed(seed)
            noise.append(torch.randn(int(dur), self.num_channels, device=device, dtype=step_cond.dtype))
        y = pad_sequence(noise, padding_value=0, batch_first=True)  # b n mel
        # the time grid is computed in float32: sway sampling in bf16 makes two of its steps equal
        grid = timesteps(steps, use_epss=use_epss, sway=sway_sampling_coef, device=device, dtype=torch.float32)
        trajectory = [y] if keep_trajectory else []
        with flush_denormals():
            for t0, t1 in zip(grid[:-1], grid[1:]):  # explicit Euler
                y = y + (t1 - t0).to(y.dtype) * fn(t0.to(y.dtype), y)
                if keep_trajectory:
                    trajectory.append(y)
        out = torch.where(cond_mask, cond, y)
        if vocoder is not None:
            out = vocoder(out.permute(0, 2, 1))
        return out, (torch.stack(trajectory) if keep_trajectory else [])
