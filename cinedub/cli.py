"""The `cinedub` command line.

    cinedub dub CLIP (--line TEXT | --srt FILE | --script FILE) [--voice AUDIO] [--cast FILE] [--emotion E]
                [--intensity X] [--note TEXT] [--session NAME] [--out DIR] [--library DB | --chroma-url URL]
    cinedub dub --sample [--out DIR]            # the bundled sample: real footage, real voice
    cinedub classify CLIP... | --manifest JSONL --videos-root DIR [--out FILE] [--reasoner R]
                     [--workers N | --ray auto|ADDRESS] [--concurrency N] [--timeout S] [--retries N]
                     # --out: resumes after an interruption
    cinedub cot check FILE
    cinedub eval --manifest JSONL --out DIR [--workers N | --ray auto|ADDRESS] [--no-figures]
    cinedub eval --dub --manifest JSONL --out DIR [--reasoner R] [--actor A] [--retrieval off|on --library DB]
                 [--no-neutral]
    cinedub script CLIP [--out FILE] [--speakers N] [--english]   # a draft script of the clip's own dialogue
    cinedub sessions
    cinedub takes SESSION
    cinedub library build ROOT | --manifest JSONL [--db DIR | --chroma-url URL] [--workers N | --ray auto|ADDRESS]
    cinedub library query CLIP --line TEXT [--k 3] [--same-speaker S] [--exclude-clip ID] [--db DIR | --chroma-url URL]
    cinedub library stats [--db DIR | --chroma-url URL]
    cinedub train sft|mpo|grpo|pairs [TRL OPTIONS]   # see cinedub/training/*.py
    cinedub ui [--host 127.0.0.1] [--port N] [--auth USER:PASS] [--max-upload SIZE]

Every error a user can cause is printed as one line on stderr with a non-zero exit code.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from cinedub import __version__, config
from cinedub.errors import CinedubError
from cinedub.labels import AMBIENCE, EMOTIONS
from cinedub.takes import rendered_lines


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


def _reasoner_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--reasoner", default=config.DEFAULT_REASONER, help="rules | local:PATH | openai:URL")
    parser.add_argument("--ground", action="store_true",
                        help="tell a VLM reasoner the perception tools' facts with the question")  # fmt: skip


def _director_options(parser: argparse.ArgumentParser) -> None:
    """What a director run is made of (dub, ui): its reasoner, actor and reference library."""
    _reasoner_options(parser)
    parser.add_argument("--actor", default=config.DEFAULT_ACTOR, help="parametric | f5:CHECKPOINT")
    parser.add_argument("--library", help="reference library (a Chroma folder) the director retrieves from")
    parser.add_argument("--chroma-url", help="reference library on a `chroma run` server, http://HOST:PORT")


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
    script.add_argument("--srt", help="an SRT file: one line per cue, spoken in its cue's window (a cue may start "
                        "with its speaker: [ANNA] or ANNA:)")
    script.add_argument("--script", help="a script with speakers: .srt, .vtt (voice spans <v Anna>), or .json / "
                        ".yaml (a list of {speaker, text, start, end, emotion, intensity, note})")
    dub.add_argument("--voice", help="a recording of the voice to use (wav, mp3, m4a, the audio of a video ...); "
                     "default: the clip's own actor, from its dialogue; with --cast, the voice of the lines "
                     "whose speaker the cast does not name")  # fmt: skip
    dub.add_argument("--cast", help="the cast, TOML or YAML: each character's voice recording (relative to the "
                     "file) and optional notes, e.g. Anna = \"anna.wav\" or [Anna] voice = ... notes = ...")
    dub.add_argument("--sample", action="store_true", help="dub the bundled sample (real footage, real voice)")
    dub.add_argument("--emotion", choices=EMOTIONS, help="override the director's emotion")
    dub.add_argument("--intensity", type=_intensity, help="override the emotion's intensity, 0..1")
    dub.add_argument("--note", help='a director\'s note for this take, e.g. "again, but angrier"')
    dub.add_argument("--ambience", choices=AMBIENCE, default="keep",
                     help="the clip's own sound (its dialogue taken out) under the new dialogue, or silence "
                     "(default: keep)")  # fmt: skip
    dub.add_argument("--session", help="session name (default: the clip's file name)")
    dub.add_argument("--out", help="output folder (default: dubs/SESSION)")
    _director_options(dub)

    classify = commands.add_parser("classify", help="scene type of clips, one JSON line per clip",
                                   description="Classify clips as dialogue / monologue / narration. With "
                                   "labels (a manifest), print Ave.Acc, Ave.Recall and per-class recall.")  # fmt: skip
    classify.add_argument("clips", nargs="*", help="video files")
    classify.add_argument("--manifest", help="JSONL: DeepDubber's CoT rows or cinedub's {video, scene_type}")
    classify.add_argument("--videos-root", help="folder the manifest's video paths are relative to")
    classify.add_argument("--out", help="write the JSON lines here (default: stdout); clips already in it (or in "
                          "FILE.partial, left by an interrupted run) are not done again")
    _reasoner_options(classify)
    classify.add_argument("--workers", type=int, help="perception worker processes on this machine (default: its cores)")
    classify.add_argument("--ray", metavar="auto|ADDRESS", help="run perception as tasks on a running Ray cluster "
                          "(`ray start --head`): auto, or the head's HOST:PORT")
    classify.add_argument("--concurrency", type=int, default=1,
                          help="clips the reasoner works on at once (threads in this process; default 1)")
    classify.add_argument("--script", help="a script of the clip (one clip only; .srt, .vtt, .yaml, .json): each "
                          "line's speaker (the face that says it) and its own scene type, age, gender, emotion")
    classify.add_argument("--timeout", type=float, help="openai: seconds one request to the server may take")
    classify.add_argument("--retries", type=int, help="openai: tries after the first on errors and timeouts")

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
    evaluate.add_argument("--library", help="with --retrieval on: the reference library (a Chroma folder)")
    evaluate.add_argument("--chroma-url", help="with --retrieval on: the library on a `chroma run` server")
    evaluate.add_argument("--no-neutral", action="store_true", help="with --dub: skip the neutral take of each line")
    evaluate.add_argument("--workers", type=int, default=1, help="rows evaluated in parallel (processes)")
    evaluate.add_argument("--ray", metavar="auto|ADDRESS", help="evaluate (and dub) the rows as tasks on a running "
                          "Ray cluster: auto, or the head's HOST:PORT")
    evaluate.add_argument("--no-figures", action="store_true", help="skip the PNG figures")
    evaluate.add_argument("--no-progress", action="store_true", help="no progress bar")

    localize = commands.add_parser(
        "localize", help="dub a clip into another language in its actors' own voices",
        description="Transcribe the clip's dialogue, cut it into lines, translate each to fit its window "
        "(within 15%% of its natural reading time, or flagged), and dub it in the original speaker's voice over "
        "the scene's own sound. Writes review.csv, script.LANG.srt and script.LANG.yaml beside the dub; edit "
        "review.csv and give it back with --review to re-dub only the lines you changed.")  # fmt: skip
    localize.add_argument("clip", type=Path)
    localize.add_argument("--to", required=True, help="the language to dub into (ISO 639-1: en, es, pt ...)")
    localize.add_argument("--from", dest="source", help="the clip's language (default: detected)")
    localize.add_argument("--translator", help="openai:URL[#model] or local:PATH (the director's language "
                          "model); default: Apertium, offline, for the pairs it has")  # fmt: skip
    localize.add_argument("--review", type=Path, help="a review table you edited (review.csv): its translations "
                          "are dubbed as they stand")  # fmt: skip
    localize.add_argument("--ambience", choices=AMBIENCE, default="keep",
                          help="the clip's own sound under the new dialogue, or silence (default: keep)")
    localize.add_argument("--session", help="session name (default: the clip's file name and the language)")
    localize.add_argument("--out", help="output folder (default: dubs/SESSION)")
    _director_options(localize)

    script = commands.add_parser("script", help="a draft script (YAML) of a clip's own dialogue: who speaks when",
                                 description="Diarize the clip's own dialogue, link each speaker to a face, and "
                                 "write a draft script (turns with times and speakers) to edit and give back "
                                 "with `dub --script`.")  # fmt: skip
    script.add_argument("clip", type=Path)
    script.add_argument("--out", type=Path, help="the draft's path (default: CLIP's name with .script.yaml)")
    script.add_argument("--speakers", type=int, help="how many people speak (default: counted from the voices)")
    script.add_argument("--english", action="store_true",
                        help="the dialogue is English: the packaged Whisper tiny.en writes the words")
    commands.add_parser("sessions", help="list dubbing sessions", description="List dubbing sessions.")
    takes = commands.add_parser("takes", help="list the takes of a session", description="List a session's takes.")
    takes.add_argument("session")

    library = commands.add_parser("library", help="the reference footage library: build, query, stats",
                                  description="Emotionally similar reference clips (Chroma) for the director.")  # fmt: skip
    library_commands = library.add_subparsers(dest="library_command", required=True, parser_class=_Parser)
    build = library_commands.add_parser("build", help="ingest clips (resumable; ingesting again adds nothing twice)",
                                        description="Ingest ROOT/MOVIE/CLIP.{mp4, wav|mp3, txt} or a JSONL manifest "
                                        "(video, audio, text, speaker, emotion).")  # fmt: skip
    build.add_argument("root", nargs="?", help="folder of MOVIE/CLIP.{mp4, wav|mp3, txt}")
    build.add_argument("--manifest", help="JSONL, one clip per line (paths relative to the manifest)")
    build.add_argument("--no-progress", action="store_true", help="no progress bar")
    build.add_argument("--workers", type=int, help="clips measured in parallel processes (default: the cores)")
    build.add_argument("--ray", metavar="auto|ADDRESS", help="measure the clips as tasks on a running Ray cluster: "
                       "auto, or the head's HOST:PORT (this process stores them)")
    query = library_commands.add_parser("query", help="references for a clip and its line (JSON)",
                                        description="Scene, face and text paths, top K each, merged by clip.")  # fmt: skip
    query.add_argument("clip", help="the clip to find references for")
    query.add_argument("--line", required=True, help="the line spoken in the clip")
    query.add_argument("--k", type=int, default=3, help="references per path (default: 3)")
    query.add_argument("--same-speaker", help="only this speaker's clips")
    query.add_argument("--exclude-clip", help="leave out this clip id (the query's own clip)")
    stats = library_commands.add_parser("stats", help="clips, vectors, speakers and emotions in the library",
                                        description="What the library holds, as JSON.")  # fmt: skip
    for sub in (build, query, stats):
        sub.add_argument("--db", help="library folder (default: $CINEDUB_HOME/library)")
        sub.add_argument("--chroma-url", help="the library on a `chroma run` server, http://HOST:PORT")
    for sub in (build, query):
        sub.add_argument("--describe-with", metavar="VLM", help="local:PATH | openai:URL: a model writes each "
                         "clip's scene description and a reaction to its line, as extra text views")  # fmt: skip

    ui = commands.add_parser("ui", help="the director's studio in the browser (Gradio)",
                             description="Serve the studio: upload a clip, a line and a voice, read the director's "
                             "reasoning, give notes, compare and export takes. Binds to 127.0.0.1 by default.")  # fmt: skip
    ui.add_argument("--host", default="127.0.0.1", help="address to bind (default: 127.0.0.1, this machine only)")
    ui.add_argument("--port", type=int, help="port (default: the first free one from 7860)")
    ui.add_argument("--auth", help="require a login, USER:PASS")
    ui.add_argument("--max-upload", default="200mb", help="largest upload accepted (default: 200mb)")
    _director_options(ui)

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
    from cinedub.script import read_cast, read_script
    from cinedub.studio import Studio
    from cinedub.types import Line

    if args.sample:
        sample = bundled_sample()
        args.clip = args.clip or str(sample.clip)
        args.voice = args.voice or str(sample.voice)
        if not (args.line or args.srt or args.script):
            args.line = sample.line
    if not args.clip:
        raise CinedubError("no clip: give CLIP or --sample")
    cast = read_cast(args.cast) if args.cast else None
    if args.srt or args.script:
        lines = read_script(args.srt or args.script, characters=cast or ())
    elif args.line is not None:
        try:
            lines = [Line(text=args.line)]
        except ValueError:
            raise CinedubError("the line is empty") from None
    else:
        raise CinedubError("no line: give --line TEXT, --srt FILE or --script FILE")
    start = time.perf_counter()
    studio = Studio(reasoner=args.reasoner, ground=args.ground, actor=args.actor, library=args.library,
                    chroma_url=args.chroma_url)  # fmt: skip
    result = studio.dub(args.clip, lines, args.voice, session=args.session, out=args.out,
                        emotion=args.emotion, intensity=args.intensity, note=args.note,
                        ambience=args.ambience, cast=cast)  # fmt: skip
    if not result.new_take:  # the note was not acted on: the director's answer says why
        raise CinedubError(f"no new take: {' '.join(result.messages)} (the latest is still take {result.take.index})")
    for message in result.messages:
        print(message)
    take = result.take
    print(f"session {result.session}: take {take.index} ({take.direction.emotion}, intensity "
          f"{take.direction.intensity:.2f}; rendered: {rendered_lines(take)}) -> {take.path}; dub -> {result.dub_path} "
          f"[{time.perf_counter() - start:.1f} s]")  # fmt: skip
    return 0


def _classify_inputs(args: argparse.Namespace) -> list[tuple[str, Path, str | None]]:
    """(id, video path, gold scene type) for each clip to classify; ids are unique (resuming goes by id)."""
    from cinedub.training.datasets import read_cot_jsonl

    if args.manifest:
        root = Path(args.videos_root or Path(args.manifest).parent)
        items = []
        for row in read_cot_jsonl(args.manifest):
            if row.error or not row.video:
                raise CinedubError(f"{args.manifest} row {row.row}: {row.error or 'no video'}")
            items.append((row.id, root / row.video, row.gold))
    elif args.clips:
        names = [Path(c).name for c in args.clips]
        # A clip is known by its file name, or by the path given where two clips share a name.
        items = [(name if names.count(name) == 1 else str(c), Path(c), None) for name, c in zip(names, args.clips)]
    else:
        raise CinedubError("no clips: give CLIP... or --manifest JSONL")
    seen: set[str] = set()
    for clip_id, path, _ in items:
        if clip_id in seen:
            raise CinedubError(f"clip {clip_id!r} ({path}) is given twice")
        seen.add(clip_id)
    return items


def _set_model_limits(model, spec: str, *, timeout_s: float | None, retries: int | None) -> None:
    """--timeout / --retries apply to a reasoner's model asked over the network (openai:)."""
    for option, attribute, value in (("--timeout", "timeout_s", timeout_s), ("--retries", "retries", retries)):
        if value is None:
            continue
        if not hasattr(model, attribute):
            kind = spec.partition(":")[0]
            raise CinedubError(f"{option} applies to a reasoner on a server (openai:URL), not {kind}")
        setattr(model, attribute, value)


