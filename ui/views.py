"""What the studio shows, computed from a session's state: the four CoT stages, the takes table, the
references, the plots, the exports. No Gradio here, so it is testable without a browser."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import numpy as np

from cinedub import assembly, files, media
from cinedub.agents.cot import split_stages
from cinedub.agents.prompts import STAGES
from cinedub.errors import CinedubError
from cinedub.files import write_json
from cinedub.subtitles import write_srt
from cinedub.types import Line, TakeRecord, Window

NO_LIBRARY = "No reference library configured: the director worked without retrieved references."
MIX = "mix"
LISTEN = (MIX, *assembly.STEMS)  # what a take's players can play: the mix, or one of its stems alone


def cot_stages(cot: str) -> dict[str, str]:
    """The four stages of a chain of thought (missing ones empty), split as the CoT parser splits them."""
    return {stage: "" for stage in STAGES} | split_stages(cot or "")


def cot_markdown(cot: str, running: str | None = None) -> str:
    stages = cot_stages(cot)
    if not any(stages.values()):
        return f"*{running}*" if running else "*The director's reasoning appears here.*"
    parts = []
    for stage in STAGES:
        body = stages[stage] or "…"
        parts.append(f"**{stage.title()}**\n\n{body}")
    return "\n\n".join(parts)


def takes_rows(takes: list[TakeRecord]) -> list[list[Any]]:
    return [[t.index, t.name, "kept" if t.kept else "discarded", t.direction.emotion, round(t.direction.intensity, 2),
             round(t.direction.pace, 2), round(t.duration, 2), t.note or ""] for t in takes]  # fmt: skip


TAKE_COLUMNS = ["#", "name", "status", "emotion", "intensity", "pace", "speech s", "note"]


def take_label(take: TakeRecord) -> str:
    return f"{take.index}: {take.name}" + ("" if take.kept else " (discarded)")


def references_markdown(references: list[dict]) -> str:
    """The retrieved references as a table: score, emotion and the prosody they lend the take."""
    if not references:
        return NO_LIBRARY
    rows = ["| clip | score | emotion | F0 range st | energy slope dB/s | rate syl/s |", "|---|---|---|---|---|---|"]
    for r in references:
        p = r.get("prosody") or {}
        measures = [f"{p[k]:.1f}" if k in p else "-" for k in ("f0_range_semitones", "energy_slope_db_per_s", "speaking_rate_sps")]
        rows.append(f"| {r.get('clip_id')} | {float(r.get('score', 0)):.3f} | {r.get('emotion') or '-'} | " + " | ".join(measures) + " |")
    return "\n".join(rows)


def take_sounds(take: TakeRecord) -> dict[str, Path]:
    """The take's mix and, when it lies over the clip's own sound, its stems (assembly.stem_path): the
    new dialogue alone and the clip's ambience alone. Keys: LISTEN's, in that order."""
    sounds = {MIX: Path(take.path)}
    for stem in assembly.STEMS:
        path = assembly.stem_path(take.path, stem)
        if path.is_file():
            sounds[stem] = path
    return sounds


def no_stems_reason(values: dict, take: TakeRecord) -> str | None:
    """Why the take has only its mix (None: it has its stems)."""
    if len(take_sounds(take)) == len(LISTEN):
        return None
    if values.get("ambience") == "drop":
        return "the clip's own sound was dropped (ambience drop), so the take is the new dialogue alone"
    if not values.get("scene_sound"):
        return ("the clip has no sound to keep (no audio track, or a silent one), so the take is the new "
                "dialogue alone")
    return f"take {take.index} was made without its stem files"


def listen_markdown(values: dict, take: TakeRecord) -> str:
    reason = no_stems_reason(values, take)
    if reason is None:
        return "Play the mix, the new dialogue alone or the clip's ambience alone (in both players)."
    return f"Only the mix: {reason}."


def inside(folder: Path, path: str | Path) -> Path:
    """`path` resolved, if it lies inside `folder`; anything else is refused (the studio serves only a
    session's own files)."""
    try:
        return files.inside(folder, path)
    except CinedubError:
        raise CinedubError(f"refused to serve {path}: it is not in this session's folder") from None


def speech_envelope(audio: np.ndarray, rate: int, hop_s: float = 0.02) -> tuple[np.ndarray, np.ndarray]:
    hop = max(1, int(rate * hop_s))
    frames = len(audio) // hop
    if frames == 0:
        return np.zeros(0), np.zeros(0)
    rms = np.sqrt(np.mean(audio[: frames * hop].reshape(frames, hop) ** 2, axis=1))
    return (np.arange(frames) + 0.5) * hop_s, rms


def take_plot(path: Path, take: TakeRecord, perception: dict, voice: str) -> Path:
    """Three panels: speaking window vs speech activity across the clip (mouth opening, the take's
    speech envelope, the target window); the take's pitch contour against the reference voice's; the
    take's spectrogram."""
    from scipy.signal import spectrogram

    from cinedub.evaluation.figures import _figure, _save
    from cinedub.speech.world import track_f0

    audio, rate = media.load_audio(take.path)
    audio16 = media.resample(audio, rate, 16_000)
    figure, (act_ax, f0_ax, spec_ax) = _figure(9.0, 7.5, rows=3)
    duration = len(audio16) / 16_000

    for w in perception.get("speaking_windows", []):
        act_ax.axvspan(w["start"], w["end"], color="#ccbb44", alpha=0.3)
    act_ax.axvspan(take.window.start, take.window.end, facecolor="none", edgecolor="#4477aa", hatch="//", linewidth=1)
    speaker = perception.get("speaker_id")
    series = perception.get("mouth_series", {}).get(str(speaker)) or perception.get("mouth_series", {}).get(speaker)
    times = perception.get("frame_times", [])
    if series and times:
        mouth = np.array([np.nan if v is None else v for v in series], float)
        peak = np.nanmax(mouth) if np.isfinite(mouth).any() else 1.0
        act_ax.plot(times[: len(mouth)], mouth / (peak or 1.0), color="#aa3377", linewidth=1, label="mouth opening (speaker)")
    env_t, env = speech_envelope(audio16, 16_000)
    if len(env):
        act_ax.plot(env_t, env / (env.max() or 1.0), color="#228833", linewidth=1, label="take speech energy")
    act_ax.plot([], [], color="#ccbb44", linewidth=6, alpha=0.5, label="speaking window (seen)")
    act_ax.plot([], [], color="#4477aa", linewidth=1, label="target window")
    act_ax.set_ylabel("activity (norm.)")
    act_ax.set_title(f"{take.name}: speaking window vs speech activity", fontsize=10)
    act_ax.legend(loc="upper right", fontsize=7)
    act_ax.set_xlim(0, duration)

    f0, f0_t = track_f0(audio16, 16_000)
    f0_ax.plot(f0_t, np.where(f0 > 0, f0, np.nan), ".", markersize=2, color="#228833", label="take")
    try:
        ref, ref_rate = media.load_audio(voice, 16_000)
        ref = ref[: int(min(len(ref) / ref_rate, take.window.duration + 2.0) * ref_rate)]
        ref_f0, ref_t = track_f0(ref, ref_rate)
        f0_ax.plot(ref_t + take.window.start, np.where(ref_f0 > 0, ref_f0, np.nan), ".", markersize=2,
                   color="#bbbbbb", label="reference voice (from window start)")  # fmt: skip
    except Exception:  # noqa: BLE001 - the reference is optional in the plot
        pass
    f0_ax.set_ylabel("F0 (Hz)")
    f0_ax.legend(loc="upper right", fontsize=7)

    freqs, seg_t, power = spectrogram(audio16, fs=16_000, nperseg=512, noverlap=384)
    spec_ax.pcolormesh(seg_t, freqs / 1000.0, 10 * np.log10(power + 1e-12), shading="auto", cmap="magma")
    spec_ax.set_ylabel("kHz")
    spec_ax.set_xlabel("time in the clip (s)")
    return _save(figure, path)


def export_take(out_dir: Path, values: dict, take: TakeRecord) -> list[Path]:
    """WAV (and its stems, when it has them), MP4, SRT, report and direction of one take, in the
    session's exports/ folder."""
    exports = out_dir / "exports"
    exports.mkdir(parents=True, exist_ok=True)
    wav = exports / f"take-{take.index:03d}.wav"
    sounds = take_sounds(take)
    copies = {sound: wav if sound == MIX else assembly.stem_path(wav, sound) for sound in sounds}
    for sound, target in copies.items():
        shutil.copyfile(inside(out_dir, sounds[sound]), target)
    mp4 = media.mux(values["clip"], wav, exports / f"take-{take.index:03d}.mp4")
    lines = [Line.model_validate(x) for x in values["lines"]]
    measured = take.measured.get("lines", [])
    timed = []
    for i, line in enumerate(lines):
        m = measured[i] if i < len(measured) else {}
        if m.get("speech_start") is not None and m.get("speech_end") is not None and m["speech_end"] > m["speech_start"]:
            window = Window(start=m["speech_start"], end=m["speech_end"])
        else:
            window = Window.model_validate(m.get("window") or take.window.model_dump())
        timed.append(Line(text=line.text, window=window))
    srt = write_srt(exports / f"take-{take.index:03d}.srt", timed)
    report = exports / f"take-{take.index:03d}-report.json"
    write_json(report, {"session_take": take.model_dump(mode="json"), "conclusion": values.get("conclusion"),
                        "cot": values.get("cot"), "references": values.get("references", []),
                        "stage_timings": values.get("timings", {})})  # fmt: skip
    return [*copies.values(), mp4, srt, report]
