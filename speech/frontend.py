"""Text front end: the minimal normalisation the voice needs, and how long a line takes to say.

Piper's espeak front end reads plain words well; what it (and syllable counting) trips on is digits,
symbols and a few abbreviations, so those are spelled out here. Anything fancier (dates, roman
numerals, units) is left as written.
"""

from __future__ import annotations

import re

_ONES = ("zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen "
         "fifteen sixteen seventeen eighteen nineteen").split()  # fmt: skip
_TENS = "_ _ twenty thirty forty fifty sixty seventy eighty ninety".split()
_SCALES = ((10**12, "trillion"), (10**9, "billion"), (10**6, "million"), (1000, "thousand"))
_ORDINAL_EXCEPTIONS = {"one": "first", "two": "second", "three": "third", "five": "fifth",
                       "eight": "eighth", "nine": "ninth", "twelve": "twelfth"}  # fmt: skip
_ABBREVIATIONS = {"mr": "mister", "mrs": "missus", "ms": "miz", "dr": "doctor", "st": "saint",
                  "jr": "junior", "sr": "senior", "vs": "versus", "etc": "et cetera", "no": "number"}  # fmt: skip
_SYMBOLS = {"&": " and ", "%": " percent", "+": " plus ", "=": " equals ", "@": " at "}

# Piper joe-medium's natural rate at length_scale 1.0 (noise scales 0), measured on this machine with
# `bench/actor_rtf.py --calibrate` over 12 sentences (1-28 syllables, 0.3-5.9 s of trimmed speech):
# least squares of the speech duration on (syllables, comma pauses, sentence breaks) gives 5.66
# syllables/s of articulation, 0.28 s per comma-like pause and 0.32 s per sentence break; median
# absolute error 0.15 s, worst 0.44 s (per-sentence rates range 4.4-6.3 syllables/s).
SYLLABLES_PER_SECOND = 5.66
COMMA_PAUSE_S = 0.28
SENTENCE_PAUSE_S = 0.32


def number_words(n: int) -> str:
    """Cardinal English words for a non-negative integer: 1984 -> 'one thousand nine hundred eighty four'."""
    if n < 20:
        return _ONES[n]
    if n < 100:
        tens, ones = divmod(n, 10)
        return _TENS[tens] + (f" {_ONES[ones]}" if ones else "")
    if n < 1000:
        hundreds, rest = divmod(n, 100)
        return f"{_ONES[hundreds]} hundred" + (f" {number_words(rest)}" if rest else "")
    for value, name in _SCALES:
        if n >= value:
            head, rest = divmod(n, value)
            return f"{number_words(head)} {name}" + (f" {number_words(rest)}" if rest else "")
    raise AssertionError("unreachable")


def _ordinal(words: str) -> str:
    head, _, last = words.rpartition(" ")
    if last in _ORDINAL_EXCEPTIONS:
        last = _ORDINAL_EXCEPTIONS[last]
    elif last.endswith("y"):
        last = last[:-1] + "ieth"
    else:
        last += "th"
    return f"{head} {last}".strip()


def _year_words(n: int) -> str:
    """1984 -> 'nineteen eighty four', 2005 -> 'two thousand five' (the way people say years)."""
    high, low = divmod(n, 100)
    if low == 0 or (2000 <= n < 2010):
        return number_words(n)
    return f"{number_words(high)} {'oh ' + number_words(low) if low < 10 else number_words(low)}"


def _number(match: re.Match[str]) -> str:
    currency, digits, decimals, suffix = match.group(1), match.group(2), match.group(3), match.group(4)
    value = int(digits.replace(",", ""))
    if suffix and suffix.lower() in ("st", "nd", "rd", "th"):
        return _ordinal(number_words(value))
    if not currency and not decimals and "," not in digits and 1100 <= value <= 2099 and value % 1000 >= 100:
        words = _year_words(value)
    else:
        words = number_words(value)
    if currency:
        words += " dollar" + ("" if value == 1 else "s")
        if decimals and len(decimals) == 2 and int(decimals):
            words += f" {number_words(int(decimals))} cent" + ("" if int(decimals) == 1 else "s")
        return f" {words} "
    if decimals:
        words += " point " + " ".join(_ONES[int(d)] for d in decimals)
    return f" {words} "


_NUMBER = re.compile(r"(\$)?(\d{1,3}(?:,\d{3})+|\d+)(?:\.(\d+))?(st|nd|rd|th)?\b", re.IGNORECASE)
_ABBREVIATION = re.compile(r"\b(" + "|".join(_ABBREVIATIONS) + r")\.(?=\s)", re.IGNORECASE)


def normalize_text(text: str) -> str:
    """Spell out numbers, money, percentages, ordinals and common abbreviations; tidy whitespace."""
    text = _ABBREVIATION.sub(lambda m: _ABBREVIATIONS[m.group(1).lower()], text)
    text = _NUMBER.sub(_number, text)
    for symbol, words in _SYMBOLS.items():
        text = text.replace(symbol, words)
    text = re.sub(r"\s+([,.;:!?])", r"\1", text)
    return " ".join(text.split())


def _word_syllables(word: str) -> int:
    """Vowel-group count with the usual English corrections (silent final e, -le, -ed)."""
    word = word.lower()
    if not word:
        return 0
    if len(word) <= 3:
        return 1
    groups = re.findall(r"[aeiouy]+", word)
    count = len(groups)
    if word.endswith("e") and not word.endswith(("le", "ee", "ye")) and count > 1:
        count -= 1  # make, before
    if word.endswith("ed") and not word.endswith(("ted", "ded")) and count > 1:
        count -= 1  # walked
    return max(1, count)


def count_syllables(text: str) -> int:
    """Syllables in the normalised text (letters only; apostrophes kept inside words)."""
    words = re.findall(r"[a-z]+(?:'[a-z]+)?", normalize_text(text).lower())
    return sum(_word_syllables(w.replace("'", "")) for w in words)


def count_pauses(text: str) -> tuple[int, int]:
    """(comma-like pauses, sentence breaks) inside the line; a final full stop doesn't count."""
    body = normalize_text(text).rstrip(" .!?\"')")
    commas = len(re.findall(r"[,;:\u2014]|--| - ", body))
    sentences = len(re.findall(r"[.!?]+[\"')]*\s", body))
    return commas, sentences


def estimate_speech_seconds(text: str, pace: float = 1.0) -> float:
    """How long the voice takes to say `text` naturally at `pace` (2.0 = twice as fast), in seconds.

    The director compares this with a speaking window: far outside the window means the line won't fit
    without sounding rushed or dragged.
    """
    commas, sentences = count_pauses(text)
    seconds = count_syllables(text) / SYLLABLES_PER_SECOND + commas * COMMA_PAUSE_S + sentences * SENTENCE_PAUSE_S
    return seconds / max(pace, 1e-3)