@dataclass(frozen=True)
class _PerceiveClip:
    """classify's work in a worker process: read the clip and run the perception tools on it. MediaPipe's
    graphs are built once a worker (its FaceFinder); the other models load on its first clip and stay."""

    def setup(self):
        from cinedub.agents.perception.faces import FaceFinder

        return FaceFinder()

    def run(self, finder, path: Path):
        from cinedub.agents.perception import perceive
        from cinedub.media import check_clip

        check_clip(path)
        return perceive(path, finder=finder)


def _line_records(path: Path, perception, lines) -> list[dict]:
    """Per line of a script: where it goes, the face that says it (None: off screen) and that line's own
    conclusion (scene type, age, gender, emotion from its speaker's face and words), as the director finds
    them for a dub."""
    from cinedub import media
    from cinedub.agents.reasoners import line_conclusions
    from cinedub.agents.speakers import line_speakers, speech_envelope
    from cinedub.agents.windows import base_windows
    from cinedub.speech.frontend import estimate_speech_seconds

    natural = [estimate_speech_seconds(line.text, language=line.language) for line in lines]
    windows = base_windows(perception, lines, natural)
    envelope = None
    if media.probe(path).has_audio and perception.frame_times:
        audio, rate = media.load_audio(path, sample_rate=16_000, max_seconds=perception.duration)
        envelope = speech_envelope(audio, rate, perception.frame_times, perception.sample_fps)
    faces = [found.track_id for found in line_speakers(perception, windows, envelope)]
    concluded = line_conclusions(perception, faces, [line.text for line in lines])
    return [{"line": n, "speaker": line.speaker, "start": round(w.start, 3), "end": round(w.end, 3), "face": face,
             "scene_type": c.scene_type, "gender": c.gender, "age": c.age, "emotion": c.emotion,
             "intensity": c.intensity}
            for n, (line, w, face, c) in enumerate(zip(lines, windows, faces, concluded), 1)]  # fmt: skip


