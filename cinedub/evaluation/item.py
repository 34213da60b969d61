"""Evaluate one manifest row: every metric family the row has inputs for.

A family that can't be measured for this row (no speech in the window, no face in the video, no
ground truth) leaves its metrics out and says why under `notes`; a row whose generated audio can't be
read fails as a whole and is reported as a broken row by the runner.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from cinedub import media
from cinedub.asr import transcribe, wer
from cinedub.errors import CinedubError
from cinedub.evaluation import emotion, mcd, secs, sync, timing
from cinedub.evaluation.manifest import EvalRow
from cinedub.types import Line, Perception


@functools.lru_cache(maxsize=4)
def _perceive(video: str) -> Perception:
    """Perception of a video, once per process (several rows may dub the same clip)."""
    from cinedub.agents.perception import perceive

    return perceive(video)


def evaluate_row(row: EvalRow, *, figures_dir: Path | None = None, reasoner: str = "rules",
                 perception: Perception | None = None) -> dict[str, Any]:  # fmt: skip
    """The JSONL item of one row: its inputs, `metrics` (numbers), `details` (what they came from),
    `notes` (families skipped and why) and `timings` (seconds per family)."""
    if row.audio is None or row.window is None:
        raise CinedubError("the row has no generated audio and window to evaluate")
    item: dict[str, Any] = {
        "id": row.id, "row": row.row, "line": row.line, "audio": row.audio, "voice": row.voice,
        "window": row.window.model_dump(), "ground_truth": row.ground_truth, "video": row.video,
        "neutral": row.neutral, "labels": row.labels.model_dump(exclude_none=True),
        "metrics": {}, "details": {}, "notes": {}, "timings": {},
    }  # fmt: skip
    audio, rate = media.load_audio(row.audio)
    if not len(audio):
        raise CinedubError(f"{row.audio} has no audio samples")
    metrics, details, notes = item["metrics"], item["details"], item["notes"]

    def family(name: str, measure: Callable[[], None]) -> None:
        start = time.perf_counter()
        try:
            measure()
        except CinedubError as err:
            notes[name] = str(err)
        item["timings"][name] = round(time.perf_counter() - start, 3)

    def measure_wer() -> None:
        hypothesis = transcribe(audio, rate)
        details["hypothesis"] = hypothesis
        metrics["wer"] = round(100.0 * wer(row.line, hypothesis), 2)

    def measure_secs() -> None:
        voice, voice_rate = media.load_audio(row.voice)
        lo, hi = _around(row.window, rate, len(audio))
        metrics["secs"] = round(secs.secs(audio[lo:hi], voice, rate, voice_rate), 2)

    def measure_mcd() -> None:
        if row.ground_truth is None:
            raise CinedubError("no ground_truth audio in the row")
        metrics.update({k: round(v, 3) for k, v in mcd.mcd_pair(row.ground_truth, row.audio).items()})

    def measure_timing() -> None:
        t = timing.window_timing(audio, rate, row.window)
        details.update({k: t[k] for k in ("speech_start", "speech_end", "speech_duration",
                                          "duration_error_signed_ms", "offset_error_ms")})  # fmt: skip
        metrics.update(duration_error_ms=t["duration_error_ms"], onset_error_ms=t["onset_error_ms"])

    def measure_emotion() -> None:
        lo, hi = _around(row.window, rate, len(audio))
        take = emotion.prosody(audio[lo:hi], rate, row.line)
        metrics.update(take)
        if row.neutral is None:
            raise CinedubError("no neutral take in the row: absolute prosody only")
        neutral_audio, neutral_rate = media.load_audio(row.neutral)
        neutral = emotion.prosody(neutral_audio, neutral_rate, row.line)
        details["neutral_prosody"] = neutral
        metrics.update({k: v for k, v in emotion.against_neutral(take, neutral).items() if v is not None})

    def measure_video() -> None:
        nonlocal perception
        if row.video is None:
            raise CinedubError("no video in the row")
        perception = perception or _perceive(row.video)
        details["speaking_windows"] = [w.model_dump() for w in perception.speaking_windows]
        predicted = row.predicted_scene_type
        if predicted is None and row.labels.scene_type is not None:
            from cinedub.agents.reasoners import load_reasoner

            predicted = load_reasoner(reasoner).reason(Path(row.video), perception, [Line(text=row.line)]).conclusion.scene_type
        if predicted is not None:
            item["predicted_scene_type"] = predicted
        mouth = sync.mouth_of_speaker(perception)
        if mouth is None:
            raise CinedubError("nobody talks on screen: no mouth activity to compare the speech with")
        times, openings, windows = mouth
        result = sync.sync_measures(audio, rate, duration=perception.duration, frame_times=times,
                                    mouth_openings=openings, speaking_windows=windows)  # fmt: skip
        metrics.update({k: v for k, v in result.items() if v is not None})

    family("wer", measure_wer)
    family("secs", measure_secs)
    family("mcd", measure_mcd)
    family("duration", measure_timing)
    family("emotion", measure_emotion)
    family("sync", measure_video)
    if row.predicted_scene_type is not None and "predicted_scene_type" not in item:
        item["predicted_scene_type"] = row.predicted_scene_type
    if row.labels.scene_type is not None and "predicted_scene_type" not in item:
        # It still counts, as a miss: a classifier that can't answer is wrong (as in `cinedub classify`).
        notes["scene_type"] = "no prediction (no video and no predicted_scene_type): counted as wrong"
    if figures_dir is not None:
        from cinedub.evaluation.figures import take_figure

        start = time.perf_counter()
        path = take_figure(figures_dir / f"take-{row.slug}.png", audio, rate, window=row.window,
                           speech=(details.get("speech_start"), details.get("speech_end")), title=row.id)  # fmt: skip
        item["figure"] = str(path)
        item["timings"]["figure"] = round(time.perf_counter() - start, 3)
    return item


def _around(window: Any, rate: int, n: int) -> tuple[int, int]:
    """Sample range of the window plus the timing search margin (the speech the take put there)."""
    lo = int(round(max(0.0, window.start - timing.SEARCH_MARGIN_S) * rate))
    hi = int(round(min(n / rate, window.end + timing.SEARCH_MARGIN_S) * rate))
    return lo, max(hi, lo + 1)

