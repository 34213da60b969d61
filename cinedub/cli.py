"""The `cinedub` command line.

    cinedub dub CLIP (--line TEXT | --srt FILE) --voice AUDIO [--emotion E] [--intensity X] [--note TEXT]
                [--session NAME] [--out DIR]
    cinedub dub --sample [--out DIR]            # the bundled sample: real footage, real voice
    cinedub classify CLIP... | --manifest JSONL --videos-root DIR [--out FILE]
    cinedub cot check FILE
    cinedub eval --manifest JSONL --out DIR [--workers N] [--no-figures]
    cinedub eval --dub --manifest JSONL --out DIR [--reasoner R] [--actor A] [--retrieval off|on] [--no-neutral]
    cinedub sessions
    cinedub takes SESSION
    cinedub train sft|mpo|grpo|pairs [TRL OPTIONS]   # see cinedub/training/*.py
    cinedub ui [--host 127.0.0.1] [--port N] [--auth USER:PASS] [--max-upload SIZE]

Every error a user can cause is printed as one line on stderr with a non-zero exit code.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from cinedub import __version__, config
from cinedub.errors import CinedubError
from cinedub.labels import EMOTIONS


def _intensity(value: str) -> float:
    try:
        x = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {value!r}") from None
    if not 0.0 <= x <= 1.0:
        raise argparse.ArgumentTypeError(f"intensity must be between 0 and 1, got {x}")
    return x


class _Parser(argparse.ArgumentParser):
    """argparse, but usage errors are one line too."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="cinedub", description="An AI dubbing studio: a director agent and an actor.")
    parser.add_argument("--version", action="version", version=f"cinedub {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    dub = commands.add_parser("dub", help="dub a clip: the director watches, the actor speaks the line",
                              description="Dub a clip. A new session makes take 1; running again with "
                              "--note on the same session makes the next take.")  # fmt: skip
    dub.add_argument("clip", nargs="?", help="the silent clip (any video ffmpeg reads)")
    script = dub.add_mutually_exclusive_group()
    script.add_argument("--line", help="the line to speak")
    script.add_argument("--srt", help="an SRT file: one line per cue, spoken in its cue's window")
    dub.add_argument("--voice", help="a recording of the voice to use (wav, mp3, m4a, the audio of a video ...)")
    dub.add_argument("--sample", action="store_true", help="dub the bundled sample (real footage, real voice)")
    dub.add_argument("--emotion", choices=EMOTIONS, help="override the director's emotion")
    dub.add_argument("--intensity", type=_intensity, help="override the emotion's intensity, 0..1")
    dub.add_argument("--note", help='a director\'s note for this take, e.g. "again, but angrier"')
    dub.add_argument("--session", help="session name (default: the clip's file name)")
    dub.add_argument("--out", help="output folder (default: dubs/SESSION)")
    dub.add_argument("--reasoner", default=config.DEFAULT_REASONER, help="rules | local:PATH | openai:URL")
    dub.add_argument("--actor", default=config.DEFAULT_ACTOR, help="parametric | f5:CHECKPOINT")

    classify = commands.add_parser("classify", help="scene type of clips, one JSON line per clip",
                                   description="Classify clips as dialogue / monologue / narration. With "
                                   "labels (a manifest), print Ave.Acc, Ave.Recall and per-class recall.")  # fmt: skip
    classify.add_argument("clips", nargs="*", help="video files")
    classify.add_argument("--manifest", help="JSONL: DeepDubber's CoT rows or cinedub's {video, scene_type}")
    classify.add_argument("--videos-root", help="folder the manifest's video paths are relative to")
    classify.add_argument("--out", help="write the JSON lines here (default: stdout)")
    classify.add_argument("--reasoner", default=config.DEFAULT_REASONER, help="rules | local:PATH | openai:URL")

    cot = commands.add_parser("cot", help="chain-of-thought tools", description="Chain-of-thought tools.")
    cot_commands = cot.add_subparsers(dest="cot_command", required=True, parser_class=_Parser)
    check = cot_commands.add_parser("check", help="parse a JSONL of CoT answers against their gold letters",
                                    description="Parse every answer; print the conclusion, whether it "
                                    "matches the gold letter, then 'parsed N/M, matched K/M'.")  # fmt: skip
    check.add_argument("file", help="JSONL: DeepDubber's conversation format or cinedub's own")

    evaluate = commands.add_parser("eval", help="measure takes: WER, SECS, MCD, timing, sync, prosody, scene type",
                                   description="Measure the takes a manifest names (or, with --dub, make them "
                                   "with the pipeline first) the way the field does; write items.jsonl, "
                                   "summary.json, report.md and figures/ into --out.")  # fmt: skip
    evaluate.add_argument("--manifest", required=True, help="JSONL, one row per take (see cinedub.evaluation.manifest)")
    evaluate.add_argument("--out", default="eval", help="output folder (default: eval)")
    evaluate.add_argument("--dub", action="store_true", help="dub every row with the pipeline first, then evaluate")
    evaluate.add_argument("--reasoner", default=config.DEFAULT_REASONER, help="rules | local:PATH | openai:URL")
    evaluate.add_argument("--actor", default=config.DEFAULT_ACTOR, help="parametric | f5:CHECKPOINT (with --dub)")
    evaluate.add_argument("--retrieval", choices=("off", "on"), default="off", help="reference retrieval (with --dub)")
    evaluate.add_argument("--no-neutral", action="store_true", help="with --dub: skip the neutral take of each line")
    evaluate.add_argument("--workers", type=int, default=1, help="rows evaluated in parallel (processes)")
    evaluate.add_argument("--no-figures", action="store_true", help="skip the PNG figures")
    evaluate.add_argument("--no-progress", action="store_true", help="no progress bar")

    commands.add_parser("sessions", help="list dubbing sessions", description="List dubbing sessions.")
    takes = commands.add_parser("takes", help="list the takes of a session", description="List a session's takes.")
    takes.add_argument("session")

    ui = commands.add_parser("ui", help="the director's studio in the browser (Gradio)",
                             description="Serve the studio: upload a clip, a line and a voice, read the director's "
                             "reasoning, give notes, compare and export takes. Binds to 127.0.0.1 by default.")  # fmt: skip
    ui.add_argument("--host", default="127.0.0.1", help="address to bind (default: 127.0.0.1, this machine only)")
    ui.add_argument("--port", type=int, help="port (default: the first free one from 7860)")
    ui.add_argument("--auth", help="require a login, USER:PASS")
    ui.add_argument("--max-upload", default="200mb", help="largest upload accepted (default: 200mb)")
    ui.add_argument("--reasoner", default=config.DEFAULT_REASONER, help="rules | local:PATH | openai:URL")
    ui.add_argument("--actor", default=config.DEFAULT_ACTOR, help="parametric | f5:CHECKPOINT")

    train = commands.add_parser("train", help="fine-tune the reasoner (TRL: sft, mpo, grpo; preference pairs)",
                                description="Each sub-command runs cinedub.training.NAME with the given options "
                                "(TRL's arguments; `cinedub train NAME --help` lists them).")  # fmt: skip
    train_commands = train.add_subparsers(dest="train_command", required=True, parser_class=_Parser)
    for name, what in (("sft", "supervised fine-tuning on CoT answers"), ("mpo", "DPO + BCO + SFT on preference pairs"),
                       ("grpo", "GRPO with the format and outcome rewards"), ("pairs", "build preference pairs"),
                       ("actor", "train the F5 actor: stage 1 the DiT, stage 2 the ControlNet")):  # fmt: skip
        # prefix_chars="+": every option goes through untouched to the script's own TrlParser
        train_commands.add_parser(name, help=what, add_help=False, prefix_chars="+").add_argument("args", nargs="*")
    return parser