def _classify_record(clip_id: str, path: Path, gold: str | None, perception, reasoner, script=None) -> dict:
    """One clip's JSON record from its perception (or why there is none), then the reasoner; with a `script`,
    each line's speaker and conclusion too (`lines`)."""
    from cinedub.batch import Failed, one_line

    record: dict = {"id": clip_id, "video": str(path)}
    try:
        if isinstance(perception, Failed):
            raise CinedubError(perception.reason)
        reasoning = reasoner.reason(path, perception, [])
        c = reasoning.conclusion
        record.update(scene_type=c.scene_type, letter=c.letter, num_people=c.num_people,
                      num_speaking=c.num_speaking, gender=c.gender, age=c.age, age_group=c.age_group,
                      emotion=c.emotion, cot=reasoning.cot, reasoner=reasoning.backend)  # fmt: skip
        if reasoning.notes:  # e.g. the model's answer was repaired, or the server was down and rules answered
            record["reasoner_notes"] = reasoning.notes
        if script is not None:
            record["lines"] = _line_records(path, perception, script)
    except CinedubError as err:
        record["error"] = str(err)
    except Exception as err:  # a bug or a library failure: still only this clip's
        if os.environ.get("CINEDUB_DEBUG"):
            raise
        record["error"] = f"internal error: {one_line(err)}"
    if gold is not None:
        record["gold"] = gold
        record["correct"] = record.get("scene_type") == gold
    return record


