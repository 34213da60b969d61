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

from cinedub.training.args import model_processor_peft, parse, resume_checkpoint, save
from cinedub.training.data import build_dataset


def main(argv=None):
    from trl import SFTConfig, SFTTrainer

    data_args, training_args, model_args = parse(SFTConfig, argv)
    training_args.remove_unused_columns = False
    model, processor, peft_config = model_processor_peft(model_args)
    dataset = build_dataset(data_args.dataset, "sft", data_args.videos_root, data_args.num_frames, data_args.max_side,
                            data_args.generated_frames, data_args.limit)  # fmt: skip
    trainer = SFTTrainer(model=model, args=training_args, train_dataset=dataset, processing_class=processor,
                         peft_config=peft_config)  # fmt: skip
    trainer.train(resume_from_checkpoint=resume_checkpoint(training_args))
    save(trainer, processor, data_args, training_args.output_dir)
    return trainer


if __name__ == "__main__":
    main(sys.argv[1:])
