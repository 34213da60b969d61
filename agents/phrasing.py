"""Phrasing to the mouth: a line's words spread over the stretches where the speaker talks, the pauses
where they rest.

The guide is the clip's own dialogue when it has one (Silero VAD on its sound: where the original actor
spoke, to ~30 ms), else the speaker's mouth (perception's speaking windows, coarser). The guide's
stretches inside the line's window become segments; the words are cut into as many phrases, the cuts
placed where each phrase's share of the line's length best matches its segment's share of the speaking
time, at punctuation when that costs little. The actor then speaks each phrase in its segment.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from cinedub.speech.frontend import count_syllables
from cinedub.types import Window

MIN_PAUSE_S = 0.2  # a shorter rest is a breath inside a phrase, not a pause between two
MIN_SEGMENT_S = 0.3  # a shorter stretch of speech joins its nearest neighbour (it holds no phrase of its own)
# A cut between two words with no punctuation costs as much as misplacing a cut by this many seconds.
UNPUNCTUATED_CUT_S = 0.3
_PUNCTUATED = re.compile(r"[,;:.!?\u2014-]$")
_PAUSE_MARKS = re.compile(r"(?<=\w)[,;:\u2014]+(?=\s)|\s-+\s")  # where a voice pauses inside a phrase


@dataclass(frozen=True)
class Phrase:
    text: str
    window: Window


def segments(guide: list[Window], window: Window) -> list[Window]:
    """The guide's stretches of speech inside `window`, short pauses bridged and short stretches joined
    to their nearest neighbour; the first starts at the window's start, the last ends at its end."""
    inside = [Window(start=max(g.start, window.start), end=min(g.end, window.end)) for g in guide
              if g.end > window.start and g.start < window.end]  # fmt: skip
    merged: list[Window] = []
    for stretch in inside:
        if merged and stretch.start - merged[-1].end < MIN_PAUSE_S:
            merged[-1] = Window(start=merged[-1].start, end=stretch.end)
        else:
            merged.append(stretch)
    while len(merged) > 1 and min(s.duration for s in merged) < MIN_SEGMENT_S:
        i = min(range(len(merged)), key=lambda k: merged[k].duration)
        # join across the shorter pause
        j = i - 1 if i == len(merged) - 1 or (i > 0 and merged[i].start - merged[i - 1].end
                                                <= merged[i + 1].start - merged[i].end) else i + 1  # fmt: skip
        a, b = sorted((i, j))
        merged[a : b + 1] = [Window(start=merged[a].start, end=merged[b].end)]
    if not merged:
        return [window]
    merged[0] = Window(start=window.start, end=merged[0].end) if len(merged) > 1 else window
    if len(merged) > 1:
        merged[-1] = Window(start=merged[-1].start, end=window.end)
    return merged


def stretched(guide: list[Window], base: Window, given: Window) -> list[Window]:
    """The guide as it falls when the line's `base` window is stretched to `given` from its start (a
    faster pace, or the review's correction, moves the pauses with the words)."""
    if base.duration <= 0 or (given.start, given.duration) == (base.start, base.duration):
        return guide
    factor = given.duration / base.duration

    def moved(t: float) -> float:
        return given.start + (t - base.start) * factor

    # (guide spans long before the line can move below 0 s; only the ones inside the line matter)
    return [Window(start=max(moved(g.start), 0.0), end=moved(g.end)) for g in guide if moved(g.end) > max(moved(g.start), 0.0)]


def _cuts(weights: list[float], shares: list[float], punctuated: list[bool]) -> list[int]:
    """Word indices where phrases 2.. start: the cumulative weight before each cut closest to the
    cumulative segment share (in the line's seconds), unpunctuated cuts charged UNPUNCTUATED_CUT_S."""
    total = sum(weights)
    before = [0.0]
    for w in weights:
        before.append(before[-1] + w)
    targets = []
    for share in shares[:-1]:
        targets.append((targets[-1] if targets else 0.0) + share)
    n, m = len(weights), len(targets)

    def cost(k: int, cut: int) -> float:
        miss = (before[cut] - targets[k] * total)
        return miss * miss + (0.0 if punctuated[cut - 1] else UNPUNCTUATED_CUT_S**2)

    # best[k][cut]: the least cost of cuts 0..k with cut k before word `cut` (1..n-1), each phrase non-empty
    best = [[float("inf")] * n for _ in range(m)]
    back = [[0] * n for _ in range(m)]
    for cut in range(1, n):
        best[0][cut] = cost(0, cut)
    for k in range(1, m):
        running, arg = float("inf"), 0
        for cut in range(k + 1, n):
            if best[k - 1][cut - 1] < running:
                running, arg = best[k - 1][cut - 1], cut - 1
            best[k][cut] = running + cost(k, cut)
            back[k][cut] = arg
    cut = min(range(m, n), key=lambda c: best[m - 1][c])
    chosen = [cut]
    for k in range(m - 1, 0, -1):
        cut = back[k][cut]
        chosen.append(cut)
    return chosen[::-1]


def phrase(text: str, window: Window, guide: list[Window], *, exact: bool, language: str = "en") -> list[Phrase]:
    """`text` cut into phrases over the guide's segments inside `window` (one phrase: the whole line), each
    word weighed by its syllables in the line's `language`.

    exact: the guide is measured speech (the clip's dialogue): a phrase then fills its segment without
    the pauses its own commas would add (the guide already says where the actor rests)."""
    stretches = segments(guide, window)
    words = text.split()
    if len(stretches) > len(words):  # fewer words than stretches: join the closest stretches
        while len(stretches) > len(words):
            gaps = [stretches[k + 1].start - stretches[k].end for k in range(len(stretches) - 1)]
            k = gaps.index(min(gaps))
            stretches[k : k + 2] = [Window(start=stretches[k].start, end=stretches[k + 1].end)]
    if len(stretches) == 1:
        return [Phrase(text=_unpaused(text) if exact else text, window=window)]
    weights = [max(count_syllables(word, language), 1) for word in words]
    speaking = sum(s.duration for s in stretches)
    cuts = _cuts(weights, [s.duration / speaking for s in stretches], [bool(_PUNCTUATED.search(w)) for w in words])
    bounds = [0, *cuts, len(words)]
    phrases = [" ".join(words[a:b]) for a, b in zip(bounds, bounds[1:])]
    return [Phrase(text=_unpaused(p) if exact else p, window=s) for p, s in zip(phrases, stretches, strict=True)]


def _unpaused(text: str) -> str:
    """`text` without the marks a voice pauses at inside a phrase (its final punctuation kept)."""
    return _PAUSE_MARKS.sub(" ", text).replace("  ", " ").strip()
