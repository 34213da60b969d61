"""Mel -> wave. Vocos (the `charactr/vocos-mel-24khz` layout: config.yaml + pytorch_model.bin, or
model.safetensors), written here so it needs neither the vocos package nor torchaudio; and Griffin-Lim
when no vocoder weights are present (the take says so: `Vocoder.name`).
"""

from __future__ import annotations

import os
from pathlib import Path

import torch
from torch import nn

from cinedub.errors import CinedubError

from .config import HOP_LENGTH, N_FFT, N_MELS, SAMPLE_RATE, WIN_LENGTH
from .mel import mel_filterbank

VOCOS_MEL_24KHZ = dict(input_channels=N_MELS, dim=512, intermediate_dim=1536, num_layers=8, n_fft=N_FFT,
                       hop_length=HOP_LENGTH)  # fmt: skip
GRIFFIN_LIM_NAME = "griffin-lim (no vocoder weights found)"


class VocosBlock(nn.Module):
    """ConvNeXt block of Vocos: (b, d, n) in and out, layer scale `gamma`."""

    def __init__(self, *, dim: int, intermediate_dim: int, layer_scale: float):
        super().__init__()
        self.dwconv = nn.Conv1d(dim, dim, kernel_size=7, padding=3, groups=dim)
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        self.pwconv1 = nn.Linear(dim, intermediate_dim)
        self.act = nn.GELU()
        self.pwconv2 = nn.Linear(intermediate_dim, dim)
        self.gamma = nn.Parameter(layer_scale * torch.ones(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.dwconv(x).transpose(1, 2)  # b n d
        y = self.gamma * self.pwconv2(self.act(self.pwconv1(self.norm(y))))
        return x + y.transpose(1, 2)


class VocosBackbone(nn.Module):
    def __init__(self, *, input_channels: int, dim: int, intermediate_dim: int, num_layers: int):
        super().__init__()
        self.embed = nn.Conv1d(input_channels, dim, kernel_size=7, padding=3)
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        self.convnext = nn.ModuleList([VocosBlock(dim=dim, intermediate_dim=intermediate_dim,
                                                  layer_scale=1 / num_layers) for _ in range(num_layers)])  # fmt: skip
        self.final_layer_norm = nn.LayerNorm(dim, eps=1e-6)

    def forward(self, mel: torch.Tensor) -> torch.Tensor:  # b mel n -> b n d
        x = self.norm(self.embed(mel).transpose(1, 2)).transpose(1, 2)  # b d n
        for block in self.convnext:
            x = block(x)
        return self.final_layer_norm(x.transpose(1, 2))


class ISTFTHead(nn.Module):
    """(b, n, d) -> log-magnitude and phase -> inverse STFT with "same" padding -> (b, n * hop)."""

    def __init__(self, *, dim: int, n_fft: int, hop_length: int):
        super().__init__()
        self.n_fft, self.hop_length = n_fft, hop_length
        self.out = nn.Linear(dim, n_fft + 2)
        self.istft = nn.Module()
        self.istft.register_buffer("window", torch.hann_window(n_fft))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mag, phase = self.out(x).transpose(1, 2).chunk(2, dim=1)  # b f n each
        mag = torch.clip(torch.exp(mag), max=1e2)
        spec = mag * (torch.cos(phase) + 1j * torch.sin(phase))
        return istft_same(spec, self.n_fft, self.hop_length, self.istft.window)


def istft_same(spec: torch.Tensor, n_fft: int, hop: int, window: torch.Tensor) -> torch.Tensor:
    """Inverse STFT by overlap-add with "same" padding (Vocos): (b, f, n) complex -> (b, n * hop)."""
    n = spec.shape[-1]
    pad = (n_fft - hop) // 2
    frames = torch.fft.irfft(spec, n_fft, dim=1, norm="backward") * window[None, :, None]  # b n_fft n
    size = (n - 1) * hop + n_fft
    y = nn.functional.fold(frames, output_size=(1, size), kernel_size=(1, n_fft), stride=(1, hop))[:, 0, 0, pad:-pad]
    envelope = nn.functional.fold(window.square().expand(1, n, -1).transpose(1, 2), output_size=(1, size),
                                  kernel_size=(1, n_fft), stride=(1, hop)).squeeze()[pad:-pad]  # fmt: skip
    return y / envelope


class Vocos(nn.Module):
    name = "vocos"

    def __init__(self, *, input_channels: int = N_MELS, dim: int = 512, intermediate_dim: int = 1536,
                 num_layers: int = 8, n_fft: int = N_FFT, hop_length: int = HOP_LENGTH):  # fmt: skip
        super().__init__()
        self.backbone = VocosBackbone(input_channels=input_channels, dim=dim, intermediate_dim=intermediate_dim,
                                      num_layers=num_layers)  # fmt: skip
        self.head = ISTFTHead(dim=dim, n_fft=n_fft, hop_length=hop_length)
        self.sample_rate = SAMPLE_RATE

    @torch.no_grad()
    def forward(self, mel: torch.Tensor) -> torch.Tensor:
        """log mel (b, mel, n) -> wave (b, n * hop)."""
        return self.head(self.backbone(mel))


class GriffinLim(nn.Module):
    """log mel (b, mel, n) -> wave: least-squares linear magnitude, then Griffin-Lim phase (momentum 0.99)."""

    name = GRIFFIN_LIM_NAME

    def __init__(self, *, n_iter: int = 32, momentum: float = 0.99):
        super().__init__()
        self.n_iter, self.momentum, self.sample_rate = n_iter, momentum, SAMPLE_RATE
        fb = mel_filterbank(n_freqs=N_FFT // 2 + 1, n_mels=N_MELS, sample_rate=SAMPLE_RATE)  # f mel
        self.register_buffer("inverse", torch.linalg.pinv(fb), persistent=False)  # mel f
        self.register_buffer("window", torch.hann_window(WIN_LENGTH), persistent=False)

    @torch.no_grad()
    def forward(self, mel: torch.Tensor) -> torch.Tensor:
        mag = torch.matmul(mel.exp().transpose(1, 2), self.inverse).transpose(1, 2).clamp(min=0)  # b f n
        n = mag.shape[-1]
        length = n * HOP_LENGTH
        stft = lambda w: torch.stft(w, N_FFT, HOP_LENGTH, WIN_LENGTH, self.window, center=True,  # noqa: E731
                                    return_complex=True)[..., :n]  # fmt: skip
        istft = lambda s: torch.istft(s, N_FFT, HOP_LENGTH, WIN_LENGTH, self.window, center=True,  # noqa: E731
                                      length=length)  # fmt: skip
        gen = torch.Generator().manual_seed(0)
        angles = torch.exp(2j * torch.pi * torch.rand(mag.shape, generator=gen)).to(mag.device)
        previous = torch.zeros_like(angles)
        for _ in range(self.n_iter):
            rebuilt = stft(istft(mag * angles))
            angles = rebuilt - (self.momentum / (1 + self.momentum)) * previous
            angles = angles / angles.abs().clamp(min=1e-16)
            previous = rebuilt
        return istft(mag * angles)


def _read_config(folder: Path) -> dict:
    config = dict(VOCOS_MEL_24KHZ)
    path = folder / "config.yaml"
    if path.is_file():
        try:
            import yaml
        except ImportError:
            return config
        parsed = yaml.safe_load(path.read_text())
        backbone = (parsed.get("backbone") or {}).get("init_args", {})
        head = (parsed.get("head") or {}).get("init_args", {})
        for key in ("input_channels", "dim", "intermediate_dim", "num_layers"):
            config[key] = backbone.get(key, config[key])
        config["n_fft"], config["hop_length"] = head.get("n_fft", config["n_fft"]), head.get("hop_length", config["hop_length"])
        if head.get("padding", "same") != "same" or "adanorm_num_embeddings" in backbone:
            raise CinedubError(f"{path}: only the mel Vocos layout (ISTFT head, 'same' padding) is supported")
    return config


def load_vocos(folder: str | Path) -> Vocos:
    """Vocos from a folder laid out like charactr/vocos-mel-24khz (config.yaml + pytorch_model.bin)."""
    folder = Path(folder)
    weights = next((folder / n for n in ("model.safetensors", "pytorch_model.bin") if (folder / n).is_file()), None)
    if weights is None:
        raise CinedubError(f"no Vocos weights (pytorch_model.bin or model.safetensors) in {folder}")
    if weights.suffix == ".safetensors":
        from safetensors.torch import load_file

        state = load_file(str(weights))
    else:
        try:
            state = torch.load(weights, map_location="cpu", weights_only=True)
        except Exception as err:
            raise CinedubError(f"cannot load {weights} safely (weights only): {str(err)[:120]}") from None
    vocos = Vocos(**_read_config(folder))
    state = {k: v for k, v in state.items() if not k.startswith("feature_extractor.")}
    missing, unexpected = vocos.load_state_dict(state, strict=False)
    if missing or unexpected:
        raise CinedubError(f"{weights} is not a mel Vocos: {(missing + unexpected)[:3]}")
    return vocos.eval()


def vocos_folders(near: Path | None = None) -> list[Path]:
    """Where Vocos weights may already be on this machine (nothing is downloaded)."""
    folders = []
    if os.environ.get("CINEDUB_VOCOS"):
        folders.append(Path(os.environ["CINEDUB_VOCOS"]))
    if near is not None:
        folders += [near / "vocos", near / "vocos-mel-24khz", near.parent / "vocos-mel-24khz"]
    hub = Path(os.environ.get("HF_HUB_CACHE", Path.home() / ".cache" / "huggingface" / "hub"))
    folders += sorted((hub / "models--charactr--vocos-mel-24khz" / "snapshots").glob("*"))
    return folders


def load_vocoder(path: str | Path | None = None, *, near: Path | None = None) -> Vocos | GriffinLim:
    """Vocos from `path`, else from the first folder of vocos_folders() that has it, else Griffin-Lim."""
    if path is not None:
        return load_vocos(path)
    for folder in vocos_folders(near):
        if (folder / "pytorch_model.bin").is_file() or (folder / "model.safetensors").is_file():
            return load_vocos(folder)
    return GriffinLim()