def cmd_classify(args: argparse.Namespace) -> int:
    """Perception runs in `--workers` processes (or as tasks on a Ray cluster, `--ray`), the reasoner in
    this process, `--concurrency` clips at a time (cinedub.batch). With --out, each finished record is
    appended to FILE.partial at once (flushed, fsynced); a rerun after an interruption keeps those and
    redoes only the rest; at the end FILE is written whole, in input order, and the .partial file removed."""
    from tqdm import tqdm

    from cinedub.agents.models import load_model
    from cinedub.agents.reasoners import load_reasoner
    from cinedub.batch import default_workers, run_batch
    from cinedub.journal import Journal
    from cinedub.metrics import scene_type_metrics

    if args.concurrency < 1:
        raise CinedubError("--concurrency must be at least 1")
    if args.workers is not None and args.workers < 1:
        raise CinedubError("--workers must be at least 1")
    if args.workers is not None and args.ray:
        raise CinedubError("--workers is for this machine; with --ray the cluster's CPUs run the clips")
    if args.timeout is not None and args.timeout <= 0:
        raise CinedubError("--timeout must be a positive number of seconds")
    if args.retries is not None and args.retries < 0:
        raise CinedubError("--retries must be 0 or more")
    items = _classify_inputs(args)
    script = None
    if args.script:
        from cinedub.script import read_script

        if len(items) != 1 or args.manifest:
            raise CinedubError("--script describes one clip: give exactly one CLIP with it")
        script = read_script(args.script)
        if not script:
            raise CinedubError(f"{args.script} has no lines")
    model = load_model(args.reasoner)
    _set_model_limits(model, args.reasoner, timeout_s=args.timeout, retries=args.retries)
    reasoner = load_reasoner(args.reasoner, ground=args.ground, model=model)

    out = Path(args.out) if args.out else None
    journal = Journal(out) if out is not None else None
    finished = journal.finished if journal is not None else {}
    todo = {clip_id: (path, gold) for clip_id, path, gold in items if clip_id not in finished}
    records = {clip_id: finished[clip_id] for clip_id, _, _ in items if clip_id in finished}
    order = [clip_id for clip_id, _, _ in items]
    shown = 0  # without --out, records go to stdout in input order as soon as they are known

    def show_ready() -> None:
        nonlocal shown
        while out is None and shown < len(order) and order[shown] in records:
            print(json.dumps(records[order[shown]]), flush=True)
            shown += 1

    def reason(clip_id: str, perception) -> dict:
        path, gold = todo[clip_id]
        return _classify_record(clip_id, path, gold, perception, reasoner, script)

    results = run_batch(_PerceiveClip(), [(clip_id, path) for clip_id, (path, _) in todo.items()],
                        workers=args.workers or default_workers(), ray_address=args.ray, then=reason,
                        concurrency=args.concurrency)  # fmt: skip
    try:
        show_ready()
        with tqdm(total=len(items), initial=len(items) - len(todo), unit="clip", disable=None, file=sys.stderr,
                  desc="classify") as progress:  # fmt: skip
            for _, record in results:
                records[record["id"]] = record
                if journal is not None:
                    journal.append(record)
                progress.update()
                show_ready()
    finally:
        results.close()
        if journal is not None:
            journal.close()
    if journal is not None:
        journal.finish(records, order)
        fell_back = sum("→" in str(records[i].get("reasoner", "")) for i in order)
        errors = sum("error" in records[i] for i in order)
        print(f"classified {len(todo)} clips, {len(items) - len(todo)} resumed from {out}; {errors} errors, "
              f"{fell_back} fell back to rules -> {out}", file=sys.stderr)  # fmt: skip
    golds = [(r["gold"], r.get("scene_type")) for r in (records[i] for i in order) if r.get("gold") is not None]
    if golds:
        m = scene_type_metrics([g for g, _ in golds], [p for _, p in golds])
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
    dub = DubConfig(reasoner=args.reasoner, actor=args.actor, retrieval=args.retrieval, library=args.library,
                    chroma_url=args.chroma_url, neutral=not args.no_neutral) if args.dub else None  # fmt: skip
    start = time.perf_counter()
    summary = run_eval(args.manifest, args.out, dub=dub, workers=args.workers, figures=not args.no_figures,
                       reasoner=args.reasoner, progress=not args.no_progress, ray_address=args.ray)  # fmt: skip
    if summary["evaluated"] == 0:
        raise CinedubError(f"no row of {args.manifest} could be evaluated (see {Path(args.out) / 'report.md'})")
    shown = "  ".join(f"{s['label']} {s['mean']:.2f}" for k, s in summary["metrics"].items()
                      if k in ("wer", "secs", "mcd_dtw", "mcd_dtw_sl", "duration_error_ms", "sync_iou", "sync_offset_ms"))  # fmt: skip
    print(f"evaluated {summary['evaluated']}/{summary['rows']} rows ({summary['broken']} broken)  {shown}  "
          f"-> {Path(args.out) / 'report.md'} [{time.perf_counter() - start:.1f} s]")  # fmt: skip
    return 0


