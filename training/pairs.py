"""Preference pairs for MPO: sample K answers per clip from the current reasoner, score each with the format
and outcome rewards, keep the best as `chosen` and the worst as `rejected` (only when chosen scores higher),
write cinedub's JSONL (`id, video, question, scene_type, chosen, rejected, chosen_score, rejected_score`).
The gold answer joins the candidates unless --no_gold, so a clip the reasoner always gets wrong still
yields a pair.

    cinedub train pairs --dataset ../shared/data/cot_movie_dubbing_sample.jsonl --model tiny-qwen2.5-vl \
        --generated_frames --num_frames 2 --k 2 --limit 4 --max_new_tokens 16 --out runs/pairs.jsonl
    cinedub train pairs --dataset cot.jsonl --videos_root /data/clips --model runs/sft-7b/merged --k 8 \
        --temperature 1.0 --out runs/pairs.jsonl
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from cinedub.training.args import DataArguments
from cinedub.training.data import prompt_messages, read_rows, row_images
from cinedub.training.datasets import CotRow, check_row
from cinedub.training.rewards import total_score


@dataclass
class PairArguments:
    out: str = field(default="pairs.jsonl", metadata={"help": "the JSONL of pairs to write"})
    model: str = field(default="tiny-qwen2.5-vl", metadata={"help": "the reasoner: a checkpoint folder or tiny-qwen2.5-vl"})
    adapter: str | None = field(default=None, metadata={"help": "a LoRA adapter folder to load on the model"})
    k: int = field(default=4, metadata={"help": "answers sampled per clip"})
    temperature: float = field(default=1.0)
    max_new_tokens: int = field(default=512)
    no_gold: bool = field(default=False, metadata={"help": "do not add the gold answer to the candidates"})
    seed: int = field(default=0)


def model_sampler(model, processor, k: int, temperature: float, max_new_tokens: int) -> Callable:
    """(row, images) -> k sampled answers from a VLM."""
    import torch

    def sample(row: CotRow, images: list) -> list[str]:
        text = processor.apply_chat_template(prompt_messages(row.question, len(images)), add_generation_prompt=True)
        batch = processor(text=[text], images=[images], return_tensors="pt")
        with torch.no_grad():
            out = model.generate(**batch, do_sample=True, temperature=temperature, max_new_tokens=max_new_tokens,
                                 num_return_sequences=k)  # fmt: skip
        return processor.batch_decode(out[:, batch["input_ids"].shape[1] :], skip_special_tokens=True)

    return sample


def build_pairs(rows: list[CotRow], sampler: Callable, images_for: Callable, use_gold: bool = True) -> list[dict]:
    pairs = []
    for row in rows:
        candidates = list(sampler(row, images_for(row)))
        if use_gold and row.answer:
            candidates.append(row.answer)
        scored = sorted(((total_score(c, row.gold), c) for c in candidates), key=lambda sc: sc[0], reverse=True)
        (best, chosen), (worst, rejected) = scored[0], scored[-1]
        if best > worst:
            pairs.append({"id": row.id, "video": row.video, "question": row.question, "scene_type": row.gold,
                          "chosen": chosen, "rejected": rejected, "chosen_score": best, "rejected_score": worst})  # fmt: skip
    return pairs


def main(argv=None) -> list[dict]:
    import torch
    from transformers import HfArgumentParser

    from cinedub.training.models import load_model_and_processor

    data_args, args = HfArgumentParser((DataArguments, PairArguments)).parse_args_into_dataclasses(args=argv)
    torch.manual_seed(args.seed)
    rows = [check_row(r, data_args.dataset, ("video", "gold")) for r in read_rows(data_args.dataset)]
    rows = rows[: data_args.limit] if data_args.limit else rows
    model, processor = load_model_and_processor(args.model)
    if args.adapter:
        from peft import PeftModel

        model = PeftModel.from_pretrained(model, args.adapter)
    model.eval()
    sampler = model_sampler(model, processor, args.k, args.temperature, args.max_new_tokens)

    def images_for(row):
        return row_images(row, data_args.videos_root, data_args.num_frames, data_args.max_side,
                          data_args.generated_frames)  # fmt: skip

    pairs = build_pairs(rows, sampler, images_for, use_gold=not args.no_gold)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    with open(args.out, "w", encoding="utf-8") as handle:
        for pair in pairs:
            handle.write(json.dumps(pair) + "\n")
    print(f"{len(pairs)} pairs from {len(rows)} clips -> {args.out}")
    return pairs


if __name__ == "__main__":
    main(sys.argv[1:])