# -- commands ----------------------------------------------------------------------------------


def cmd_dub(args: argparse.Namespace) -> int:
    from cinedub.samples import bundled_sample
    from cinedub.studio import Studio
    from cinedub.subtitles import read_srt
    from cinedub.types import Line

    if args.sample:
        sample = bundled_sample()
        args.clip = args.clip or str(sample.clip)
        args.voice = args.voice or str(sample.voice)
        if not (args.line or args.srt):
            args.line = sample.line
    if not args.clip:
        raise CinedubError("no clip: give CLIP or --sample")
    if not args.voice:
        raise CinedubError("no voice: give --voice AUDIO (a recording of the voice to use)")
    if args.srt:
        lines = read_srt(args.srt)
    elif args.line is not None:
        try:
            lines = [Line(text=args.line)]
        except ValueError:
            raise CinedubError("the line is empty") from None
    else:
        raise CinedubError("no line: give --line TEXT or --srt FILE")
    start = time.perf_counter()
    studio = Studio(reasoner=args.reasoner, actor=args.actor)
    result = studio.dub(args.clip, lines, args.voice, session=args.session, out=args.out,
                        emotion=args.emotion, intensity=args.intensity, note=args.note)  # fmt: skip
    for message in result.messages:
        print(message)
    take = result.take
    print(f"session {result.session}: take {take.index} ({take.direction.emotion}, intensity "
          f"{take.direction.intensity:.2f}) -> {take.path}; dub -> {result.dub_path} "
          f"[{time.perf_counter() - start:.1f} s]")  # fmt: skip
    return 0


