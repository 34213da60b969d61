"""Phrasing to the mouth (agents/phrasing.py): a line's words over the stretches where the speaker talks,
the pauses where they rest; on the two LatentSync clips, the take's speech follows the original's."""

from __future__ import annotations

import numpy as np
import pytest

from cinedub import assembly, media
from cinedub.agents.phrasing import phrase, segments, stretched
from cinedub.types import Line, Window
from cinedub.vad import speech_spans, spans_mask

from .conftest import SHARED_DATA

FRAME_S = 0.02  # speech activity is compared on 20 ms frames
MIN_IOU = 0.85


def w(start: float, end: float) -> Window:
    return Window(start=start, end=end)


def test_segments_bridge_breaths_and_join_short_stretches():
    guide = [w(0.5, 1.5), w(1.6, 2.0), w(3.0, 3.2), w(3.5, 5.0), w(9.0, 9.5)]
    # 1.5-1.6 is a breath (bridged); 3.0-3.2 is too short for a phrase (joins 3.5-5.0 across the shorter
    # pause); 9.0-9.5 lies outside the window; the first and last stretches reach the window's edges.
    assert segments(guide, w(0.4, 6.0)) == [w(0.4, 2.0), w(3.0, 6.0)]
    assert segments([], w(1.0, 2.0)) == [w(1.0, 2.0)]
    assert segments([w(0.0, 0.1)], w(1.0, 2.0)) == [w(1.0, 2.0)]


def test_cuts_follow_the_stretches_and_prefer_punctuation():
    text = "I waited for you all night, and you never came. Where were you?"
    # three stretches: 2 s, 1.3 s, 0.8 s of speech
    phrases = phrase(text, w(0.0, 5.0), [w(0.0, 2.0), w(2.5, 3.8), w(4.2, 5.0)], exact=False)
    assert [p.text for p in phrases] == ["I waited for you all night,", "and you never came.", "Where were you?"]
    assert [p.window for p in phrases] == [w(0.0, 2.0), w(2.5, 3.8), w(4.2, 5.0)]
    # the guide is measured speech: no pauses of the phrase's own inside it (final punctuation kept)
    assert phrase("Wait, listen to me, please.", w(0, 2), [w(0, 2)], exact=True)[0].text == "Wait listen to me please."
    assert phrase("Wait, listen.", w(0, 2), [w(0, 2)], exact=False)[0].text == "Wait, listen."
    # more stretches than words: the closest are joined
    assert len(phrase("Go now.", w(0, 3), [w(0, 0.5), w(0.8, 1.3), w(2.5, 3.0)], exact=True)) == 2


def test_words_are_weighed_in_the_lines_language():
    """A Spanish line's cut follows Spanish syllables: "poeta europeo" is 3 + 4 of them, not English's 2 + 3."""
    text = "Ayer vimos a un poeta europeo leer su poema en el teatro."
    guide = [w(0.0, 1.9), w(2.3, 4.5)]
    spanish = phrase(text, w(0.0, 4.5), guide, exact=False, language="es")
    assert [p.text for p in spanish] == ["Ayer vimos a un poeta europeo", "leer su poema en el teatro."]
    assert phrase(text, w(0.0, 4.5), guide, exact=False)[0].text == "Ayer vimos a un poeta"  # counted as English


def test_the_guide_moves_with_the_window():
    guide = [w(1.0, 2.0), w(3.0, 4.0)]
    assert stretched(guide, w(1.0, 5.0), w(1.0, 5.0)) == guide
    assert stretched(guide, w(1.0, 5.0), w(1.0, 3.0)) == [w(1.0, 1.5), w(2.0, 2.5)]  # twice the pace


# The lines: about as long as each clip's own speech (its speaker's rate), in English.
LINES = {
    "latentsync_demo1.mp4": "Are you a broke beauty like me, who loves to gamble on a new lipstick every single "
                            "week, and then regrets it all when the bill comes in?",
    "latentsync_demo2.mp4": "When it comes to relationships and when it comes to the gym, you have to show up "
                            "every day, even when you do not feel like it. That is the whole secret, and nobody "
                            "wants to hear it, because it is boring. But it works, every single time, for "
                            "everyone I know.",
}  # fmt: skip


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(LINES))
def test_the_takes_speech_follows_the_original_speakers(name, tmp_path):
    """Each LatentSync clip dubbed with its own audio as the voice: the take's voice activity (Silero VAD
    on its dialogue stem) against the original speech (Silero VAD on the clip's sound), 20 ms frames,
    intersection over union at least MIN_IOU (measured here: 0.984 and 0.928; 0.772 and 0.667 when the
    line filled its window as one stretch). The director calls both monologues."""
    from cinedub.studio import Studio

    clip = SHARED_DATA / name
    result = Studio().dub(clip, [Line(text=LINES[name])], clip, out=tmp_path / "dub")
    original, rate = media.load_audio(clip)
    take, take_rate = media.load_audio(assembly.stem_path(result.take.path, "dialogue"))
    frames = int(min(len(original) / rate, len(take) / take_rate) / FRAME_S)
    theirs = spans_mask(speech_spans(original, rate), frames, FRAME_S)
    ours = spans_mask(speech_spans(take, take_rate), frames, FRAME_S)
    iou = float(np.sum(theirs & ours) / np.sum(theirs | ours))
    assert iou >= MIN_IOU, iou
    assert result.conclusion["scene_type"] == "monologue"
