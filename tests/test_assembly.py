"""Take assembly: one definition of the duration error, shared by the director's review and the evaluation."""

from __future__ import annotations

import pytest

from cinedub import assembly, media
from cinedub.evaluation import timing
from cinedub.speech.measure import speech_span
from cinedub.types import Window


def test_the_duration_error_has_one_name_and_one_sign():
    window = Window(start=1.0, end=3.0)
    short, long = assembly.duration_errors(1.75, window), assembly.duration_errors(2.1, window)
    assert short == {"duration_error_ms": 250.0, "duration_error_signed_ms": -250.0}
    assert long == {"duration_error_ms": 100.0, "duration_error_signed_ms": 100.0}


def test_the_review_and_the_evaluation_measure_a_take_alike(librivox_wav):
    audio, rate = media.load_audio(librivox_wav, sample_rate=assembly.TRACK_SAMPLE_RATE, max_seconds=6.0)
    start, end = speech_span(audio, rate)
    window = Window(start=start, end=end + 0.25)  # the real read is 250 ms short of its window
    review = assembly.measure_line(audio, rate, window, len(audio) / rate)
    evaluation = timing.window_timing(audio, rate, window)
    for key in ("duration_error_ms", "duration_error_signed_ms"):
        assert review[key] == pytest.approx(evaluation[key], abs=15)
    assert review["duration_error_signed_ms"] == pytest.approx(-250, abs=15)
    assert review["duration_error_ms"] == -review["duration_error_signed_ms"]
