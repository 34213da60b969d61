"""Intelligibility and pitch under emotion (issue 17) on two real voices, a woman (~208 Hz, read by the
reader her audition chose) and a deep man (~122 Hz): 7 emotions x intensities 0.3 / 0.6 / 0.8 x 3 lines,
heard by tiny.en (tests/real_voices.py emotion_cell; bench/emotion_wer_bench.py prints the same table).
~3 minutes."""

from __future__ import annotations

import numpy as np
import pytest

from cinedub.speech import ParametricActor, load_voice, measure_prosody
from cinedub.speech.prosody import EMOTION_PROSODY

from .real_voices import EMOTION_VOICES, F0_GOAL_ST, INTENSITIES, POCKETSPHINX, WER_GOAL, emotion_cell, voices

pytestmark = pytest.mark.skipif(not POCKETSPHINX.exists(), reason="needs Debian pocketsphinx-testdata")


@pytest.fixture(scope="module")
def table(tmp_path_factory) -> dict[tuple[str, str, float], object]:
    actor = ParametricActor()
    paths = voices(tmp_path_factory.mktemp("voices"))
    cells = {}
    for name in EMOTION_VOICES:
        voice = load_voice(paths[name])
        reference_hz = measure_prosody(voice.audio, voice.sample_rate)["f0_median_hz"]
        for emotion in EMOTION_PROSODY:
            for intensity in INTENSITIES:
                cells[name, emotion, intensity] = emotion_cell(actor, voice, emotion, intensity, reference_hz)
    return cells


def test_a_deep_voice_shouts_deep(table):
    """At intensity 0.8 every emotion's F0 median stays within 6 semitones of the speaker's (measured:
    -2.4 to +4.0 for the woman, -2.3 to +5.2 for the man)."""
    far = {key: round(cell.f0_st, 2) for key, cell in table.items() if key[2] == 0.8 and abs(cell.f0_st) > F0_GOAL_ST}
    assert not far, far


def test_emotion_keeps_most_words(table):
    """Measured: mean WER over the 42 cells 0.119 (0.131 with joe reading both voices), 24 of 42 cells
    within 0.10, worst 0.248 (the woman, sad at 0.6)."""
    wers = [cell.wer for cell in table.values()]
    assert np.mean(wers) <= 0.13, np.mean(wers)
    assert sum(w <= WER_GOAL for w in wers) >= 22, sorted(wers)
    assert max(wers) <= 0.30, max(wers)


@pytest.mark.xfail(strict=True, reason="issue 17's goal is not reached: 24 of 42 cells within WER 0.10, worst "
                   "0.248 (the woman, sad at 0.6), deep man angry at 0.8 0.233; each reader alone, at its own "
                   "pace, already loses 2 of a cell's 30 words ('wayward' heard 'way where')")
def test_every_emotion_stays_intelligible(table):
    over = {key: round(cell.wer, 3) for key, cell in table.items() if cell.wer > WER_GOAL}
    assert not over, over