def _classify_inputs(args: argparse.Namespace) -> list[tuple[str, Path, str | None]]:
    """(id, video path, gold scene type) for each clip to classify."""
    from cinedub.training.datasets import read_cot_jsonl

    if args.manifest:
        root = Path(args.videos_root or Path(args.manifest).parent)
        items = []
        for row in read_cot_jsonl(args.manifest):
            if row.error or not row.video:
                raise CinedubError(f"{args.manifest} row {row.row}: {row.error or 'no video'}")
            items.append((row.id, root / row.video, row.gold))
        return items
    if not args.clips:
        raise CinedubError("no clips: give CLIP... or --manifest JSONL")
    return [(Path(c).name, Path(c), None) for c in args.clips]


def cmd_classify(args: argparse.Namespace) -> int:
    from cinedub.agents.perception import perceive
    from cinedub.agents.reasoners import load_reasoner
    from cinedub.files import atomic_path
    from cinedub.metrics import scene_type_metrics
    from cinedub.studio import check_clip

    items = _classify_inputs(args)
    reasoner = load_reasoner(args.reasoner)
    golds, predictions = [], []
    with contextlib.ExitStack() as stack:
        out_handle = sys.stdout
        if args.out:
            out_handle = stack.enter_context(open(stack.enter_context(atomic_path(args.out)), "w", encoding="utf-8"))
        for clip_id, path, gold in items:
            record: dict = {"id": clip_id, "video": str(path)}
            try:
                check_clip(path)
                perception = perceive(path)
                reasoning = reasoner.reason(path, perception, [])
                c = reasoning.conclusion
                record.update(scene_type=c.scene_type, letter=c.letter, num_people=c.num_people,
                              num_speaking=c.num_speaking, gender=c.gender, age=c.age, age_group=c.age_group,
                              emotion=c.emotion, cot=reasoning.cot, reasoner=reasoning.backend)  # fmt: skip
            except CinedubError as err:
                record["error"] = str(err)
            if gold is not None:
                record["gold"] = gold
                record["correct"] = record.get("scene_type") == gold
                golds.append(gold)
                predictions.append(record.get("scene_type"))
            print(json.dumps(record), file=out_handle, flush=True)
    if golds:
        m = scene_type_metrics(golds, predictions)
        recall = "  ".join(f"{k} {v:.2f}" if v is not None else f"{k} -" for k, v in m["recall"].items())
        print(f"n={m['n']}  Ave.Acc {m['ave_acc']:.2f}  Ave.Recall {m['ave_recall']:.2f}  recall: {recall}",
              file=sys.stderr if not args.out else sys.stdout)  # fmt: skip
    return 0


def cmd_cot_check(args: argparse.Namespace) -> int:
    from cinedub.agents.cot import parse_cot
    from cinedub.training.datasets import read_cot_jsonl

    total = parsed = matched = 0
    for row in read_cot_jsonl(args.file):
        total += 1
        if row.error or row.answer is None:
            print(f"row {row.row} id={row.id}: unreadable: {row.error or 'no answer in the row'}")
            continue
        result = parse_cot(row.answer)
        if not result.ok:
            print(f"row {row.row} id={row.id}: unparsed: {result.error}")
            continue
        parsed += 1
        match = row.gold is not None and result.conclusion.scene_type == row.gold
        matched += match
        fields = json.dumps(result.conclusion.model_dump(exclude_none=True))
        print(f"row {row.row} id={row.id}: {result.letter} {fields} gold={row.gold or '?'} {'match' if match else 'MISMATCH'}")
    if total == 0:
        raise CinedubError(f"{args.file} has no rows")
    print(f"parsed {parsed}/{total}, matched {matched}/{total}")
    return 0


