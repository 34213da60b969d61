"""Run an evaluation over a manifest: rows in parallel workers or on a Ray cluster (cinedub.batch), a
progress bar, broken rows reported and skipped, then the report.

`--dub` first makes each row's take with the whole pipeline (`Studio().dub`) under the configuration
being benchmarked (reasoner x actor x retrieval), plus a neutral take of the same line for the
prosody-based emotion measures, then evaluates it like any other row.
"""

from __future__ import annotations

import functools
import os
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tqdm import tqdm

from cinedub import assembly, config
from cinedub.batch import Failed, run_batch
from cinedub.errors import CinedubError
from cinedub.evaluation.item import evaluate_row
from cinedub.evaluation.manifest import EvalRow, RowError, read_manifest
from cinedub.evaluation.report import write_outputs
from cinedub.files import ensure_writable_dir
from cinedub.types import Line, Window

RETRIEVAL_CHOICES = ("off", "on")


@dataclass(frozen=True, kw_only=True)
class DubConfig:
    """The configuration a `--dub` benchmark runs: the director's reasoner, the actor, retrieval."""

    reasoner: str = config.DEFAULT_REASONER
    actor: str = config.DEFAULT_ACTOR
    retrieval: str = "off"
    library: str | None = None  # with retrieval on: a Chroma folder or a `chroma run` URL
    chroma_url: str | None = None
    neutral: bool = True  # also render a neutral take of each line (for the emotion measures)

    def check(self) -> None:
        """Fail before any row runs when a backend of this configuration does not exist here."""
        from cinedub.agents.reasoners import load_reasoner
        from cinedub.speech.actor import load_actor
        from cinedub.studio import open_library

        if self.retrieval not in RETRIEVAL_CHOICES:
            raise CinedubError(f"--retrieval must be on or off, not {self.retrieval!r}")
        if self.retrieval == "on":
            if self.library is None and self.chroma_url is None:
                raise CinedubError("--retrieval on needs a reference library: give --library DB or --chroma-url URL")
            open_library(self.library, self.chroma_url)
        elif self.library is not None or self.chroma_url is not None:
            raise CinedubError("--library and --chroma-url are used with --retrieval on")
        load_reasoner(self.reasoner)
        load_actor(self.actor)


@dataclass(frozen=True, kw_only=True)
class Job:
    row: EvalRow
    out_dir: Path
    figures: bool
    reasoner: str  # predicts the scene type of plain-eval rows with a video and a gold label
    dub: DubConfig | None = None


@functools.cache
def _studio(home: str, reasoner: str, actor: str, library: str | None, chroma_url: str | None) -> Any:
    from cinedub.studio import Studio

    return Studio(home=Path(home), reasoner=reasoner, actor=actor, library=library, chroma_url=chroma_url)


def _dub(job: Job) -> tuple[EvalRow, dict[str, Any]]:
    """Make the row's take (and a neutral one) with the pipeline; the row to evaluate, and what the
    director decided."""
    assert job.dub is not None and job.row.video is not None
    row, cfg = job.row, job.dub
    retrieval = cfg.retrieval == "on"
    studio = _studio(str(job.out_dir / ".sessions"), cfg.reasoner, cfg.actor, cfg.library if retrieval else None,
                     cfg.chroma_url if retrieval else None)  # fmt: skip
    lines = [Line(text=row.line, window=row.window)]
    if row.script is not None:
        from cinedub.script import read_cast, read_script

        lines = read_script(row.script, characters=read_cast(row.cast) if row.cast else ())
    folder = job.out_dir / "dubs" / row.slug
    result = studio.dub(row.video, lines, row.voice, session=f"eval-{row.slug}", out=folder,
                        emotion=row.emotion, intensity=row.intensity, cast=row.cast)  # fmt: skip
    take = result.take
    info: dict[str, Any] = {
        "take": take.path, "dub": str(result.dub_path), "conclusion": result.conclusion,
        "direction": take.direction.model_dump(mode="json"), "measured": take.measured,
        "references": [line["references"] for line in take.applied.get("lines", []) if "references" in line],
    }  # fmt: skip
    neutral = None
    if cfg.neutral and take.direction.emotion != "neutral":
        # A separate session, so the director's take and its dub.mp4 stay as they are.
        again = studio.dub(row.video, lines, row.voice, session=f"eval-{row.slug}-neutral", out=folder / "neutral",
                           emotion="neutral", intensity=row.intensity, cast=row.cast)  # fmt: skip
        neutral = str(assembly.speech_path(again.take.path))
        info["neutral_take"] = again.take.path
    if row.script is not None:  # a scene: every line on its own too
        from cinedub.evaluation.lines import measure_lines

        info["lines"] = measure_lines(take)
    # the whole scene's speech is timed against its lines' span (a line: its window)
    window = Window(start=take.lines[0].window.start, end=take.lines[-1].window.end) if row.script else take.window
    # the new speech is measured alone, not with the clip's ambience under it
    evaluated = row.model_copy(update={"audio": str(assembly.speech_path(take.path)), "window": window,
                                       "neutral": neutral,
                                       "predicted_scene_type": result.conclusion.get("scene_type")})  # fmt: skip
    return evaluated, info


