"""The rule-based note interpreter."""

from __future__ import annotations

import pytest

from cinedub.agents.notes import interpret_note
from cinedub.types import Direction, Window


@pytest.fixture
def direction() -> Direction:
    return Direction(emotion="sad", intensity=0.5, window=Window(start=0.5, end=3.0), voice="voice.wav")


@pytest.mark.parametrize(
    ("note", "expected"),
    [
        ("again, but angrier", {"emotion": "angry", "intensity": 0.6}),
        ("happier", {"emotion": "happy", "intensity": 0.6}),
        ("sadder", {"intensity": 0.7}),
        ("calmer", {"intensity": 0.3}),
        ("more", {"intensity": 0.7}),
        ("a little more", {"intensity": 0.6}),
        ("less", {"intensity": 0.3}),
        ("much less", {"intensity": 0.2}),
        ("a little less sad", {"intensity": 0.4}),
        ("neutral", {"emotion": "neutral"}),
        ("faster", {"pace": 1.15}),
        ("a little slower", {"pace": round(1.15**-0.5, 3)}),
        ("higher", {"pitch_shift": 2.0}),
        ("much lower", {"pitch_shift": -3.0}),
        ("louder", {"loudness": 3.0}),
        ("softer", {"loudness": -3.0}),
        ("she's scared, not sad", {"emotion": "fear", "intensity": 0.6}),
    ],
)
def test_notes_change_the_direction(direction, note, expected):
    result = interpret_note(note, direction, [direction])
    assert result.understood and result.retake
    assert result.direction.model_dump(include=set(expected)) == expected
    for name in expected:
        assert name.replace("_", " ") in result.message  # it says what it changed
    untouched = set(Direction.model_fields) - set(expected) - {"seed"}
    assert result.direction.model_dump(include=untouched) == direction.model_dump(include=untouched)


def test_like_the_first_take(direction):
    first = direction.model_copy(update={"emotion": "happy", "intensity": 0.8, "pace": 1.2})
    result = interpret_note("like the first take", direction, [first, direction])
    assert (result.direction.emotion, result.direction.intensity, result.direction.pace) == ("happy", 0.8, 1.2)
    assert interpret_note("like take 2", first, [first, direction]).direction.emotion == "sad"


def test_again_is_a_new_performance_of_the_same_direction(direction):
    result = interpret_note("again", direction, [direction])
    assert result.retake and not result.changes
    assert result.direction.seed == direction.seed + 1
    assert result.direction.model_dump(exclude={"seed"}) == direction.model_dump(exclude={"seed"})


@pytest.mark.parametrize("note", ["make it purple", "like take 7", ""])
def test_notes_it_does_not_understand_are_said_plainly(direction, note):
    result = interpret_note(note, direction, [direction])
    assert not result.retake
    assert result.direction == direction
    if note:
        assert "did not understand" in result.message


def test_a_partly_understood_note_applies_what_it_understood(direction):
    result = interpret_note("slower and make it purple", direction, [direction])
    assert result.retake and result.direction.pace < 1.0
    assert 'did not understand "make it purple"' in result.message


def test_intensity_stays_in_range(direction):
    d = direction
    for _ in range(10):
        d = interpret_note("much more", d, [d]).direction
    assert d.intensity == 1.0
