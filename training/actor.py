"""`cinedub train actor`: train the F5 actor on manifests.

stage 1: the base DiT (flow matching on a random masked span, F5-TTS's recipe) and the duration head (the
         actor's length for a line with no window from the picture: free narration);
stage 2: the ControlNet with the base frozen (conditions: the row's labels, intensity, visual features and
         references: every condition the actor feeds; 5 % dropout of each of script / video / conclusion),
         and the emotion classifier on noisy mels;
classifier: the emotion classifier alone.
ProDubber's augmentation (pitch shift in mel bins, time stretch) is applied to the training mels.
Checkpoints are safetensors (`last.safetensors`, `step_N.safetensors`; their metadata lists the parts trained
so far, `trained`: the actor uses the duration head, the emotion classifier and the reference condition only
once trained); the optimizer state is a weights-only `optimizer.pt`; a run restarted with the same --out
resumes. accelerate spreads it over several GPUs (`accelerate launch --multi_gpu -m cinedub.training.actor ...`;
on CPU processes: `torchrun --nproc_per_node 2 -m cinedub.training.actor ...`, as the tests run it).

Manifest: JSONL, one row per utterance: {"audio": path (relative to the manifest), "text": str,
"emotion"?, "intensity"?, "scene_type"?, "gender"?, "age"? | "age_group"?, "visual"?: .npy (T, f),
"visual_fps"?, "references"?: [path | {"audio": path, "text"?: str, "score"?: float, "prosody"?: {...}}]}.
A row's references are the clips the utterance should follow (as the library would retrieve them for it:
e.g. other lines of the speaker in the same emotion); stage 2 turns them into the ControlNet's reference
condition with the function the actor uses (`speech.f5.references.reference_condition`: each one's log-mel
mean / std and its prosody, `speech.measure.reference_prosody` when not given). A row without references
gets the actor's no-reference condition (zeros); a branch never trained on references is not fed any.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, Dataset

from cinedub.errors import CinedubError
from cinedub.labels import EMOTIONS, age_group

STAGES = ("1", "2", "classifier")


# ---------------------------------------------------------------------------------------------------
# data


def read_manifest(path: str | Path) -> list[dict]:
    path = Path(path)
    if not path.is_file():
        raise CinedubError(f"no manifest at {path}")
    rows = []
    for number, text in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not text.strip():
            continue
        try:
            row = json.loads(text)
        except json.JSONDecodeError as err:
            raise CinedubError(f"{path}:{number}: not JSON ({err.msg})") from None
        if not isinstance(row, dict) or not row.get("audio") or not row.get("text"):
            raise CinedubError(f"{path}:{number}: a row needs 'audio' and 'text'")
        for key in ("audio", "visual"):
            if row.get(key) and not Path(row[key]).is_absolute():
                row[key] = str(path.parent / row[key])
        row["references"] = manifest_references(row.get("references"), path.parent, f"{path}:{number}")
        rows.append(row)
    if not rows:
        raise CinedubError(f"{path} has no rows")
    return rows


def manifest_references(given, root: Path, where: str) -> list[dict]:
    """A row's "references" -> [{"audio": absolute path, "text"?, "score", "prosody"}] (fields of
    cinedub.types.Reference); CinedubError naming the row when they are malformed."""
    if given is None:
        return []
    if not isinstance(given, list):
        raise CinedubError(f"{where}: 'references' must be a list of audio paths or {{\"audio\": path}} objects")
    references = []
    for item in given:
        item = {"audio": item} if isinstance(item, str) else item
        if not isinstance(item, dict) or not isinstance(item.get("audio"), str) or not item["audio"]:
            raise CinedubError(f"{where}: each reference needs an audio path")
        audio = Path(item["audio"]) if Path(item["audio"]).is_absolute() else root / item["audio"]
        try:
            score = float(item.get("score", 1.0))
        except (TypeError, ValueError):
            raise CinedubError(f"{where}: a reference's score must be a number, got {item.get('score')!r}") from None
        prosody = item.get("prosody") or {}
        if not isinstance(prosody, dict) or not all(isinstance(v, (int, float)) for v in prosody.values()):
            raise CinedubError(f"{where}: a reference's prosody must be an object of numbers")
        references.append({"audio": str(audio), "text": item.get("text"), "score": score, "prosody": prosody})
    return references


def pitch_shift_bins(mel: torch.Tensor, bins: int) -> torch.Tensor:
    """Shift a log mel (n, mel) up (+) or down (-) by whole mel bins, edges held (ProDubber's pitch augmentation)."""
    if bins == 0:
        return mel
    if bins > 0:
        return torch.cat([mel[:, :1].expand(-1, bins), mel[:, :-bins]], dim=1)
    return torch.cat([mel[:, -bins:], mel[:, -1:].expand(-1, -bins)], dim=1)


def time_stretch(mel: torch.Tensor, rate: float) -> torch.Tensor:
    """Stretch a log mel (n, mel) in time by 1 / rate (linear interpolation of frames)."""
    n = max(2, int(round(mel.shape[0] / rate)))
    return F.interpolate(mel.T[None], size=n, mode="linear", align_corners=True)[0].T


class ManifestDataset(Dataset):
    """Rows -> (mel (n, mel), text ids, labels, intensity, visual (n, f) | None, reference (reference_dim,) |
    None); mels and conditions cached in memory. The reference condition is computed only for a model with a
    ControlNet and `references` (stage 2), once per distinct list of references."""

    def __init__(self, rows: list[dict], model, *, augment: float = 0.0, max_frames: int = 2048, seed: int = 0,
                 references: bool = True):  # fmt: skip
        from cinedub.media import load_audio
        from cinedub.speech.f5.controlnet import label_ids, to_mel_rate
        from cinedub.speech.f5.references import reference_condition
        from cinedub.speech.f5.text import tokenize
        from cinedub.types import Reference

        self.rows, self.augment, self.max_frames = rows, augment, max_frames
        self.rng = random.Random(seed)
        self.items = []
        conditions: dict[str, torch.Tensor] = {}  # the references as JSON -> their condition
        for row in rows:
            reference = None
            if model.controlnet is not None and references:
                key = json.dumps(row.get("references") or [], sort_keys=True)
                if key not in conditions:
                    given = [Reference(clip_id=Path(r["audio"]).stem, **r) for r in row.get("references") or []]
                    vector, _ = reference_condition(given, model.mel_spec, mel_dim=model.dims.mel_dim,
                                                    strict=True)  # fmt: skip
                    conditions[key] = torch.from_numpy(vector)
                reference = conditions[key]
            audio, _ = load_audio(row["audio"], sample_rate=model.mel_spec.sample_rate)
            mel = model.mel_spec(torch.from_numpy(audio)[None])[0].T.contiguous()  # n mel
            group = row.get("age_group") or (age_group(int(row["age"])) if row.get("age") is not None else None)
            labels = label_ids(scene_type=row.get("scene_type"), gender=row.get("gender"), age_group=group,
                               emotion=row.get("emotion"))  # fmt: skip
            visual = None
            if row.get("visual"):
                visual = torch.from_numpy(to_mel_rate(np.load(row["visual"]), float(row.get("visual_fps", 25)),
                                                      mel.shape[0]))  # fmt: skip
            self.items.append(dict(mel=mel, text=tokenize([row["text"]], model.vocab_char_map)[0], labels=labels,
                                   intensity=float(row.get("intensity", -1.0)), visual=visual, reference=reference,
                                   emotion=EMOTIONS.index(row["emotion"]) if row.get("emotion") in EMOTIONS else -1))  # fmt: skip

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int) -> dict:
        item = dict(self.items[index])
        mel = item["mel"]
        if self.augment and self.rng.random() < self.augment:
            mel = pitch_shift_bins(mel, self.rng.choice([-3, -2, -1, 1, 2, 3]))
        if self.augment and self.rng.random() < self.augment:
            rate = self.rng.uniform(0.85, 1.15)
            mel = time_stretch(mel, rate)
            if item["visual"] is not None:
                item["visual"] = time_stretch(item["visual"], rate)
        item["mel"] = mel[: self.max_frames]
        return item


