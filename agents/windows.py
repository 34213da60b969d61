"""Where each line's speech goes in the clip: lip windows, narration windows, pace."""

from __future__ import annotations

from cinedub.errors import CinedubError
from cinedub.types import Line, Perception, Window

# The actor can speak at most this much faster than its natural rate before words blur ...
MAX_SQUEEZE = 1.8
# ... and at most this much slower before it drawls; a longer lip window keeps its start and is cut.
MAX_STRETCH = 1.6
# Narration starts this far into the clip (a breath after the cut).
NARRATION_LEAD_S = 0.25


def base_windows(perception: Perception, lines: list[Line], natural_seconds: list[float]) -> list[Window]:
    """The window each line's speech belongs in, before the director's pace is applied.

    A line with a window from the script keeps it. Otherwise a single line goes where the speaker's
    lips move (first to last speaking window) or, when nobody talks on screen, where narration would
    start. Raises CinedubError when a line cannot fit its window.
    """
    clip = perception.duration
    windows = []
    for i, (line, natural) in enumerate(zip(lines, natural_seconds, strict=True)):
        if line.window is not None:
            window = line.window
            if window.end > clip + 0.05:
                raise CinedubError(f"line {i + 1}'s window ends at {window.end:.2f} s, after the clip ({clip:.2f} s)")
        elif len(lines) > 1:
            raise CinedubError("several lines need a window each: give them as an SRT file (--srt)")
        elif perception.speaking_windows:
            window = Window(start=perception.speaking_windows[0].start, end=perception.speaking_windows[-1].end)
        else:
            start = min(NARRATION_LEAD_S, clip / 10)
            window = Window(start=start, end=min(clip, start + natural))
        squeeze = natural / window.duration
        if squeeze > MAX_SQUEEZE:
            raise CinedubError(
                f"the line is too long for its window: it needs about {natural:.1f} s of speech and the "
                f"window is {window.duration:.2f} s (at most {MAX_SQUEEZE}x faster than natural)"
            )
        if window.duration > natural * MAX_STRETCH and line.window is None:
            window = Window(start=window.start, end=window.start + natural * MAX_STRETCH)
        windows.append(window)
    return windows


def target_window(base: Window, pace: float, clip_duration: float) -> Window:
    """The window the actor fills: the base window from its start, `pace` times faster."""
    end = min(clip_duration, base.start + base.duration / pace)
    return Window(start=base.start, end=round(end, 4))
