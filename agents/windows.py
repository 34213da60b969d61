"""Where each line's speech goes in the clip: lip windows, narration windows, pace."""

from __future__ import annotations

from cinedub.errors import CinedubError
from cinedub.speech.frontend import MAX_SQUEEZE, MAX_STRETCH  # the voice's speed limits
from cinedub.types import Line, Perception, Window

# A lip window longer than MAX_STRETCH times the line's natural length keeps its start and is cut.
# Narration starts this far into the clip (a breath after the cut).
NARRATION_LEAD_S = 0.25
# Script windows may touch by this much (SRT times are rounded to the millisecond) without overlapping.
OVERLAP_TOLERANCE_S = 0.01


def _fit(i: int, natural: float, window: Window) -> None:
    """A CinedubError when line `i` (from 0) is too long for `window` even spoken as fast as allowed."""
    if natural / window.duration > MAX_SQUEEZE:
        raise CinedubError(
            f"line {i + 1} is too long for its window: it needs about {natural:.1f} s of speech and the "
            f"window is {window.duration:.2f} s (at most {MAX_SQUEEZE}x faster than natural)"
        )


def check_lines(lines: list[Line], natural_seconds: list[float], clip_duration: float | None = None) -> None:
    """Everything about the lines that can be checked before the clip is watched, as one-line
    CinedubErrors: each line has something to say; several lines each have a script window; script
    windows do not overlap (one voice speaks them), fit their lines and (given `clip_duration`) end
    inside the clip."""
    for i, (line, natural) in enumerate(zip(lines, natural_seconds, strict=True)):
        if natural <= 0:
            raise CinedubError(f"line {i + 1} has no words to speak: {line.text!r}")
    if len(lines) > 1 and any(line.window is None for line in lines):
        raise CinedubError("several lines need a window each: give them with times (--srt or --script)")
    timed = sorted(((line.window, i) for i, line in enumerate(lines) if line.window is not None),
                   key=lambda item: item[0].start)  # fmt: skip
    # Two characters may talk over each other; one (or the unnamed voice) cannot.
    for speaker in sorted({(line.speaker or "").casefold() for line in lines}):
        own = [(w, i) for w, i in timed if (lines[i].speaker or "").casefold() == speaker]
        for (before, i), (after, j) in zip(own, own[1:]):
            if after.start < before.end - OVERLAP_TOLERANCE_S:
                who = lines[i].speaker or "one voice"
                raise CinedubError(
                    f"lines {i + 1} and {j + 1} overlap ({before.start:.2f}-{before.end:.2f} s and "
                    f"{after.start:.2f}-{after.end:.2f} s): {who} cannot speak both at once"
                )
    for window, i in timed:
        if clip_duration is not None and window.end > clip_duration + 0.05:
            raise CinedubError(f"line {i + 1}'s window ends at {window.end:.2f} s, after the clip ({clip_duration:.2f} s)")
        _fit(i, natural_seconds[i], window)


def base_windows(perception: Perception, lines: list[Line], natural_seconds: list[float],
                 dialogue: list[Window] | None = None) -> list[Window]:  # fmt: skip
    """The window each line's speech belongs in, before the director's pace is applied.

    A line with a window from the script starts there. Otherwise a single line goes where the clip's own
    dialogue is spoken (`dialogue`: its stretches of speech, first to last), else where the speaker's
    lips move (first to last speaking window) or, when nobody talks on screen, where narration would
    start. A window more than MAX_STRETCH times the line's natural length keeps its start and is cut
    (one word is not drawn out over a long cue). Raises CinedubError when a line cannot fit its window.
    """
    clip = perception.duration
    check_lines(lines, natural_seconds, clip)
    windows = []
    for i, (line, natural) in enumerate(zip(lines, natural_seconds, strict=True)):
        if line.window is not None:
            window = line.window
        elif dialogue:
            window = Window(start=dialogue[0].start, end=dialogue[-1].end)
        elif perception.speaking_windows:
            window = Window(start=perception.speaking_windows[0].start, end=perception.speaking_windows[-1].end)
        else:
            start = min(NARRATION_LEAD_S, clip / 10)
            window = Window(start=start, end=min(clip, start + natural))
        _fit(i, natural, window)
        if window.duration > natural * MAX_STRETCH:
            window = Window(start=window.start, end=window.start + natural * MAX_STRETCH)
        windows.append(window)
    return windows


def target_window(base: Window, pace: float, clip_duration: float) -> Window:
    """The window the actor fills: the base window from its start, `pace` times faster."""
    end = min(clip_duration, base.start + base.duration / pace)
    return Window(start=base.start, end=round(end, 4))
