"""Supervised fine-tuning of the reasoner on chain-of-thought answers (TRL SFTTrainer, video frames as images).

    # tiny model built in-process, CPU, generated frames (what the tests run)
    cinedub train sft --dataset ../shared/data/cot_movie_dubbing_sample.jsonl --generated_frames --num_frames 2 \
        --limit 4 --max_steps 3 --per_device_train_batch_size 2 --use_peft --lora_r 8 --output_dir runs/sft-tiny

    # Qwen2.5-VL-7B + LoRA on one GPU (configs/sft_qwen2_5_vl_7b_lora.yaml)
    cinedub train sft --config configs/sft_qwen2_5_vl_7b_lora.yaml --videos_root /data/cot-movie-dubbing

    # full fine-tuning on 8 GPUs, DeepSpeed ZeRO-3
    accelerate launch --config_file configs/accelerate_zero3.yaml -m cinedub.training.sft \
        --config configs/sft_qwen2_5_vl_7b_full.yaml --videos_root /data/cot-movie-dubbing
"""

from __future__ import annotations

import sys

from cinedub.training.args import prepare, train_and_save


def main(argv=None):
    from trl import SFTConfig, SFTTrainer

    data_args, training_args, model, processor, peft_config, dataset = prepare(SFTConfig, "sft", argv)
    trainer = SFTTrainer(model=model, args=training_args, train_dataset=dataset, processing_class=processor,
                         peft_config=peft_config)  # fmt: skip
    return train_and_save(trainer, processor, data_args, training_args)


if __name__ == "__main__":
    main(sys.argv[1:])
