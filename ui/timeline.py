"""The timeline picture of a scene: one row per face with its mouth opening over the clip, where each line's
window is shaded on the face that says it; a row of the lines' windows labelled with their speakers; the
take's waveform. A director sees where a line sits against the lips without reading numbers."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from cinedub import media
from cinedub.types import Perception, TakeRecord

# Paul Tol's bright scheme (colour-blind safe): one colour per speaker, in order of first line.
SPEAKER_COLOURS = ("#4477aa", "#ee6677", "#228833", "#ccbb44", "#66ccee", "#aa3377")
NO_SPEAKER_COLOUR = "#bbbbbb"
FACE_ROW_IN = 0.9  # inches per face row
WAVE_BINS_PER_S = 200  # the waveform drawn as min/max per bin: a 48 kHz take plotted sample by sample is slow


def speaker_colours(take: TakeRecord) -> dict[str | None, str]:
    speakers = list(dict.fromkeys(r.direction.speaker for r in take.lines if r.direction.speaker))
    palette = {speaker: SPEAKER_COLOURS[i % len(SPEAKER_COLOURS)] for i, speaker in enumerate(speakers)}
    return {None: NO_SPEAKER_COLOUR} | palette


def _label(speaker: str | None, line: int) -> str:
    return f"{line} {speaker}" if speaker else str(line)


def scene_timeline(path: Path, perception: Perception, take: TakeRecord, line_faces: list[int | None],
                   characters: dict[int, str]) -> Path:  # fmt: skip
    """Draw the picture to `path` (PNG, written atomically). line_faces: the face (track id) that says each
    line, None off screen; characters: face -> the character bound to it."""
    from cinedub.evaluation.figures import _figure, _save

    faces = [p.track_id for p in sorted(perception.people, key=lambda p: p.box[0])
             if any(v is not None for v in perception.mouth_series.get(p.track_id, []))]  # fmt: skip
    colours = speaker_colours(take)
    rows = len(faces) + 2
    figure, axes = _figure(10.0, FACE_ROW_IN * rows + 0.8, rows=rows)
    times = np.asarray(perception.frame_times, float)
    for ax, face in zip(axes, faces):
        opening = np.array([np.nan if v is None else v for v in perception.mouth_series[face]], float)
        peak = np.nanmax(opening) or 1.0
        ax.plot(times[: len(opening)], opening / peak, color="#333333", linewidth=0.9)
        for rendering, said_by in zip(take.lines, line_faces):
            if said_by == face:
                ax.axvspan(rendering.window.start, rendering.window.end, alpha=0.3,
                           color=colours[rendering.direction.speaker])  # fmt: skip
        # the character bound to the face, and any other whose lines it was seen to say (a tracker may
        # split one person into several faces)
        said = [r.direction.speaker for r, by in zip(take.lines, line_faces) if by == face]
        names = [n for n in dict.fromkeys([characters.get(face), *said]) if n]
        ax.set_ylabel("\n".join([f"face {face}", *names]), fontsize=8, rotation=0, ha="right", va="center")
        ax.set_ylim(0, 1.1)
        ax.set_yticks([])
    if faces:
        axes[0].set_title("mouth opening per face (shaded: the lines that face says)", fontsize=9, loc="left")

    lines_ax, wave_ax = axes[-2], axes[-1]
    for rendering in take.lines:
        speaker, window = rendering.direction.speaker, rendering.window
        anew = rendering.rendered_in == take.index
        lines_ax.broken_barh([(window.start, window.duration)], (0.1, 0.8), facecolors=colours[speaker],
                             edgecolor="black" if anew else "none", hatch="//" if anew else None)  # fmt: skip
        lines_ax.text(window.start + window.duration / 2, 0.5, _label(speaker, rendering.line), ha="center",
                      va="center", fontsize=8, color="white", fontweight="bold")  # fmt: skip
    lines_ax.set_ylim(0, 1)
    lines_ax.set_yticks([])
    lines_ax.set_ylabel("lines", fontsize=8, rotation=0, ha="right", va="center")
    lines_ax.set_title(f"{take.name}: each line's window (hatched: rendered in this take)", fontsize=9,
                       loc="left")  # fmt: skip

    audio, rate = media.load_audio(take.path)
    duration = max(perception.duration, len(audio) / rate)
    bins = max(1, int(duration * WAVE_BINS_PER_S))
    size = max(1, len(audio) // bins)
    usable = audio[: (len(audio) // size) * size].reshape(-1, size)
    t = (np.arange(len(usable)) + 0.5) * size / rate
    wave_ax.fill_between(t, usable.min(axis=1), usable.max(axis=1), color="#333333", linewidth=0)
    wave_ax.set_ylabel("take", fontsize=8, rotation=0, ha="right", va="center")
    wave_ax.set_yticks([])
    wave_ax.set_xlabel("time in the clip (s)")
    wave_ax.set_xlim(0, duration)
    return _save(figure, path)
