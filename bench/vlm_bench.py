"""Speed of the VLM director's pieces on this CPU: frame sampling, the `local:` backend with a tiny
Qwen2.5-VL (random weights, real tokenizer: the cost of the plumbing, not of a real model), and the CoT
parser over DeepDubber's gold answers.

Prints one JSON object. Usage: python bench/vlm_bench.py [--repeats 5] [--tokens 64]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

from timing import timed  # bench/timing.py (this folder is on sys.path when a bench runs)

from cinedub.agents.cot import parse_cot
from cinedub.agents.frames import sample_frames
from cinedub.agents.vlm_reasoner import build_reason_prompt
from cinedub.samples import carphone
from cinedub.training.models import save_tiny_vlm

COT_SAMPLE = Path(__file__).resolve().parents[2] / "shared" / "data" / "cot_movie_dubbing_sample.jsonl"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--tokens", type=int, default=64)
    args = parser.parse_args()
    import torch

    from cinedub.agents.local_model import TransformersChat

    clip = carphone()
    result: dict = {"clip": clip.name, "threads": torch.get_num_threads()}
    video = sample_frames(clip)
    result["frames"] = {"count": len(video.frames), "size": list(video.frames.shape[1:3]), "reader": video.reader,
                        "sample_s": round(timed(lambda: sample_frames(clip), args.repeats), 4)}  # fmt: skip
    with tempfile.TemporaryDirectory() as folder:
        start = time.perf_counter()
        chat = TransformersChat(save_tiny_vlm(folder))
        result["tiny_load_s"] = round(time.perf_counter() - start, 2)
        prompt = build_reason_prompt(video, None, ["Get out of my car."])
        first = timed(lambda: chat.generate(prompt, max_new_tokens=1), args.repeats)
        full = timed(lambda: chat.generate(prompt, max_new_tokens=args.tokens), max(1, args.repeats // 2))
        result["tiny_local"] = {"prefill_s": round(first, 4), "tokens": args.tokens, "generate_s": round(full, 3),
                                "decode_ms_per_token": round(1000 * (full - first) / (args.tokens - 1), 2)}  # fmt: skip
    if COT_SAMPLE.is_file():
        answers = [json.loads(line)["conversations"][-1]["value"] for line in COT_SAMPLE.open()]
        seconds = timed(lambda: [parse_cot(a) for a in answers], args.repeats)
        result["parse_cot"] = {"answers": len(answers), "per_answer_ms": round(1000 * seconds / len(answers), 4)}
    json.dump(result, sys.stdout, indent=1)
    print()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