def cmd_eval(args: argparse.Namespace) -> int:
    from cinedub.evaluation.runner import DubConfig, run_eval

    if not args.dub and (args.actor != config.DEFAULT_ACTOR or args.retrieval != "off" or args.no_neutral):
        raise CinedubError("--actor, --retrieval and --no-neutral choose how takes are made: use them with --dub")
    dub = DubConfig(reasoner=args.reasoner, actor=args.actor, retrieval=args.retrieval,
                    neutral=not args.no_neutral) if args.dub else None  # fmt: skip
    start = time.perf_counter()
    summary = run_eval(args.manifest, args.out, dub=dub, workers=args.workers, figures=not args.no_figures,
                       reasoner=args.reasoner, progress=not args.no_progress)  # fmt: skip
    if summary["evaluated"] == 0:
        raise CinedubError(f"no row of {args.manifest} could be evaluated (see {Path(args.out) / 'report.md'})")
    shown = "  ".join(f"{s['label']} {s['mean']:.2f}" for k, s in summary["metrics"].items()
                      if k in ("wer", "secs", "mcd_dtw", "mcd_dtw_sl", "duration_error_ms", "sync_iou", "sync_offset_ms"))  # fmt: skip
    print(f"evaluated {summary['evaluated']}/{summary['rows']} rows ({summary['broken']} broken)  {shown}  "
          f"-> {Path(args.out) / 'report.md'} [{time.perf_counter() - start:.1f} s]")  # fmt: skip
    return 0


def cmd_sessions(args: argparse.Namespace) -> int:
    from cinedub.studio import Studio

    sessions = Studio().sessions()
    if not sessions:
        print(f"no sessions in {config.home()}")
    for s in sessions:
        state = "waiting for a note" if s.waiting_for_note else "interrupted mid-take"
        print(f"{s.name}\t{s.takes} takes\t{state}\t{s.clip}\t{s.out_dir}")
    return 0


def cmd_takes(args: argparse.Namespace) -> int:
    from cinedub.studio import Studio

    for take in Studio().takes(args.session):
        d = take.direction
        error = max((abs(line["duration_error_ms"]) for line in take.measured.get("lines", [])), default=float("nan"))
        print(f"{take.name}\t{d.emotion} {d.intensity:.2f}\tpace {d.pace:.2f}\tpitch {d.pitch_shift:+.1f} st\t"
              f"loud {d.loudness:+.1f} dB\t{take.duration:.2f} s (off by {error:.0f} ms)\t"
              f"note: {take.note or '-'}\t{take.path}")  # fmt: skip
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    import importlib

    result = importlib.import_module(f"cinedub.training.{args.train_command}").main(args.args)
    return result if isinstance(result, int) else 0  # the TRL scripts return their trainer


def cmd_ui(args: argparse.Namespace) -> int:
    from cinedub.studio import Studio
    from cinedub.ui.app import launch

    auth = None
    if args.auth is not None:
        user, sep, password = args.auth.partition(":")
        if not (sep and user and password):
            raise CinedubError("--auth must be USER:PASS")
        auth = (user, password)
    print(f"cinedub studio: sessions in {config.home()}; Ctrl-C stops it", flush=True)
    launch(host=args.host, port=args.port, auth=auth, max_file_size=args.max_upload,
           studio=Studio(reasoner=args.reasoner, actor=args.actor))  # fmt: skip
    return 0


COMMANDS = {"dub": cmd_dub, "classify": cmd_classify, "eval": cmd_eval, "sessions": cmd_sessions, "takes": cmd_takes,
            "ui": cmd_ui, "train": cmd_train}


def main(argv: Sequence[str] | None = None) -> int:
    config.apply_offline_env()
    args = build_parser().parse_args(argv)
    command = cmd_cot_check if args.command == "cot" else COMMANDS[args.command]
    try:
        return command(args)
    except CinedubError as err:
        print(f"cinedub: error: {err}", file=sys.stderr)
        return err.exit_code
    except KeyboardInterrupt:
        print("cinedub: interrupted", file=sys.stderr)
        return 130
    except Exception as err:  # a bug: still one line, the traceback only on request
        if os.environ.get("CINEDUB_DEBUG"):
            raise
        print(f"cinedub: internal error: {err.__class__.__name__}: {err} (CINEDUB_DEBUG=1 shows the traceback)",
              file=sys.stderr)  # fmt: skip
        return 1


if __name__ == "__main__":
    sys.exit(main())
