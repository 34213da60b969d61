"""GRPO for the reasoner with DeepDubber's format and outcome rewards (TRL GRPOTrainer, frames as images).

    # tiny model, CPU, generated frames (what the tests run)
    cinedub train grpo --dataset ../shared/data/cot_movie_dubbing_sample.jsonl --generated_frames --num_frames 2 \
        --limit 4 --max_steps 3 --per_device_train_batch_size 2 --num_generations 2 --max_completion_length 16 \
        --use_peft --lora_r 8 --output_dir runs/grpo-tiny

    # Qwen2.5-VL-7B + LoRA on one GPU (generation with vLLM colocated: --use_vllm --vllm_mode colocate)
    cinedub train grpo --config configs/grpo_qwen2_5_vl_7b_lora.yaml --videos_root /data/cot-movie-dubbing
"""

from __future__ import annotations

import sys

from cinedub.training.args import prepare, train_and_save
from cinedub.training.rewards import format_reward, outcome_reward


def main(argv=None):
    from trl import GRPOConfig, GRPOTrainer

    data_args, training_args, model, processor, peft_config, dataset = prepare(GRPOConfig, "grpo", argv)
    trainer = GRPOTrainer(model=model, reward_funcs=[format_reward, outcome_reward], args=training_args,
                          train_dataset=dataset, processing_class=processor, peft_config=peft_config)  # fmt: skip
    return train_and_save(trainer, processor, data_args, training_args)


if __name__ == "__main__":
    main(sys.argv[1:])