def cmd_script(args: argparse.Namespace) -> int:
    from cinedub.studio import Studio

    out = args.out or args.clip.with_name(f"{args.clip.stem}.script.yaml")
    path, lines = Studio().draft_script(args.clip, out, speakers=args.speakers, english=args.english)
    speakers = sorted({line.speaker for line in lines})
    print(f"{len(lines)} lines, {len(speakers)} speakers ({', '.join(speakers)}) -> {path}")
    return 0


def cmd_localize(args: argparse.Namespace) -> int:
    from cinedub.studio import Studio

    start = time.perf_counter()
    studio = Studio(reasoner=args.reasoner, ground=args.ground, actor=args.actor, library=args.library,
                    chroma_url=args.chroma_url)  # fmt: skip
    result = studio.localize(args.clip, to=args.to, source=args.source, translator=args.translator,
                             review=args.review, session=args.session, out=args.out, ambience=args.ambience)  # fmt: skip
    heard = (f"{result.source_language} (p={result.probability:.2f})" if args.review is None
             else "the review table's lines")  # fmt: skip
    print(f"source: {heard}; {len(result.rows)} lines into {result.language}")
    for row in result.rows:
        mark = f"  ! {row.flag}" if row.flag else ""
        print(f"{row.line:>3} {row.start:6.2f}-{row.end:6.2f} {row.speaker}: {row.translation} "
              f"[{row.fit:.2f}x]{mark}")  # fmt: skip
    for message in result.dub.messages:
        print(message)
    take = result.dub.take
    print(f"session {result.dub.session}: take {take.index} (rendered: {rendered_lines(take)}) -> {take.path}; dub -> "
          f"{result.dub.dub_path}; review -> {result.review_path} [{time.perf_counter() - start:.1f} s]")  # fmt: skip
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
    from cinedub.types import TakeRecord

    session = Studio().session(args.session)
    takes = [TakeRecord.model_validate(t) for t in session.get("takes", [])]
    if not session["waiting_for_note"]:
        print(f"session {args.session}: {'take ' + str(len(takes) + 1) if takes else 'its first take'} was "
              f"interrupted mid-way; run the same `cinedub dub` command (--session {args.session}) to finish it")  # fmt: skip
    for take in takes:
        d = take.direction
        error = max((abs(line["duration_error_ms"]) for line in take.measured.get("lines", [])), default=float("nan"))
        print(f"{take.name}\t{d.emotion} {d.intensity:.2f}\tpace {d.pace:.2f}\tpitch {d.pitch_shift:+.1f} st\t"
              f"loud {d.loudness:+.1f} dB\t{take.duration:.2f} s (off by {error:.0f} ms)\t"
              f"rendered: {rendered_lines(take)}\tnote: {take.note or '-'}\t{take.path}")  # fmt: skip
    return 0


