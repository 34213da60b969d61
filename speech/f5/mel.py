"""Log-mel spectrogram of F5-TTS / Vocos: 24 kHz, 100 HTK mel bins (no area norm), hop 256, window 1024,
magnitude (power 1), centred reflect-padded STFT, natural log clamped at 1e-5.

Written with torch.stft so it runs without torchaudio (whose PyPI build does not load on CPU); the
numbers equal torchaudio.transforms.MelSpectrogram's, which f5-tts and vocos use (tested).
"""

from __future__ import annotations

import math

import torch
from torch import nn

from .config import HOP_LENGTH, N_FFT, N_MELS, SAMPLE_RATE, WIN_LENGTH


def _hz_to_mel(freq: float) -> float:
    return 2595.0 * math.log10(1.0 + freq / 700.0)


def _mel_to_hz(mels: torch.Tensor) -> torch.Tensor:
    return 700.0 * (10.0 ** (mels / 2595.0) - 1.0)


def mel_filterbank(*, n_freqs: int, n_mels: int, sample_rate: int, f_min: float = 0.0,
                   f_max: float | None = None) -> torch.Tensor:  # fmt: skip
    """Triangular HTK filters, (n_freqs, n_mels), as torchaudio.functional.melscale_fbanks(norm=None)."""
    f_max = float(sample_rate // 2) if f_max is None else f_max
    all_freqs = torch.linspace(0, sample_rate // 2, n_freqs)  # (n_freqs,)
    m_pts = torch.linspace(_hz_to_mel(f_min), _hz_to_mel(f_max), n_mels + 2)
    f_pts = _mel_to_hz(m_pts)  # (n_mels + 2,)
    f_diff = f_pts[1:] - f_pts[:-1]  # (n_mels + 1,)
    slopes = f_pts.unsqueeze(0) - all_freqs.unsqueeze(1)  # (n_freqs, n_mels + 2)
    down = (-1.0 * slopes[:, :-2]) / f_diff[:-1]  # (n_freqs, n_mels)
    up = slopes[:, 2:] / f_diff[1:]  # (n_freqs, n_mels)
    return torch.clamp(torch.minimum(down, up), min=0.0)


class MelSpec(nn.Module):
    """wave (b, nw) -> log mel (b, n_mels, n)."""

    def __init__(self, *, sample_rate: int = SAMPLE_RATE, n_fft: int = N_FFT, hop_length: int = HOP_LENGTH,
                 win_length: int = WIN_LENGTH, n_mels: int = N_MELS):  # fmt: skip
        super().__init__()
        self.sample_rate, self.n_fft, self.hop_length, self.win_length = sample_rate, n_fft, hop_length, win_length
        self.n_mel_channels = n_mels
        self.register_buffer("window", torch.hann_window(win_length), persistent=False)
        self.register_buffer("fb", mel_filterbank(n_freqs=n_fft // 2 + 1, n_mels=n_mels, sample_rate=sample_rate),
                             persistent=False)  # fmt: skip

    def magnitude(self, wav: torch.Tensor) -> torch.Tensor:
        """|STFT| (b, n_fft // 2 + 1, n)."""
        spec = torch.stft(wav, self.n_fft, hop_length=self.hop_length, win_length=self.win_length, window=self.window,
                          center=True, pad_mode="reflect", normalized=False, onesided=True, return_complex=True)  # fmt: skip
        return spec.abs()

    def forward(self, wav: torch.Tensor) -> torch.Tensor:
        if wav.ndim == 3:  # b 1 nw -> b nw
            wav = wav.squeeze(1)
        mel = torch.matmul(self.magnitude(wav).transpose(-1, -2), self.fb).transpose(-1, -2)  # b n_mels n
        return mel.clamp(min=1e-5).log()


def frames_for(seconds: float, *, sample_rate: int = SAMPLE_RATE, hop_length: int = HOP_LENGTH) -> int:
    """Mel frames covering `seconds` of audio (the length F5 generates for a target duration)."""
    return max(1, int(round(seconds * sample_rate / hop_length)))
