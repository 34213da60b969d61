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


# -- every note gets an answer (issue 20) --------------------------------------------------------


@pytest.mark.parametrize(("note", "says"), [
    ("", "note is empty"),
    ("   ", "note is empty"),
    ("please", "asks for no change"),
    ("not angry", "already sad, not angry"),
    ("don't go faster", "pace stays 1.00x"),
    ("no louder", "loudness stays +0.0 dB"),
    ("happier but sadder", 'different emotions: "happier" and "sadder"'),
    ("faster, then slower", "pace both ways"),
    ("a little more but much less", "intensity both ways"),
])  # fmt: skip
def test_notes_that_change_nothing_say_why(direction, note, says):
    result = interpret_note(note, direction, [direction])
    assert not result.retake and result.direction == direction
    assert says in result.message, result.message


def test_a_negated_emotion_the_take_has_is_dropped(direction):
    result = interpret_note("not sad", direction, [direction])
    assert result.retake and result.direction.emotion == "neutral"
    assert "emotion sad -> neutral" in result.message
    # the other clause says what it is; the negated one then holds already
    scared = interpret_note("not sad, scared", direction, [direction])
    assert (scared.direction.emotion, scared.direction.intensity) == ("fear", 0.6)
    assert "already fear, not sad" in scared.message


@pytest.mark.parametrize(("note", "field", "first", "bound", "steps"), [
    ("higher", "pitch_shift", 2.0, 12.0, 6),
    ("lower", "pitch_shift", -2.0, -12.0, 6),
    ("faster", "pace", 1.15, 2.0, 5),
    ("slower", "pace", round(1 / 1.15, 3), 0.5, 5),
    ("louder", "loudness", 3.0, 20.0, 7),
    ("more", "intensity", 0.7, 1.0, 3),
])  # fmt: skip
def test_repeated_relative_notes_accumulate_by_one_rule_up_to_their_bounds(direction, note, field, first, bound, steps):
    """Each note moves its control one step from the last take's value (pace by a factor, the others
    by adding) until its bound; one more says it is already there and makes no take."""
    d = direction
    values = []
    for _ in range(steps):
        result = interpret_note(note, d, [d])
        assert result.retake, result.message
        d = result.direction
        values.append(getattr(d, field))
    assert values[0] == pytest.approx(first, abs=1e-3) and values[-1] == bound
    assert len(set(values)) == steps  # every note moved it
    again = interpret_note(note, d, [d])
    assert not again.retake and "already at its" in again.message
