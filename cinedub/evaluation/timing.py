"""Duration error: how well the take's speech fills the target speaking window."""

from __future__ import annotations

import numpy as np

from cinedub.assembly import duration_errors
from cinedub.errors import CinedubError
from cinedub.speech.measure import speech_span
from cinedub.types import Window

# Speech is looked for this far either side of the window, so an early or late take is measured as
# early or late rather than cut at the window's edges.
SEARCH_MARGIN_S = 0.5


def window_timing(audio: np.ndarray, sample_rate: int, window: Window) -> dict[str, float]:
    """Where the speech around `window` starts and ends (seconds of `audio`), and its errors in ms.

    duration_error_ms is EVAL.md's |speech duration - window duration|, duration_error_signed_ms the same with
    its sign (both from cinedub.assembly, as the director's review measures them); onset / offset errors are
    signed (+ = late)."""
    lo = max(0.0, window.start - SEARCH_MARGIN_S)
    hi = min(len(audio) / sample_rate, window.end + SEARCH_MARGIN_S)
    if hi <= lo:
        raise CinedubError(f"the audio ({len(audio) / sample_rate:.2f} s) ends before the window starts "
                           f"({window.start:.2f} s)")  # fmt: skip
    span = speech_span(audio[int(round(lo * sample_rate)) : int(round(hi * sample_rate))], sample_rate)
    if span is None:
        raise CinedubError(f"no speech found in {lo:.2f}-{hi:.2f} s around the target window")
    start, end = lo + span[0], lo + span[1]
    spoken = end - start
    return {
        "speech_start": round(start, 4),
        "speech_end": round(end, 4),
        "speech_duration": round(spoken, 4),
        **duration_errors(spoken, window),
        "onset_error_ms": round(1000 * (start - window.start), 1),
        "offset_error_ms": round(1000 * (end - window.end), 1),
    }
