"""What the reasoner's TRL scripts share: data arguments, the one parser, model + LoRA, resume, save."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from cinedub.training.models import TINY, load_model_and_processor


@dataclass
class DataArguments:
    dataset: str = field(metadata={"help": "JSONL (DeepDubber's CoT rows or cinedub's) or a clip folder with labels"})
    videos_root: str | None = field(default=None, metadata={"help": "folder the rows' video paths are relative to"})
    num_frames: int = field(default=8, metadata={"help": "frames per clip, passed to the VLM as images"})
    max_side: int = field(default=448, metadata={"help": "frames are resized so their longer side is at most this"})
    generated_frames: bool = field(default=False, metadata={"help": "tests only: generated frames for missing videos"})
    limit: int | None = field(default=None, metadata={"help": "use only the first N rows"})
    merge: bool = field(default=False, metadata={"help": "also save the LoRA-merged full model in OUTPUT_DIR/merged"})


def parse(config_class, argv=None):
    """(data, training, model) arguments from the command line and/or `--config FILE.yaml` (TrlParser)."""
    import sys

    import torch
    from trl import ModelConfig, TrlParser

    argv = list(sys.argv[1:] if argv is None else argv)
    if not torch.cuda.is_available() and "--bf16" not in argv:  # TRL defaults to bf16, which needs a GPU
        argv += ["--bf16", "false"]
    parser = TrlParser((DataArguments, config_class, ModelConfig))
    data_args, training_args, model_args = parser.parse_args_and_config(args=argv)
    model_args.model_name_or_path = model_args.model_name_or_path or TINY
    return data_args, training_args, model_args


def prepare(config_class, kind: str, argv=None):
    """What every reasoner script starts with: its arguments, the model, processor and LoRA config, and
    the dataset rows for `kind` ("sft", "mpo" or "grpo")."""
    from cinedub.training.data import build_dataset

    data_args, training_args, model_args = parse(config_class, argv)
    training_args.remove_unused_columns = False  # the collator needs the frames column
    model, processor, peft_config = model_processor_peft(model_args)
    dataset = build_dataset(data_args.dataset, kind, data_args.videos_root, data_args.num_frames, data_args.max_side,
                            data_args.generated_frames, data_args.limit)  # fmt: skip
    return data_args, training_args, model, processor, peft_config, dataset


def train_and_save(trainer, processor, data_args, training_args):
    """Train (resuming when asked), then save the adapter / model and the processor."""
    trainer.train(resume_from_checkpoint=resume_checkpoint(training_args))
    save(trainer, processor, data_args, training_args.output_dir)
    return trainer


def model_processor_peft(model_args):
    from trl import get_peft_config

    model, processor = load_model_and_processor(model_args.model_name_or_path, dtype=model_args.dtype or "auto")
    peft_config = get_peft_config(model_args)
    if peft_config is not None and not model_args.lora_target_modules:  # the language model's projections only
        peft_config.target_modules = r".*language_model.*\.(q_proj|k_proj|v_proj|o_proj|gate_proj|up_proj|down_proj)"
    return model, processor, peft_config


def resume_checkpoint(training_args) -> str | bool | None:
    """`--resume_from_checkpoint last` resumes from the newest checkpoint in the output folder, if any."""
    from transformers.trainer_utils import get_last_checkpoint

    value = training_args.resume_from_checkpoint
    if value in ("last", "true", "True"):
        out = Path(training_args.output_dir)
        return get_last_checkpoint(str(out)) if out.is_dir() else None
    return value


def save(trainer, processor, data_args, output_dir: str) -> None:
    """The adapter (or full model) and the processor; with --merge, the merged model in OUTPUT_DIR/merged."""
    trainer.save_model(output_dir)
    processor.save_pretrained(output_dir)
    if data_args.merge and hasattr(trainer.model, "merge_and_unload"):
        merged = trainer.model.merge_and_unload()
        merged.save_pretrained(Path(output_dir) / "merged")
        processor.save_pretrained(Path(output_dir) / "merged")