def collate(items: list[dict]) -> dict:
    from torch.nn.utils.rnn import pad_sequence

    lens = torch.tensor([it["mel"].shape[0] for it in items])
    batch = dict(mel=pad_sequence([it["mel"] for it in items], batch_first=True), lens=lens,
                 text=pad_sequence([it["text"] for it in items], batch_first=True, padding_value=-1),
                 labels=torch.tensor([it["labels"] for it in items]),
                 intensity=torch.tensor([it["intensity"] for it in items]),
                 emotion=torch.tensor([it["emotion"] for it in items]))  # fmt: skip
    if any(it["visual"] is not None for it in items):
        f = next(it["visual"].shape[1] for it in items if it["visual"] is not None)
        batch["visual"] = pad_sequence([it["visual"][: it["mel"].shape[0]] if it["visual"] is not None
                                        else torch.zeros(it["mel"].shape[0], f) for it in items], batch_first=True)  # fmt: skip
    if all(it.get("reference") is not None for it in items):
        batch["reference"] = torch.stack([it["reference"] for it in items])
    return batch


# ---------------------------------------------------------------------------------------------------
# training


STAGE_PARTS = {"1": ("transformer", "duration_head"), "2": ("controlnet", "emotion_classifier"),
               "classifier": ("emotion_classifier",)}  # fmt: skip


