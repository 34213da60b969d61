"""The actor's text front end: written text to the words a reader says, and lines the voice can't say.

(That the voice then says those words, as Whisper hears them, is tested in test_actor.py.)
"""

from __future__ import annotations

import pytest

from cinedub.errors import CinedubError
from cinedub.speech.frontend import (
    check_speakable,
    count_pauses,
    count_syllables,
    estimate_speech_seconds,
    normalize_text,
)

NORMALISED = [
    # The "No." trap: a full stop after "no" ends a sentence unless a number follows.
    ("I said no. Then I left.", "I said no. Then I left."),
    ("Room No. 5, please.", "Room number five, please."),
    ("Call #7.", "Call number seven."),
    # Money with a scale word, and abbreviations read by context (Street after a name, Saint before one).
    ("It cost $1.5 million on Main St. last year.",
     "It cost one point five million dollars on Main Street last year."),
    ("St. Louis is far.", "Saint Louis is far."),
    ("Dr. Jones lives on Mulholland Dr. now.", "Doctor Jones lives on Mulholland Drive now."),
    ("$3.50, $1, $0.25, £20 and €3bn.",
     "three dollars fifty cents, one dollar, twenty five cents, twenty pounds and three billion euros."),
    # Dates (US order unless the first part can only be a day), ISO dates, months with a day, times.
    ("We met on 3/4/2024.", "We met on March fourth, twenty twenty four."),
    ("It is 25/12/2024.", "It is December twenty fifth, twenty twenty four."),
    ("Due 2024-12-01 at 07:05.", "Due December first, twenty twenty four at seven oh five."),
    ("It was March 4, 1999.", "It was March fourth, nineteen ninety nine."),
    ("Meet me at 3:30 pm or 10:00.", "Meet me at three thirty PM or ten o'clock."),
    # Numbers: cardinals with grouping, decimals, negatives, ordinals, percentages, years, decades, ranges.
    ("In 1984 Mr. Smith paid for 2,000 eggs, 45% of them, on the 21st.",
     ("In nineteen eighty four Mister Smith paid for two thousand eggs, forty five percent of them, "
      "on the twenty first.")),
    ("It was -3 degrees, 3.14 and 105.",
     "It was minus three degrees, three point one four and one hundred five."),
    ("The 1990s, the 80s, 1990-1995.",
     "The nineteen nineties, the eighties, nineteen ninety to nineteen ninety five."),
    ("Card 4111111111111111.", "Card four one one one one one one one one one one one one one one one."),
    # Markup: SSML stripped, a break is a pause; entities unescaped.
    ('<speak>Hello <break time="3s"/> world.</speak>', "Hello, world."),
    ("<p>Tom &amp; Jerry</p>", "Tom and Jerry"),
    # Emoji and pictographs are dropped (with their modifiers and joiners); typographic quotes kept plain.
    ("I love you 😀🔥", "I love you"),
    ("Hi 👍🏽 family 👨\u200d👩\u200d👧!", "Hi family!"),
    ("I\u2019m \u201cfine\u201d.", "I'm \"fine\"."),
    # An interjection opening a sentence is its own breath group ("Ah ready" read in one run is "already").
    ("Ah ready. He said oh no. Oh my god! Uh-huh.", "Ah, ready. He said oh no. Oh, my god! Uh-huh."),
]  # fmt: skip


@pytest.mark.parametrize(("written", "spoken"), NORMALISED)
def test_normalised_as_read_aloud(written, spoken):
    assert normalize_text(written) == spoken
    assert normalize_text(spoken) == spoken  # idempotent: every stage may normalise what it has


def test_any_length_of_digits():
    assert normalize_text("9" * 5000).split() == ["nine"] * 5000  # past Python's int() digit limit


def test_the_estimate_reads_the_normalised_text():
    # Dropped emoji and markup take no time; a spelled-out number takes its words' time.
    assert estimate_speech_seconds("I love you 😀🔥") == estimate_speech_seconds("I love you")
    with_markup = estimate_speech_seconds('Hello <break time="3s"/> world.')
    assert with_markup == estimate_speech_seconds("Hello, world.")
    assert estimate_speech_seconds("It cost $1.5 million.") == estimate_speech_seconds(
        "It cost one point five million dollars.")
    # "Mr." is no sentence break, "no." at the end of a sentence is one.
    assert count_pauses("Mr. Smith left.") == (0, 0)
    assert count_pauses("I said no. Then I left.") == (0, 1)


@pytest.mark.parametrize(("line", "language"), [
    ("你好，我是你的朋友。", "Chinese"),
    ("مرحبا، كيف حالك؟", "Arabic"),
    ("こんにちは、世界。", "Japanese"),
    ("Привет, как дела?", "Cyrillic script"),
    ("I love 北京 very much.", "Chinese"),
])  # fmt: skip
def test_other_scripts_are_refused(line, language):
    expected = f"^this voice speaks English; the line .* is in {language}$"
    with pytest.raises(CinedubError, match=expected) as err:
        check_speakable(line)
    assert "\n" not in str(err.value)


@pytest.mark.parametrize("line", ["😀🔥", "...!?", "  ", "<break time='1s'/>", "👍🏽 👨\u200d👩\u200d👧"])
def test_lines_without_words_are_refused(line):
    with pytest.raises(CinedubError, match="has no words to speak"):
        check_speakable(line)


def test_speakable_lines_come_back_normalised():
    assert check_speakable("Café au lait, s'il vous plaît.") == "Café au lait, s'il vous plaît."
    assert check_speakable("I love you 😀🔥") == "I love you"
    assert check_speakable("42") == "forty two"


@pytest.mark.parametrize(("line", "language", "name"), [
    ("Привет, как дела?", "es", "Spanish"),
    ("你好，我是你的朋友。", "pt", "Portuguese"),
    ("مرحبا، كيف حالك؟", "fr", "French"),
])  # fmt: skip
def test_other_scripts_are_refused_in_every_language(line, language, name):
    with pytest.raises(CinedubError, match=f"^this voice speaks {name}; the line .* is in "):
        check_speakable(line, language)


def test_english_is_the_default_language():
    line = "In 1984 Mr. Smith paid $3.50, no. 5."
    assert normalize_text(line) == normalize_text(line, "en")
    assert estimate_speech_seconds(line) == estimate_speech_seconds(line, language="en")
    assert check_speakable(line) == check_speakable(line, "en")
    # French reads its own letters and elisions: "qu'il" is one syllable, a final "e" after a consonant none
    assert check_speakable("Qu'il pleuve, l'été à Noël!", "fr") == "Qu'il pleuve, l'été à Noël!"
    assert count_syllables("Qu'il pleuve, l'été à Noël!", "fr") == 7  # qu'il pleu(ve) l'é-té à No-ël