def cmd_library(args: argparse.Namespace) -> int:
    from cinedub.retrieval import ReferenceLibrary
    from cinedub.types import Line

    if args.library_command == "build" and bool(args.root) == bool(args.manifest):
        raise CinedubError("give a folder of clips (ROOT) or --manifest JSONL, one of them")
    if args.library_command == "query":
        if args.k < 1:
            raise CinedubError(f"--k must be at least 1, got {args.k}")
        if not args.line.strip():
            raise CinedubError("the line is empty")
    writer = {}
    if getattr(args, "describe_with", None):
        from cinedub.agents.descriptions import load_describer

        describer = load_describer(args.describe_with)
        writer = {"describe_scene": describer.describe_scene, "write_reaction": describer.write_reaction}
    library = ReferenceLibrary.open(Path(args.db) if args.db else None, chroma_url=args.chroma_url, **writer)
    if args.library_command == "build":
        from cinedub.batch import default_workers

        if args.workers is not None and (args.workers < 1 or args.ray):
            raise CinedubError("--workers must be at least 1, and is for this machine (not with --ray)")
        report = library.build(args.root, manifest=args.manifest, progress=not args.no_progress,
                               workers=args.workers or default_workers(), ray_address=args.ray)  # fmt: skip
        for clip_id, why in report.failed:
            print(f"failed {clip_id}: {why}")
        print(f"{report.summary()}; the library holds {library.count()} clips ({library.store.location})")
    elif args.library_command == "query":
        references = library.query(Path(args.clip), [Line(text=args.line)], None, k=args.k,
                                   same_speaker=args.same_speaker, exclude_clip=args.exclude_clip)  # fmt: skip
        print(json.dumps([r.model_dump(mode="json") for r in references], indent=2))
    else:
        print(json.dumps(library.stats(), indent=2))
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
           studio=Studio(reasoner=args.reasoner, ground=args.ground, actor=args.actor, library=args.library,
                         chroma_url=args.chroma_url))  # fmt: skip
    return 0


COMMANDS = {"dub": cmd_dub, "classify": cmd_classify, "eval": cmd_eval, "sessions": cmd_sessions, "takes": cmd_takes,
            "script": cmd_script, "localize": cmd_localize,
            "ui": cmd_ui, "train": cmd_train, "library": cmd_library}


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
        from cinedub.files import storage_error

        problem = storage_error(err)  # a full disk or a read-only folder is the machine's, not a bug
        if problem is not None:
            print(f"cinedub: error: {problem}", file=sys.stderr)
            return problem.exit_code
        if os.environ.get("CINEDUB_DEBUG"):
            raise
        print(f"cinedub: internal error: {err.__class__.__name__}: {err} (CINEDUB_DEBUG=1 shows the traceback)",
              file=sys.stderr)  # fmt: skip
        return 1


if __name__ == "__main__":
    sys.exit(main())