def run_job(job: Job) -> dict[str, Any]:
    """One row's JSONL item; a row that fails becomes {id, row, error} instead of stopping the run."""
    try:
        row, dub_info = _dub(job) if job.dub else (job.row, None)
        figures_dir = job.out_dir / "figures" if job.figures else None
        item = evaluate_row(row, figures_dir=figures_dir, reasoner=job.dub.reasoner if job.dub else job.reasoner)
        if dub_info is not None:
            if "lines" in dub_info:
                item["lines"] = dub_info.pop("lines")
            item["pipeline"] = dub_info
            item["target_emotion"] = dub_info["direction"]["emotion"]
        return item
    except CinedubError as err:
        return {"id": job.row.id, "row": job.row.row, "error": str(err)}
    except Exception as err:  # a bug or a library failure: still only this row
        if os.environ.get("CINEDUB_DEBUG"):
            raise
        return {"id": job.row.id, "row": job.row.row, "error": f"internal error: {err.__class__.__name__}: {err}"}


@dataclass(frozen=True)
class _RunJobs:
    """The batch work (cinedub.batch): one row per clip; each worker's Studio and models are cached."""

    def setup(self) -> None:
        return None

    def run(self, state: None, job: Job) -> dict[str, Any]:
        return run_job(job)


def run_rows(jobs: list[Job], *, workers: int = 1, progress: bool = True,
             ray_address: str | None = None) -> list[dict[str, Any]]:  # fmt: skip
    """Every job's item, in `workers` processes (or on the Ray cluster at `ray_address`), with a progress
    bar on stderr. A row whose worker died (twice retried) gets the reason as its error."""
    bar = tqdm(total=len(jobs), desc="cinedub eval", unit="row", file=sys.stderr, disable=not progress)
    items: list[dict[str, Any]] = []
    batch = [(str(index), job) for index, job in enumerate(jobs)]
    results = run_batch(_RunJobs(), batch, workers=max(1, min(workers, len(jobs))), ray_address=ray_address)
    try:
        for key, item in results:
            if isinstance(item, Failed):
                row = jobs[int(key)].row
                item = {"id": row.id, "row": row.row, "error": f"worker failed: {item.reason}"}
            items.append(item)
            bar.update()
    finally:
        results.close()
        bar.close()
    return items


def run_eval(manifest: str | Path, out_dir: str | Path, *, dub: DubConfig | None = None, workers: int = 1,
             figures: bool = True, reasoner: str = config.DEFAULT_REASONER, progress: bool = True,
             ray_address: str | None = None) -> dict[str, Any]:  # fmt: skip
    """Evaluate (or dub, then evaluate) every row of `manifest`; write the outputs into `out_dir` and
    return the summary. Broken rows are reported in the outputs and on stderr, and skipped."""
    if workers < 1:
        raise CinedubError(f"--workers must be at least 1, got {workers}")
    if dub is not None:
        dub.check()
    rows, row_errors = read_manifest(manifest, dub=dub is not None)
    out = ensure_writable_dir(out_dir)
    if dub is not None:
        # Fresh sessions every run: a benchmark must not continue last run's sessions with retakes.
        shutil.rmtree(out / ".sessions", ignore_errors=True)
    jobs = [Job(row=row, out_dir=out.resolve(), figures=figures, reasoner=reasoner, dub=dub) for row in rows]
    items = [_broken(e) for e in row_errors]
    items += run_rows(jobs, workers=workers, progress=progress, ray_address=ray_address)
    for item in sorted(items, key=lambda i: i["row"]):
        if "error" in item:
            print(f"cinedub eval: row {item['row']} ({item['id']}) skipped: {item['error']}", file=sys.stderr)
    run_config: dict[str, Any] = {"mode": "dub" if dub else "eval", "manifest": str(manifest), "workers": workers}
    if ray_address is not None:
        run_config["ray"] = ray_address
    if dub is not None:
        run_config.update(reasoner=dub.reasoner, actor=dub.actor, retrieval=dub.retrieval,
                          neutral_takes=dub.neutral)  # fmt: skip
        if dub.retrieval == "on":
            run_config["library"] = dub.chroma_url or dub.library
    return write_outputs(out, items, config=run_config, figures=figures)


def _broken(error: RowError) -> dict[str, Any]:
    return {"id": error.id, "row": error.row, "error": error.error}