def stage_parts(model, stage: str) -> list[str]:
    """The parts of `model` that `stage` trains (those the model has)."""
    return [part for part in STAGE_PARTS[stage] if getattr(model, part, None) is not None]


def trainable_parameters(model, stage: str) -> list[torch.nn.Parameter]:
    """Stage 1: DiT + duration head; stage 2: ControlNet + emotion classifier (base frozen); classifier: it alone."""
    parts = stage_parts(model, stage)
    for name, param in model.named_parameters():
        param.requires_grad_(name.split(".")[0] in parts)
    return [p for p in model.parameters() if p.requires_grad]


class StageObjective(torch.nn.Module):
    """The stage's loss as a module, so that a DDP / accelerate wrapper around it sees every loss term: the
    duration head and the emotion classifier are used outside the CFM's forward, and DDP only reduces the
    gradients of what ran inside the forward it wrapped."""

    def __init__(self, model, stage: str):
        super().__init__()
        self.model, self.stage = model, stage

    def forward(self, batch: dict) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """(total loss, {term: detached loss}) for one batch."""
        from cinedub.speech.f5.cfm import lens_to_mask
        from cinedub.speech.f5.controlnet import Conditions
        from cinedub.speech.f5.duration import duration_loss
        from cinedub.speech.f5.guidance import classifier_loss

        model, stage = self.model, self.stage
        mel, lens, text = batch["mel"], batch["lens"], batch["text"]
        parts: dict[str, torch.Tensor] = {}
        if stage in ("1", "2"):
            conditions = None
            if stage == "2":
                if model.controlnet is None:
                    raise CinedubError("stage 2 needs a model with a ControlNet (--control-blocks N)")
                conditions = Conditions(labels=batch["labels"], intensity=batch["intensity"], visual=batch.get("visual"),
                                        reference=batch.get("reference"))  # fmt: skip
            parts["flow"], _, _ = model(mel, text, lens=lens, conditions=conditions)
        if stage == "1" and model.duration_head is not None:
            # the prompt branch learns from the utterance's own mel (its masked mean: the voice and pace, not the length)
            prompt_mask = lens_to_mask(lens, mel.shape[1])
            parts["duration"] = 0.1 * duration_loss(model.duration_head(text, mel, prompt_mask=prompt_mask), lens)
        labelled = batch["emotion"] >= 0
        if stage in ("2", "classifier") and model.emotion_classifier is not None and bool(labelled.any()):
            mask = lens_to_mask(lens, mel.shape[1])
            parts["emotion"] = classifier_loss(model.emotion_classifier, mel[labelled], batch["emotion"][labelled],
                                               mask[labelled])  # fmt: skip
        if not parts:
            raise CinedubError(f"nothing to train in stage {stage} (no emotion labels in the manifest?)")
        return sum(parts.values()), {k: v.detach() for k, v in parts.items()}


