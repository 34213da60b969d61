"""Speed of cinedub's F5 DiT against the f5-tts package's at the same config, on this CPU.

Prints one JSON object: per config (tiny; F5 v1 Base: dim 1024, depth 22, heads 16, random weights) the
forward time (CFG batch 2, as F5 samples), the full-sample time at 32 and 16 NFE, their ratios (f5-tts /
cinedub: > 1 means cinedub is faster; the two implementations' runs interleaved, so drift hits both), RTF
and peak memory. On a GPU (--device cuda, the default
when CUDA is present) both run in bf16 and the peak is the GPU's.
Usage: python bench/actor_bench.py [--configs tiny,F5TTS_v1_Base] [--seconds 5] [--repeats 3] [--nfe 32,16]
                                   [--sample-repeats 1] [--device auto|cpu|cuda] [--dtype auto|float32|bfloat16]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys

os.environ.setdefault("WANDB_MODE", "disabled")

import torch  # noqa: E402
from timing import peak_rss_mb, timed_alternating  # noqa: E402  (bench/timing.py)

from cinedub.speech.f5 import CONFIGS, HOP_LENGTH, SAMPLE_RATE  # noqa: E402
from cinedub.speech.f5.cfm import CFM  # noqa: E402


def reference(dims):
    from f5_tts.model import CFM as F5CFM
    from f5_tts.model import DiT as F5DiT

    dit = F5DiT(dim=dims.dim, depth=dims.depth, heads=dims.heads, dim_head=dims.dim_head, ff_mult=dims.ff_mult,
                mel_dim=dims.mel_dim, text_num_embeds=dims.text_num_embeds, text_dim=dims.text_dim,
                conv_layers=dims.conv_layers)  # fmt: skip
    with torch.no_grad():
        for p in dit.parameters():
            p.add_(0.02 * torch.randn_like(p))
    return F5CFM(transformer=dit).eval()


def bench(name: str, seconds: float, repeats: int, sample_repeats: int, nfes: list[int], device: str,
          dtype: torch.dtype) -> dict:
    dims = CONFIGS[name].replace(duration_head=False, emotion_classes=0)
    torch.manual_seed(0)
    try:
        theirs = reference(dims)
    except ImportError as err:
        theirs, missing = None, str(err)
    ours = CFM(dims=dims).eval()
    if theirs is not None:
        ours.load_state_dict(theirs.state_dict(), strict=False)
        theirs.to(device=device, dtype=dtype)
    ours.to(device=device, dtype=dtype)
    sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)
    prompt = int(2.0 * SAMPLE_RATE / HOP_LENGTH)
    gen = int(seconds * SAMPLE_RATE / HOP_LENGTH)
    total = prompt + gen
    g = torch.Generator().manual_seed(0)
    cond, text = torch.randn(1, prompt, 100, generator=g), torch.randint(0, min(255, dims.text_num_embeds), (1, 120), generator=g)
    x, t = torch.randn(1, total, 100, generator=g), torch.tensor([0.5])
    condp = torch.nn.functional.pad(cond, (0, 0, 0, gen))
    cond, text, x, t, condp = (v.to(device=device, dtype=dtype if v.is_floating_point() else v.dtype)
                               for v in (cond, text, x, t, condp))  # fmt: skip
    if device == "cuda":
        torch.cuda.reset_peak_memory_stats()
    result: dict = {"frames": total, "generated_seconds": seconds, "params_m": round(sum(p.numel() for p in ours.transformer.parameters()) / 1e6, 1)}
    forward = {"cinedub": lambda: ours.transformer(
        x.repeat(2, 1, 1), condp.repeat(2, 1, 1), text.repeat(2, 1), t.repeat(2),
        drop_audio_cond=torch.tensor([False, True]), drop_text=torch.tensor([False, True]))}  # fmt: skip
    if theirs is not None:
        forward["f5_tts"] = lambda: theirs.transformer(x, condp, text, t, cfg_infer=True)
    with torch.no_grad():
        result["forward_cfg_s"] = timed_alternating(forward, repeats, sync=sync)
    for nfe in nfes:
        key = f"sample_{nfe}nfe_s"
        kw = dict(steps=nfe, cfg_strength=2.0, sway_sampling_coef=-1.0, seed=0)
        sample = {"cinedub": lambda: ours.sample(cond, text, total, keep_trajectory=False, **kw)}
        if theirs is not None:
            sample["f5_tts"] = lambda: theirs.sample(cond, text, total, **kw)
        try:  # the forwards warmed both up; samples alternate too
            result[key] = timed_alternating(sample, sample_repeats, warm_up=False, sync=sync)
        except AssertionError as err:  # torchdiffeq refuses f5's bf16 time grid (two steps round together)
            result[key] = {"cinedub": timed_alternating({"cinedub": sample["cinedub"]}, sample_repeats, warm_up=False,
                                                        sync=sync)["cinedub"],
                           "f5_tts_error": f"{err} (f5-tts samples in {str(dtype).removeprefix('torch.')})"}  # fmt: skip
        result[f"rtf_{nfe}nfe_cinedub"] = round(result[key]["cinedub"] / seconds, 3)
    low, high = min(nfes), max(nfes)
    if low < high and "f5_tts" in result[f"sample_{high}nfe_s"]:
        # F5-TTS samples with 32 steps by default; cinedub's low-NFE schedule (EPSS) takes fewer
        result[f"f5_tts_{high}nfe_over_cinedub_{low}nfe"] = round(
            result[f"sample_{high}nfe_s"]["f5_tts"] / result[f"sample_{low}nfe_s"]["cinedub"], 3)
    for key, value in list(result.items()):
        if isinstance(value, dict) and "f5_tts" in value:
            value["ratio_f5_over_cinedub"] = round(value["f5_tts"] / value["cinedub"], 3)
        if isinstance(value, dict):
            for k in ("cinedub", "f5_tts"):
                if k in value:
                    value[k] = round(value[k], 4)
    if theirs is None:
        result["f5_tts"] = f"not installed ({missing})"
    result["peak_rss_mb_so_far"] = round(peak_rss_mb(), 1)
    if device == "cuda":
        result["peak_gpu_mb"] = round(torch.cuda.max_memory_allocated() / 2**20, 1)
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--configs", default="tiny,F5TTS_v1_Base")
    parser.add_argument("--seconds", type=float, default=5.0, help="seconds of speech generated after a 2 s prompt")
    parser.add_argument("--repeats", type=int, default=3, help="forwards timed per implementation")
    parser.add_argument("--sample-repeats", type=int, default=1, help="full samples timed per implementation")
    parser.add_argument("--nfe", default="32,16")
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    parser.add_argument("--dtype", choices=("auto", "float32", "bfloat16"), default="auto", help="auto: bf16 on CUDA")
    args = parser.parse_args(argv)
    device = ("cuda" if torch.cuda.is_available() else "cpu") if args.device == "auto" else args.device
    dtype = getattr(torch, args.dtype) if args.dtype != "auto" else (torch.bfloat16 if device == "cuda" else torch.float32)
    out = {"device": device, "dtype": str(dtype).removeprefix("torch."), "threads": torch.get_num_threads(),
           "torch": torch.__version__, "cpu": platform.processor() or platform.machine(),
           "gpu": torch.cuda.get_device_name() if device == "cuda" else "not measured: " + (
               "run with --device cuda" if torch.cuda.is_available() else "no CUDA device on this machine"),
           "note": "cinedub's sample flushes denormals to zero (a CPU speed-up of its own); forwards are timed without it for both",
           "configs": {}}  # fmt: skip
    for name in args.configs.split(","):
        out["configs"][name] = bench(name, args.seconds, args.repeats, args.sample_repeats, [int(n) for n in args.nfe.split(",")],
                                     device, dtype)
        print(json.dumps({name: out["configs"][name]}), file=sys.stderr)
    print(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
