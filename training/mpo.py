"""Mixed preference optimisation of the reasoner (DeepDubber's MPO): TRL DPOTrainer with the DPO (sigmoid),
BCO-pair and SFT losses, weighted 0.8 / 0.2 / 1.0, on chosen / rejected pairs (see `pairs.py`).

    # tiny model, CPU, generated frames (what the tests run)
    cinedub train mpo --dataset runs/pairs.jsonl --generated_frames --num_frames 2 --max_steps 3 \
        --per_device_train_batch_size 2 --use_peft --lora_r 8 --output_dir runs/mpo-tiny

    # Qwen2.5-VL-7B + LoRA on one GPU, starting from the SFT model (merged)
    cinedub train mpo --config configs/mpo_qwen2_5_vl_7b_lora.yaml --videos_root /data/cot-movie-dubbing
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field

from trl import DPOConfig

from cinedub.training.args import prepare, train_and_save


@dataclass
class MPOConfig(DPOConfig):
    loss_type: list[str] = field(default_factory=lambda: ["sigmoid", "bco_pair", "sft"],
                                 metadata={"help": "DPO losses to combine (MPO: sigmoid, bco_pair, sft)"})  # fmt: skip
    loss_weights: list[float] | None = field(default_factory=lambda: [0.8, 0.2, 1.0],
                                             metadata={"help": "one weight per loss type"})  # fmt: skip


def main(argv=None):
    from trl import DPOTrainer

    data_args, training_args, model, processor, peft_config, dataset = prepare(MPOConfig, "mpo", argv)
    trainer = DPOTrainer(model=model, args=training_args, train_dataset=dataset, processing_class=processor,
                         peft_config=peft_config)  # fmt: skip
    return train_and_save(trainer, processor, data_args, training_args)


if __name__ == "__main__":
    main(sys.argv[1:])