def add_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    parser.add_argument("manifest", nargs="+", help="JSONL manifest(s): audio, text, optional labels")
    parser.add_argument("--out", required=True, help="run folder: checkpoints, optimizer state, log")
    parser.add_argument("--stage", choices=STAGES, default="1", help="1 base DiT, 2 ControlNet (base frozen), classifier")
    parser.add_argument("--init", help="start from this checkpoint (F5-TTS or cinedub) or config name (default: tiny)")
    parser.add_argument("--vocab", help="vocab.txt (default: the checkpoint's, else built from the manifests)")
    parser.add_argument("--control-blocks", type=int, help="ControlNet over the first N blocks (stage 2)")
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--lr", type=float, default=1e-4)
    parser.add_argument("--warmup", type=int, default=100)
    parser.add_argument("--max-grad-norm", type=float, default=1.0)
    parser.add_argument("--augment", type=float, default=0.3, help="probability of each of pitch shift / time stretch")
    parser.add_argument("--max-frames", type=int, default=2048)
    parser.add_argument("--save-every", type=int, default=500)
    parser.add_argument("--seed", type=int, default=0)
    return parser


def train(args: argparse.Namespace, *, log=print) -> dict:
    """Run (or resume) training; returns {"step", "losses", "checkpoint"}."""
    from cinedub.speech.f5.checkpoint import load_model, read_state, save_checkpoint
    from cinedub.speech.f5.references import REFERENCE_PART
    from cinedub.speech.f5.text import build_vocab, read_vocab

    torch.manual_seed(args.seed), random.seed(args.seed), np.random.seed(args.seed)
    torch.set_flush_denormal(True)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    rows = [row for path in args.manifest for row in read_manifest(path)]
    last = out / "last.safetensors"
    overrides = {} if args.control_blocks is None else {"control_blocks": args.control_blocks}
    step = 0
    if last.is_file():  # resume
        model = load_model(last)
        step = int(read_state(last)[1].get("step", 0))
        log(f"resuming {last} at step {step}")
    else:
        model = load_model(args.init or "tiny", vocab=args.vocab, **overrides)
        if model.vocab_char_map is None:
            model.vocab_char_map = read_vocab(args.vocab) if args.vocab else build_vocab([r["text"] for r in rows])
            if len(model.vocab_char_map) > model.dims.text_num_embeds:
                raise CinedubError(f"{len(model.vocab_char_map)} symbols do not fit the model's {model.dims.text_num_embeds}")
    model.train()
    # what the checkpoint will say was trained: the init's trained parts and this stage's (the actor feeds
    # the reference condition only to a branch trained on references)
    parts = stage_parts(model, args.stage)
    if args.stage == "2" and any(row["references"] for row in rows):
        parts.append(REFERENCE_PART)
    model.trained_parts = sorted({*getattr(model, "trained_parts", []), *parts})
    params = trainable_parameters(model, args.stage)
    optimizer = torch.optim.AdamW(params, lr=args.lr)
    optimizer_path = out / "optimizer.pt"
    if step and optimizer_path.is_file():
        optimizer.load_state_dict(torch.load(optimizer_path, map_location="cpu", weights_only=True))
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: min(1.0, (s + step + 1) / max(1, args.warmup)))
    data = ManifestDataset(rows, model, augment=args.augment, max_frames=args.max_frames, seed=args.seed + step,
                           references=args.stage == "2")  # fmt: skip
    loader = DataLoader(data, batch_size=args.batch_size, shuffle=True, collate_fn=collate, drop_last=False)
    objective = StageObjective(model, args.stage)
    accelerator = None
    try:
        from accelerate import Accelerator, DistributedDataParallelKwargs

        # stage 2's visual and reference encoders sit idle for rows without those conditions
        ddp = DistributedDataParallelKwargs(find_unused_parameters=args.stage == "2")
        accelerator = Accelerator(cpu=not torch.cuda.is_available(), kwargs_handlers=[ddp])
        objective, optimizer, loader = accelerator.prepare(objective, optimizer, loader)
    except ImportError:
        pass
    main_process = accelerator is None or accelerator.is_main_process
    losses: list[float] = []
    started = time.perf_counter()
    while step < args.steps:
        for batch in loader:
            loss, parts = objective(batch)
            optimizer.zero_grad(set_to_none=True)
            accelerator.backward(loss) if accelerator else loss.backward()
            if args.max_grad_norm:
                torch.nn.utils.clip_grad_norm_(params, args.max_grad_norm)
            optimizer.step(), schedule.step()
            step += 1
            losses.append(float(loss.detach()))
            if main_process and (step % 50 == 0 or step == 1):
                log(json.dumps({"step": step, "loss": round(losses[-1], 4), **{k: round(float(v), 4) for k, v in parts.items()},
                                "processes": accelerator.num_processes if accelerator else 1,
                                "s": round(time.perf_counter() - started, 1)}))  # fmt: skip
            if step % args.save_every == 0 or step >= args.steps:
                check_replicas(params, accelerator)
                if main_process:
                    save(model, optimizer, out, step, args, save_checkpoint)
                if accelerator is not None:
                    accelerator.wait_for_everyone()  # nobody reads a checkpoint before it is written
            if step >= args.steps:
                break
    return {"step": step, "losses": losses, "checkpoint": str(last), "main_process": main_process}


