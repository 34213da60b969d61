"""Fine-tuning the reasoner (issue 6): rewards, readers, pairs, and SFT / MPO / GRPO on a tiny Qwen2.5-VL
built in-process around the real Qwen tokenizer (dashscope's qwen.tiktoken), with generated frames."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from cinedub.errors import CinedubError

COT_SAMPLE = Path(__file__).resolve().parents[2] / "shared" / "data" / "cot_movie_dubbing_sample.jsonl"
needs_sample = pytest.mark.skipif(not COT_SAMPLE.is_file(), reason=f"shared CoT sample absent: {COT_SAMPLE}")
COMMON = ["--generated_frames", "--num_frames", "2", "--max_side", "56", "--limit", "2", "--max_steps", "3",
          "--per_device_train_batch_size", "2", "--use_peft", "--lora_r", "8", "--learning_rate", "2e-2",
          "--lr_scheduler_type", "constant", "--logging_steps", "1", "--report_to", "none", "--seed", "0"]  # fmt: skip


def _gold_rows():
    from cinedub.training.datasets import read_cot_jsonl

    return list(read_cot_jsonl(COT_SAMPLE))


def _losses(trainer) -> list[float]:
    return [entry["loss"] for entry in trainer.state.log_history if "loss" in entry]


@needs_sample
def test_format_reward_is_one_on_every_gold_answer_and_below_on_corruptions():
    from cinedub.training.rewards import format_reward, format_score, outcome_reward

    rows = _gold_rows()
    assert len(rows) == 772
    assert format_reward([r.answer for r in rows]) == [1.0] * 772
    gold = rows[0].answer
    corrupted = {
        "missing tag": gold.replace("<CAPTION>", "").replace("</CAPTION>", ""),
        "wrong order": _swap(gold, "SUMMARY", "CAPTION"),
        "unparseable conclusion": gold.replace("<CONCLUSION> A </CONCLUSION>", "<CONCLUSION> maybe </CONCLUSION>"),
        "no conclusion": gold.split("Conclusion stage")[0],
    }  # fmt: skip
    for what, text in corrupted.items():
        assert text != gold, what
        assert format_score(text) < 1.0, what
    # outcome: right per letter, as a TRL reward function with the label column
    for letter, scene in (("A", "dialogue"), ("B", "monologue"), ("C", "narration")):
        answer = gold.replace("<CONCLUSION> A </CONCLUSION>", f"<CONCLUSION> {letter} </CONCLUSION>")
        assert outcome_reward([answer] * 3, scene_type=["dialogue", "monologue", "narration"]) == [
            float(s == scene) for s in ("dialogue", "monologue", "narration")
        ]
    conversational = [[{"role": "assistant", "content": gold}]]
    assert format_reward(conversational) == [1.0] and outcome_reward(conversational, scene_type=["dialogue"]) == [1.0]


def _swap(text: str, a: str, b: str) -> str:
    """Move stage `b` (with its header line) before stage `a`."""
    start_a, end_b = text.index(f"<{a}>"), text.index(f"</{b}>") + len(f"</{b}>")
    block_a, block_b = text[start_a : text.index(f"</{a}>") + len(f"</{a}>")], text[text.index(f"<{b}>") : end_b]
    return text.replace(block_a, "\0").replace(block_b, block_a).replace("\0", block_b)


def test_malformed_row_is_named(tmp_path):
    from cinedub.training.data import build_dataset

    bad = tmp_path / "bad.jsonl"
    good = {"video": "a.mp4", "answer": "<SUMMARY> s </SUMMARY><CAPTION> c </CAPTION><REASONING> r </REASONING>"
            "<CONCLUSION> B </CONCLUSION>"}  # fmt: skip
    bad.write_text(json.dumps(good) + "\n{not json\n" + json.dumps({"video": "b.mp4"}) + "\n")
    with pytest.raises(CinedubError, match=r"bad.jsonl row 2 .*not JSON"):
        build_dataset(bad, "sft", generated=True)
    bad.write_text(json.dumps(good) + "\n" + json.dumps({"video": "b.mp4"}) + "\n")
    with pytest.raises(CinedubError, match=r"row 2 .*no answer"):
        build_dataset(bad, "sft", generated=True)
    with pytest.raises(CinedubError, match=r"row 1 .*no chosen / rejected"):
        build_dataset(bad, "mpo", generated=True)


@needs_sample
def test_pairs_chosen_outscores_rejected(tmp_path):
    from cinedub.training.pairs import build_pairs
    from cinedub.training.pairs import main as pairs_main
    from cinedub.training.rewards import total_score

    rows = _gold_rows()[:6]
    wrong = {"dialogue": "B", "monologue": "C", "narration": "A"}

    def sampler(row, images):  # a reasoner that answers badly: wrong letter, then no tags
        return [row.answer.replace("<CONCLUSION> ", f"<CONCLUSION> {wrong[row.gold]} ").split("</CONCLUSION>")[0][:-4],
                "I think it is a monologue"]  # fmt: skip

    pairs = build_pairs(rows, sampler, lambda row: [])
    assert len(pairs) == 6
    for pair in pairs:
        assert pair["chosen_score"] == total_score(pair["chosen"], pair["scene_type"]) == 2.0
        assert pair["rejected_score"] < pair["chosen_score"]
    out = tmp_path / "pairs.jsonl"
    written = pairs_main(["--dataset", str(COT_SAMPLE), "--generated_frames", "--num_frames", "2", "--max_side", "56",
                          "--k", "2", "--limit", "2", "--max_new_tokens", "8", "--out", str(out)])  # fmt: skip
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert lines == written and len(lines) == 2
    assert all(p["chosen_score"] > p["rejected_score"] for p in lines)


@pytest.mark.train
@needs_sample
def test_sft_learns_saves_reloads_merges_and_resumes(tmp_path):
    import torch
    from peft import PeftModel

    from cinedub.training.models import load_processor, tiny_qwen2_5_vl
    from cinedub.training.sft import main as sft

    out = tmp_path / "sft"
    trainer = sft(["--dataset", str(COT_SAMPLE), *COMMON, "--output_dir", str(out), "--save_steps", "2", "--merge"])
    losses = _losses(trainer)
    print("sft losses", losses)
    assert len(losses) == 3 and all(math.isfinite(x) for x in losses) and losses[-1] < losses[0]
    assert (out / "adapter_model.safetensors").is_file() and (out / "merged" / "config.json").is_file()

    processor = load_processor(out)
    batch = processor(text=["<|im_start|>user\nWhat is the voice-over category?<|im_end|>\n<|im_start|>assistant\n"],
                      return_tensors="pt")  # fmt: skip
    base = tiny_qwen2_5_vl(seed=0).eval()
    with torch.no_grad():
        base_logits = base(**batch).logits
        tuned = PeftModel.from_pretrained(tiny_qwen2_5_vl(seed=0), out).eval()
        tuned_logits = tuned(**batch).logits
        merged = type(base).from_pretrained(out / "merged").eval()
        merged_logits = merged(**batch).logits
    assert (tuned_logits - base_logits).abs().max() > 1e-3  # the adapter changes what the model generates
    tuned_ids = tuned.generate(**batch, max_new_tokens=6, do_sample=False)
    assert not torch.equal(tuned_ids, base.generate(**batch, max_new_tokens=6, do_sample=False))
    assert torch.allclose(merged_logits, tuned_logits, atol=1e-4)  # merging keeps the adapter's behaviour

    # resume after an interruption: continue from the newest checkpoint (step 3) to step 4
    resumed = sft(["--dataset", str(COT_SAMPLE), *_with(COMMON, "--max_steps", "4"), "--output_dir", str(out),
                   "--resume_from_checkpoint", "last", "--save_strategy", "no"])  # fmt: skip
    assert resumed.state.global_step == 4


def _with(args: list[str], flag: str, value: str) -> list[str]:
    args = list(args)
    args[args.index(flag) + 1] = value
    return args


@pytest.mark.train
@needs_sample
def test_mpo_three_steps_loss_falls(tmp_path):
    from cinedub.training.mpo import main as mpo
    from cinedub.training.pairs import build_pairs

    rows = _gold_rows()[:2]
    pairs = build_pairs(rows, lambda row, images: ["It is narration."], lambda row: [])
    data = tmp_path / "pairs.jsonl"
    data.write_text("".join(json.dumps(p) + "\n" for p in pairs))
    trainer = mpo(["--dataset", str(data), *COMMON, "--output_dir", str(tmp_path / "mpo"), "--save_strategy", "no"])
    assert trainer.args.loss_type == ["sigmoid", "bco_pair", "sft"] and trainer.args.loss_weights == [0.8, 0.2, 1.0]
    losses = _losses(trainer)
    print("mpo losses", losses)
    assert len(losses) == 3 and all(math.isfinite(x) for x in losses) and losses[-1] < losses[0]
    assert (tmp_path / "mpo" / "adapter_model.safetensors").is_file()


@pytest.mark.train
@needs_sample
def test_grpo_three_steps_with_format_and_outcome_rewards(tmp_path):
    from cinedub.training.grpo import main as grpo

    trainer = grpo(["--dataset", str(COT_SAMPLE), *COMMON, "--num_generations", "2", "--max_completion_length", "8",
                    "--output_dir", str(tmp_path / "grpo"), "--save_strategy", "no"])  # fmt: skip
    logs = [e for e in trainer.state.log_history if "loss" in e]
    print("grpo logs", logs)
    assert trainer.state.global_step == 3 and all(math.isfinite(e["loss"]) for e in logs)
    assert any("rewards/format_reward/mean" in e for e in logs)


def _first_token_probabilities(folder: Path, dataset) -> dict[str, float]:
    """The policy's probability of answering "A" / "C" as its first token for the dataset's first prompt."""
    import torch

    from cinedub.training.models import load_model_and_processor

    model, processor = load_model_and_processor(str(folder), dtype="float32")
    row = dataset[0]
    text = processor.apply_chat_template(row["prompt"], add_generation_prompt=True, tokenize=False)
    batch = processor(text=[text], images=row["images"], return_tensors="pt")
    with torch.no_grad():
        probabilities = model.eval()(**batch).logits[0, -1].softmax(-1)
    encode = processor.tokenizer.encode
    return {letter: float(probabilities[encode(letter, add_special_tokens=False)[0]]) for letter in "AC"}


@pytest.mark.train
def test_grpo_outcome_reward_moves_the_policy_toward_the_label(tmp_path):
    """GRPO's loss is ~0 on-policy by construction, so its learning shows in the policy instead. A tiny
    model is first fine-tuned to answer one clip "A" (dialogue) or "C" (narration) about equally (the
    parser reads a bare letter; a random model never writes one); GRPO with the label narration then has
    to move probability from A to C, through the outcome reward (the format reward gives both bare letters 0). Measured: p(C) / p(A) went from 0.92
    to 18.6 (this test's seed 0; 7.6 and 32.5 with seeds 1 and 2)."""
    from cinedub.training.data import build_dataset
    from cinedub.training.grpo import main as grpo
    from cinedub.training.sft import main as sft

    question = "What is the voice-over category? A. dialogue B. monologue C. narration"
    warm, labelled = tmp_path / "warm.jsonl", tmp_path / "grpo.jsonl"
    warm.write_text("".join(json.dumps({"id": f"w{i}", "video": "clip.mp4", "question": question,
                                        "answer": "AC"[i % 2]}) + "\n" for i in range(8)))  # fmt: skip
    labelled.write_text("".join(json.dumps({"id": f"g{i}", "video": "clip.mp4", "question": question,
                                            "conclusion": "<CONCLUSION> C </CONCLUSION>"}) + "\n" for i in range(8)))  # fmt: skip
    common = ["--generated_frames", "--num_frames", "2", "--max_side", "56", "--per_device_train_batch_size", "8",
              "--lr_scheduler_type", "constant", "--logging_steps", "1", "--report_to", "none", "--seed", "0",
              "--save_strategy", "no"]  # fmt: skip
    sft(["--dataset", str(warm), *common, "--max_steps", "12", "--learning_rate", "1e-2",
         "--output_dir", str(tmp_path / "sft")])  # fmt: skip
    dataset = build_dataset(labelled, "grpo", num_frames=2, max_side=56, generated=True, limit=1)
    before = _first_token_probabilities(tmp_path / "sft", dataset)
    trainer = grpo(["--dataset", str(labelled), *common, "--model_name_or_path", str(tmp_path / "sft"),
                    "--max_steps", "10", "--num_generations", "8", "--max_completion_length", "4",
                    "--learning_rate", "3e-3", "--output_dir", str(tmp_path / "grpo")])  # fmt: skip
    after = _first_token_probabilities(tmp_path / "grpo", dataset)
    rewards = [round(e["rewards/outcome_reward/mean"], 3) for e in trainer.state.log_history if "rewards/outcome_reward/mean" in e]
    print("p(A), p(C) before", before, "after", after, "outcome reward per step", rewards)
    assert 0.5 < before["C"] / before["A"] < 2.0  # the warm start is undecided
    assert after["C"] > before["C"] and after["C"] / after["A"] > 3 * before["C"] / before["A"]


@pytest.mark.train
@needs_sample
def test_sft_on_a_tiny_qwen3_vl_learns_and_saves(tmp_path):
    """The same script on Qwen3-VL (16-px patches, deepstack): LoRA on its language model, frames as images."""
    from cinedub.training.models import save_tiny_qwen3_vl
    from cinedub.training.sft import main as sft

    model = save_tiny_qwen3_vl(tmp_path / "qwen3-vl")
    trainer = sft(["--dataset", str(COT_SAMPLE), *COMMON, "--model_name_or_path", str(model),
                   "--output_dir", str(tmp_path / "sft"), "--save_strategy", "no"])  # fmt: skip
    losses = _losses(trainer)
    print("qwen3-vl sft losses", losses)
    assert trainer.model.base_model.model.config.model_type == "qwen3_vl"
    assert len(losses) == 3 and all(math.isfinite(x) for x in losses) and losses[-1] < losses[0]
    assert (tmp_path / "sft" / "adapter_model.safetensors").is_file()