def check_replicas(params: list[torch.nn.Parameter], accelerator) -> None:
    """With several processes, every replica must hold the same weights (each steps its own optimizer on
    all-reduced gradients); a parameter that escaped the reduction shows up here, before it is saved."""
    if accelerator is None or accelerator.num_processes == 1:
        return
    fingerprint = torch.stack([p.detach().double().sum() for p in params]).to(accelerator.device)  # (P,)
    replicas = accelerator.gather(fingerprint[None])  # (processes, P)
    if not torch.allclose(replicas, replicas[:1].expand_as(replicas), rtol=1e-6, atol=1e-9):
        raise CinedubError("the training processes' weights diverged (a parameter's gradient was not all-reduced)")


def save(model, optimizer, out: Path, step: int, args: argparse.Namespace, save_checkpoint) -> None:
    extra = {"step": str(step), "stage": args.stage, "trained": json.dumps(model.trained_parts)}
    save_checkpoint(model, out / "last.safetensors", extra=extra)
    if step % args.save_every == 0:
        save_checkpoint(model, out / f"step_{step}.safetensors", extra=extra)
    tmp = out / "optimizer.pt.tmp"
    torch.save(optimizer.state_dict(), tmp)
    tmp.replace(out / "optimizer.pt")


def main(argv: Sequence[str] | None = None) -> int:
    parser = add_arguments(argparse.ArgumentParser(prog="cinedub train actor", description=__doc__.split("\n\n")[0]))
    args = parser.parse_args(argv)
    try:
        result = train(args)
    except CinedubError as err:
        print(f"cinedub: {err}", file=sys.stderr)
        return err.exit_code
    if result["main_process"]:  # one summary, not one per process
        print(json.dumps({"step": result["step"], "final_loss": result["losses"][-1] if result["losses"] else math.nan,
                          "checkpoint": result["checkpoint"]}))  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
