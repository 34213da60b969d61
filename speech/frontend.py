"""Text front end: the words the voice is asked to say, whether it can say them, and how long they take.

Written text becomes what a reader says aloud (the field's text normalisation, as in NeMo's or
Festival's front ends): markup is stripped (an SSML `<break>` becomes a comma pause: how long a pause
lasts is the window's business), emoji and other pictographs are dropped, numbers are verbalised by
num2words (cardinals, ordinals, years, decimals, money with its scale word, percentages, dates,
times) and abbreviations are read by context: "St." is Saint before a name and Street after one,
"Dr." doctor or Drive the same way, and "No." is "number" only before a number ("I said no." stays).
The normalised text is what the syllable count, the duration estimate and the actor all read.

Other languages (LANGUAGES: Spanish, Portuguese, French, Italian, German, Catalan, Galician) get the
same markup and emoji handling, their numbers in their own words (num2words), syllables counted as vowel
nuclei with the language's vowels and diphthongs, and the language's own speaking rate.

Each language's voice reads Latin letters only: `check_speakable` refuses other scripts, and lines with
no words at all, before any work is done.
"""

from __future__ import annotations

import calendar
import html
import re
import unicodedata
from collections import Counter
from dataclasses import dataclass

from num2words import num2words

from cinedub.errors import CinedubError

# Piper joe-medium's natural rate at length_scale 1.0 (noise scales 0), measured on this machine with
# `bench/actor_rtf.py --calibrate` over 12 sentences (1-28 syllables, 0.3-5.9 s of trimmed speech):
# least squares of the speech duration on (syllables, comma pauses, sentence breaks) gives 5.66
# syllables/s of articulation, 0.28 s per comma-like pause and 0.32 s per sentence break; median
# absolute error 0.15 s, worst 0.44 s (per-sentence rates range 4.4-6.3 syllables/s).
SYLLABLES_PER_SECOND = 5.66
COMMA_PAUSE_S = 0.28
SENTENCE_PAUSE_S = 0.32
# The voice can speak at most this much faster than its natural rate before words blur (the director
# refuses windows that would need more, and the actor refuses to squeeze a reading past it) ...
MAX_SQUEEZE = 1.8
# ... and at most this much slower before it drawls.
MAX_STRETCH = 1.6

MAX_CARDINAL_DIGITS = 15  # up to hundreds of trillions; longer digit strings are read one digit at a time

# Abbreviations read by what stands around them: a title before a name, a place after one.
_TITLES = {"mr": "mister", "mrs": "missus", "ms": "miz", "dr": "doctor", "st": "saint", "prof": "professor",
           "mt": "mount", "capt": "captain", "gen": "general", "col": "colonel", "lt": "lieutenant",
           "sgt": "sergeant", "gov": "governor", "sen": "senator", "rev": "reverend", "fr": "father",
           "hon": "honourable"}  # fmt: skip
_PLACES = {"st": "street", "dr": "drive", "ave": "avenue", "rd": "road", "blvd": "boulevard", "ln": "lane"}
_OTHERS = {"jr": "junior", "sr": "senior", "vs": "versus", "etc": "et cetera", "approx": "approximately",
           "dept": "department", "e.g": "for example", "i.e": "that is"}  # fmt: skip
_SYMBOLS = {"&": " and ", "+": " plus ", "=": " equals ", "@": " at ", "%": " percent "}
_CURRENCIES = {"$": ("dollar", "dollars", "cent", "cents"), "£": ("pound", "pounds", "penny", "pence"),
               "€": ("euro", "euros", "cent", "cents")}  # fmt: skip
_SCALES = {"thousand": "thousand", "k": "thousand", "million": "million", "m": "million", "mn": "million",
           "billion": "billion", "bn": "billion", "b": "billion", "trillion": "trillion"}  # fmt: skip
_MONTHS = [m.lower() for m in calendar.month_name[1:]]
# Characters dropped as they are never read aloud: emoji join / presentation controls, keycaps, tags.
_INVISIBLE = {0x200D, 0x20E3, *range(0xFE00, 0xFE10), *range(0xE0020, 0xE0080)}
# Unicode categories of pictographs and symbols (emoji, dingbats, modifiers) and of format / unassigned
# code points: nothing a reader would say.
_UNSPOKEN_CATEGORIES = {"So", "Sk", "Cf", "Co", "Cs", "Cn"}
# What may remain for the voice after normalisation: letters, apostrophes, and punctuation it phrases.
_LEFTOVER = re.compile(r"[^\w\s'.,;:!?\"()\u2014-]|_")
# Scripts named in errors, by the first word of the letters' Unicode names.
_SCRIPT_LANGUAGES = {"CJK": "Chinese", "HIRAGANA": "Japanese", "KATAKANA": "Japanese", "HANGUL": "Korean",
                     "ARABIC": "Arabic", "HEBREW": "Hebrew", "CYRILLIC": "Cyrillic script",
                     "GREEK": "Greek", "DEVANAGARI": "Devanagari script", "THAI": "Thai"}  # fmt: skip



# Syllabic rates of read speech, syllables/s (Pellegrino, Coupé & Marsico 2011, "A cross-language
# perspective on speech information rate", Language 87(3)). Portuguese is not among them: Voigt &
# Schüppert (2013, "Articulation rate and syllable reduction in Spanish and Portuguese") find no
# difference between European Portuguese and Spanish in canonical (written-syllable) articulation rate,
# which is what count_syllables counts, so Portuguese takes Spanish's. Catalan and Galician have no value
# there either: they take Spanish's, their syllable-timed Ibero-Romance neighbour's (an assumption).
LITERATURE_SYLLABLES_PER_SECOND = {"en": 6.19, "es": 7.82, "pt": 7.82, "fr": 7.18, "it": 6.99, "de": 5.97,
                                   "ca": 7.82, "gl": 7.82}  # fmt: skip


@dataclass(frozen=True)
class SpokenLanguage:
    """What the front end knows of a language: its name, its number words and how its syllables form.

    Syllables are vowel nuclei: a run of vowel letters is one nucleus (a diphthong, a digraph such as
    French "eau") except where the language splits it (a hiatus): between two strong vowels
    (`split_strong`: Spanish "po-e-ta", not French "eau"), next to a `hiatus` letter (stressed í/ú,
    a diaeresis), or, with `rising_hiatus`, between a weak and a following strong vowel (Catalan
    "grà-ci-a") except after q/g.
    """

    name: str  # in errors: "this voice speaks Spanish"
    num2words: str  # num2words' language code
    vowels: str
    strong: str = ""  # vowels that never glide (the rest, i/u/ü/y, glide next to another vowel)
    hiatus: str = ""  # a vowel that is a nucleus of its own next to any other vowel
    glide_after: str = ""  # strong vowels a following strong vowel glides onto (Portuguese "ão", "õe")
    split_strong: bool = False
    rising_hiatus: bool = False
    silent_final_e: bool = False  # French: a word's last "e"/"es" after a consonant is not a syllable
    decimal_word: str = ""  # what the decimal comma is read as
    percent_word: str = ""
    and_word: str = ""


_SPANISH = {"vowels": "aeiouáéíóúüy", "strong": "aeoáéó", "hiatus": "íú", "split_strong": True}
LANGUAGES: dict[str, SpokenLanguage] = {
    "en": SpokenLanguage("English", "en", "aeiouy"),  # English keeps its own rules (below)
    "es": SpokenLanguage("Spanish", "es", **_SPANISH, decimal_word="coma", percent_word="por ciento",
                         and_word="y"),
    "pt": SpokenLanguage("Portuguese", "pt", "aeiouáéíóúâêôãõàüy", "aeoáéóâêôãõà", "íú", glide_after="ãõ",
                         split_strong=True, decimal_word="vírgula", percent_word="por cento", and_word="e"),
    "fr": SpokenLanguage("French", "fr", "aeiouyàâæéèêëîïôœùûüÿ", hiatus="éëïü", silent_final_e=True,
                         decimal_word="virgule", percent_word="pour cent", and_word="et"),
    "it": SpokenLanguage("Italian", "it", "aeiouàèéìíòóùúy", "aeoàèéòó", split_strong=True,
                         decimal_word="virgola", percent_word="per cento", and_word="e"),
    "de": SpokenLanguage("German", "de", "aeiouäöüy", decimal_word="Komma", percent_word="Prozent",
                         and_word="und"),
    "ca": SpokenLanguage("Catalan", "ca", "aeiouàèéíïòóúüy", "aeoàèéòó", "íúï", split_strong=True,
                         rising_hiatus=True, decimal_word="coma", percent_word="per cent", and_word="i"),
    # num2words has no Galician: Portuguese number words (near-identical syllables) stand in, for counting.
    "gl": SpokenLanguage("Galician", "pt", **_SPANISH, decimal_word="coma", percent_word="por cento",
                         and_word="e"),
}  # fmt: skip


def spoken_language(language: str) -> SpokenLanguage:
    """The front end's description of `language` (ISO 639-1), or a one-line CinedubError."""
    if language not in LANGUAGES:
        raise CinedubError(f"no text front end for language {language!r} "
                           f"(cinedub reads {', '.join(sorted(LANGUAGES))})")  # fmt: skip
    return LANGUAGES[language]


def syllables_per_second(language: str = "en") -> float:
    """The natural articulation rate the estimate uses for `language`.

    English's is the voice's measured rate (SYLLABLES_PER_SECOND, 5.66, against 6.19 in the literature);
    another language's is its literature rate scaled by the same ratio, so a line and its translation are
    estimated by the same speaker's tempo and their estimates compare (a translation that "fits" fits
    for a speaker as fast as the English one).
    """
    if language == "en":
        return SYLLABLES_PER_SECOND
    spoken_language(language)
    literature = LITERATURE_SYLLABLES_PER_SECOND
    return literature[language] * SYLLABLES_PER_SECOND / literature["en"]


def _words(value: int | str, to: str = "cardinal") -> str:
    """num2words in American style: no "and", no commas or hyphens (in the text they would be pauses).
    A longer string of digits than MAX_CARDINAL_DIGITS (an account number, an ID) is read digit by digit."""
    digits = str(value).replace(",", "")
    if len(digits) > MAX_CARDINAL_DIGITS:
        return " ".join(_words(digit) for digit in digits)
    text = num2words(int(digits), lang="en", to=to).replace("-", " ").replace(",", " ")
    return " ".join(word for word in text.split() if word != "and")


def _decimal_words(digits: str, decimals: str | None) -> str:
    """'1', '5' -> 'one point five' (each decimal digit read on its own, as people read them)."""
    words = _words(digits)
    return words + (" point " + " ".join(_words(d) for d in decimals) if decimals else "")


def _is_year(digits: str) -> bool:
    return len(digits) == 4 and 1100 <= int(digits) <= 2099


def _year_words(digits: str) -> str:
    """'1984' -> 'nineteen eighty four', '2024' -> 'twenty twenty four', '24' -> 'twenty four'."""
    return _words(digits, to="year") if len(digits) == 4 else _words(digits)


def _date(month: int, day: int, year: str) -> str | None:
    if not (1 <= month <= 12 and 1 <= day <= 31):
        return None
    return f" {calendar.month_name[month]} {_words(day, to='ordinal')}, {_year_words(year)} "


def _slash_date(match: re.Match[str]) -> str:
    """US order (month/day/year), unless the first part can only be a day (25/12/2024)."""
    first, second, year = int(match.group(1)), int(match.group(2)), match.group(3)
    month, day = (second, first) if first > 12 >= second else (first, second)
    return _date(month, day, year) or match.group(0)


def _iso_date(match: re.Match[str]) -> str:
    return _date(int(match.group(2)), int(match.group(3)), match.group(1)) or match.group(0)


def _time(match: re.Match[str]) -> str:
    hour, minutes, half = int(match.group(1)), match.group(2), match.group(3)
    if hour > 23:
        return match.group(0)
    words = _words(hour)
    if minutes != "00":
        words += (" oh " if minutes[0] == "0" else " ") + _words(minutes)
    elif not half:
        words += " o'clock"
    # Capitals: the voice spells "AM" / "PM" out as letters ("a m" reads as the article).
    return f" {words} {half.upper()}M " if half else f" {words} "


def _decade(match: re.Match[str]) -> str:
    """'1990s' -> 'nineteen nineties', '80s' -> 'eighties', '2000s' -> 'two thousands'."""
    head, _, last = _year_words(match.group(1)).rpartition(" ")
    last = last[:-1] + "ies" if last.endswith("y") else last + "s"
    return f" {head} {last} "


def _money(match: re.Match[str]) -> str:
    symbol, digits, decimals, scale = match.groups()
    unit, units, cent, cents = _CURRENCIES[symbol]
    if scale:  # $1.5 million -> one point five million dollars
        return f" {_decimal_words(digits, decimals)} {_SCALES[scale.lower()]} {units} "
    value = int(digits.replace(",", ""))
    if decimals and len(decimals) != 2:  # $1.5 -> one point five dollars
        return f" {_decimal_words(digits, decimals)} {units} "
    parts = [f"{_words(value)} {unit if value == 1 else units}"] if value or not decimals else []
    if decimals and int(decimals):
        parts.append(f"{_words(decimals)} {cent if int(decimals) == 1 else cents}")
    return f" {' '.join(parts) or _words(0) + ' ' + units} "


def _number(match: re.Match[str]) -> str:
    minus, digits, decimals = match.groups()
    if not minus and not decimals and _is_year(digits):
        words = _year_words(digits)
    else:
        words = ("minus " if minus else "") + _decimal_words(digits, decimals)
    return f" {words} "


def _sentence_start(before: str) -> bool:
    before = before.rstrip()
    return not before or before[-1] in ".!?"


def _abbreviation(match: re.Match[str]) -> str:
    """Expand one abbreviation by its neighbours: a title before a name, a place after one; the full
    stop stays when it also ends a sentence (nothing, or a capital, follows)."""
    key = match.group(1).lower()
    text = match.string
    before, after = text[: match.start()], text[match.end() :]
    prev_tokens, next_tokens = before.split(), after.split()
    prev = prev_tokens[-1] if prev_tokens else ""
    following = next_tokens[0] if next_tokens else ""
    prev_starts_sentence = _sentence_start(before[: before.rstrip().rfind(prev)])
    prev_is_name = prev[:1].isupper() and prev.isalpha() and not prev_starts_sentence
    next_is_name = following[:1].isupper()
    ends_sentence = not following or next_is_name
    if key in _TITLES and next_is_name and not prev_is_name:
        word, ends_sentence = _TITLES[key], False
    elif key in _PLACES and (prev_is_name or key not in _TITLES):
        word = _PLACES[key]
    else:
        word = _TITLES.get(key) or _OTHERS.get(key)
        if word is None:
            return match.group(0)
    if match.group(1)[0].isupper():
        word = word[0].upper() + word[1:]
    return word + ("." if ends_sentence else "")


_MARKUP_BREAK = re.compile(r"<\s*break\b[^<>]*>", re.IGNORECASE)
_MARKUP = re.compile(r"<\?[^<>]*\?>|<!--.*?-->|</?[A-Za-z][\w:.-]*(?:\s[^<>]*)?/?>", re.DOTALL)
_QUOTES = str.maketrans({"\u2018": "'", "\u2019": "'", "\u201c": '"', "\u201d": '"', "\u2013": "-"})
_INTEGER = r"(\d{1,3}(?:,\d{3})+|\d+)"
_SLASH_DATE = re.compile(r"\b(\d{1,2})/(\d{1,2})/(\d{4}|\d{2})\b")
_ISO_DATE = re.compile(r"\b(\d{4})-(\d{2})-(\d{2})\b")
_TIME = re.compile(r"\b(\d{1,2}):([0-5]\d)\b(?:\s*([AaPp])\.?\s?[Mm]\b\.?)?")
_SCALE_WORD = r"(thousand|million|billion|trillion|bn|mn|k|m|b)"
_MONEY = re.compile(r"([$£€])\s?" + _INTEGER + r"(?:\.(\d+))?(?:\s?" + _SCALE_WORD + r"\b)?", re.IGNORECASE)
_PERCENT = re.compile(_INTEGER + r"(?:\.(\d+))?\s?%")
_DECADE = re.compile(r"(?<![\w$£€])'?(\d{2}|\d{3}0)'?s\b")
_ORDINAL = re.compile(r"\b(\d+)(st|nd|rd|th)\b", re.IGNORECASE)
_MONTH_DAY = re.compile(r"\b(" + "|".join(calendar.month_name[1:]) + r")\s+(\d{1,2})\b(?![\d:])")
_NUMBER_SIGN = re.compile(r"\b(?:No|no|NO)\.\s?(?=\d)|#\s?(?=\d)")
_RANGE = re.compile(r"(?<=\d)\s?-\s?(?=\d)")
_NUMBER = re.compile(r"(?<![\w.])(-)?" + _INTEGER + r"(?:\.(\d+))?")
_DIGITS = re.compile(r"\d+")
_ABBREVIATION = re.compile(r"\b(e\.g|i\.e|[A-Za-z]+)\.(?=\s|$)")
# An interjection opening a sentence is its own breath group ("Ah, ready"); a transcript often drops its comma,
# and read in one run "Ah ready" is "already".
_OPENING_INTERJECTION = re.compile(r"(?:^|(?<=[.!?]\s))(ah|oh|uh|eh|hey|wow|oops|ouch|aha|huh)(?=\s[^\W\d_])",
                                   re.IGNORECASE)


def _spoken_char(char: str) -> bool:
    return ord(char) not in _INVISIBLE and unicodedata.category(char) not in _UNSPOKEN_CATEGORIES


def _foreign_digit(digit: str, language: SpokenLanguage) -> str:
    return num2words(int(digit), lang=language.num2words)


def _foreign_number(match: re.Match[str], language: SpokenLanguage) -> str:
    """'2.000,5' -> 'dos mil coma cinco' (Spanish): the integer in the language's words, each decimal digit
    read on its own after the language's decimal word."""
    minus, digits, decimals = match.groups()
    digits = digits.replace(".", "")
    if len(digits) > MAX_CARDINAL_DIGITS:
        return " " + " ".join(_foreign_digit(d, language) for d in digits) + " "
    words = num2words(int(digits), lang=language.num2words)
    if decimals:
        words += f" {language.decimal_word} " + " ".join(_foreign_digit(d, language) for d in decimals)
    if minus:
        words = num2words(-1, lang=language.num2words).split()[0] + " " + words  # the language's "minus"
    return f" {words} "


# Numbers written the continental way: a dot groups thousands (2.000), a comma (or a dot before other
# than three digits) marks the decimals (3,5 / 3.14).
_FOREIGN_NUMBER = re.compile(r"(?<![\w.,])(-)?(\d{1,3}(?:\.\d{3})+(?![\d])|\d+)(?:[.,](\d+))?")
_FOREIGN_PERCENT = re.compile(r"(\d[\d.,]*)\s?%")


def _normalize_foreign(text: str, language: SpokenLanguage) -> str:
    """Numbers, percentages and "&" in the language's words (its abbreviations are left as written)."""
    text = _FOREIGN_PERCENT.sub(lambda m: f"{m.group(1)} {language.percent_word} ", text)
    text = _FOREIGN_NUMBER.sub(lambda m: _foreign_number(m, language), text)
    text = _DIGITS.sub(lambda m: _foreign_number(_FOREIGN_NUMBER.match(m.group(0)), language), text)
    return text.replace("&", f" {language.and_word} ")


def normalize_text(text: str, language: str = "en") -> str:
    """What a reader says for `text`: markup, emoji and symbols gone, numbers and abbreviations in words.

    Idempotent (normalising the result changes nothing), so every stage may call it on what it has.
    `language` (ISO 639-1, one of LANGUAGES) says whose words the numbers are read in.
    """
    text = _MARKUP.sub(" ", _MARKUP_BREAK.sub(", ", text))
    text = unicodedata.normalize("NFKC", html.unescape(text)).translate(_QUOTES)
    text = "".join(char for char in text if _spoken_char(char))
    if language != "en":
        text = _normalize_foreign(text, spoken_language(language))
        return _tidy(text)
    text = _NUMBER_SIGN.sub("number ", text)
    text = _SLASH_DATE.sub(_slash_date, text)
    text = _ISO_DATE.sub(_iso_date, text)
    text = _TIME.sub(_time, text)
    text = _MONEY.sub(_money, text)
    text = _PERCENT.sub(lambda m: f" {_decimal_words(m.group(1), m.group(2))} percent ", text)
    text = _DECADE.sub(_decade, text)
    text = _ORDINAL.sub(lambda m: f" {_words(m.group(1), to='ordinal')} ", text)
    text = _MONTH_DAY.sub(lambda m: f"{m.group(1)} {_words(m.group(2), to='ordinal')}", text)
    text = _RANGE.sub(" to ", text)
    text = _NUMBER.sub(_number, text)
    text = _DIGITS.sub(lambda m: f" {_words(m.group(0))} ", text)  # digits glued to letters (A4, 3D)
    text = _ABBREVIATION.sub(_abbreviation, text)
    for symbol, words in _SYMBOLS.items():
        text = text.replace(symbol, words)
    return _OPENING_INTERJECTION.sub(r"\1,", _tidy(text))  # on tidy text: one space after a sentence's end


def _tidy(text: str) -> str:
    """Unreadable characters out, one pause mark where several stood, single spaces."""
    text = _LEFTOVER.sub(" ", text)
    text = re.sub(r"\s+([,.;:!?])", r"\1", text)
    text = re.sub(r"([,;:])(?:\s*[,;:])+", r"\1", text)  # one pause, not several
    text = re.sub(r"[,;:]+(\s*[.!?])", r"\1", text)
    text = re.sub(r"^[\s,;:.!?]+", "", text)
    return " ".join(text.split())


def _script(char: str) -> str:
    return unicodedata.name(char, "UNKNOWN").split(" ")[0].split("-")[0]


def _quoted(text: str, limit: int = 40) -> str:
    text = " ".join(text.split())
    return repr(text if len(text) <= limit else text[: limit - 1] + "\u2026")


def check_speakable(text: str, language: str = "en") -> str:
    """The normalised text of a line the voice for `language` can say, or a one-line CinedubError: a line
    written in another script than Latin letters, or one with no words at all (emoji, symbols,
    punctuation), or a language the front end doesn't read."""
    name = spoken_language(language).name
    spoken = normalize_text(text, language)
    foreign = [_script(char) for char in spoken if char.isalpha() and _script(char) != "LATIN"]
    if foreign:
        languages = [_SCRIPT_LANGUAGES.get(script, f"{script.title()} script") for script in foreign]
        written_in = "Japanese" if "Japanese" in languages else Counter(languages).most_common(1)[0][0]
        raise CinedubError(f"this voice speaks {name}; the line {_quoted(text)} is in {written_in}")
    if not re.search(r"[A-Za-z]" if language == "en" else r"[^\W\d_]", spoken):
        raise CinedubError(f"the line {_quoted(text)} has no words to speak "
                           "(only emoji, symbols or punctuation)")  # fmt: skip
    return spoken


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


def _splits(prev: str, cur: str, before: str, language: SpokenLanguage) -> bool:
    """Whether two adjacent vowel letters belong to two syllables (a hiatus) in `language`."""
    if prev in language.hiatus or cur in language.hiatus:
        return True  # Spanish "pa-ís", "dí-a"; French "na-ïf", "a-é-ro-port"
    if prev in language.strong and cur in language.strong:
        return language.split_strong and prev not in language.glide_after  # "po-e-ta"; Portuguese "não"
    if language.rising_hiatus and cur in language.strong:
        return not (prev in "uü" and before in "qg")  # Catalan "grà-ci-a", but "qua", "ai-gua"
    return False  # a diphthong: Spanish "cie-lo", "bai-le", "ciu-dad"


def _nuclei(word: str, language: SpokenLanguage) -> list[str]:
    """The vowel nuclei of a lower-case word, one per syllable."""
    vowels = language.vowels
    word = re.sub(f"y(?=[{vowels}])", "j", word)  # "y" before a vowel is a consonant ("yo", "ayer")
    nuclei: list[str] = []
    for match in re.finditer(f"[{vowels}]+", word):
        group, start = match.group(0), match.start()
        nuclei.append(group[0])
        for i in range(1, len(group)):
            before = word[start + i - 2] if start + i >= 2 else ""
            if _splits(group[i - 1], group[i], before, language):
                nuclei.append(group[i])
            else:
                nuclei[-1] += group[i]
    silent_e = nuclei[-1:] == ["e"] and re.search(r"[^aeiouy]es?$", word)
    if language.silent_final_e and len(nuclei) > 1 and silent_e:
        nuclei.pop()  # French "lu-ne" is one syllable, "an-né-e" two
    return nuclei


def count_syllables(text: str, language: str = "en") -> int:
    """Syllables in the normalised text (letters only; apostrophes kept inside words).

    Another language than English counts vowel nuclei with its own vowels and diphthongs (_nuclei); an
    elided word joins the next ("qu'il", "l'uomo"), as it is said.
    """
    if language == "en":
        words = re.findall(r"[a-z]+(?:'[a-z]+)?", normalize_text(text).lower())
        return sum(_word_syllables(w.replace("'", "")) for w in words)
    spoken = spoken_language(language)
    words = re.findall(r"[^\W\d_]+(?:'[^\W\d_]+)*", normalize_text(text, language).lower())
    return sum(len(_nuclei(w.replace("'", ""), spoken)) for w in words)


def count_pauses(text: str, language: str = "en") -> tuple[int, int]:
    """(comma-like pauses, sentence breaks) inside the line; a final full stop doesn't count."""
    body = normalize_text(text, language).rstrip(" .!?\"')")
    commas = len(re.findall(r"[,;:\u2014]|--| - ", body))
    sentences = len(re.findall(r"[.!?]+[\"')]*\s", body))
    return commas, sentences


def estimate_speech_seconds(text: str, pace: float = 1.0, language: str = "en") -> float:
    """How long the voice takes to say `text` naturally at `pace` (2.0 = twice as fast), in seconds.

    The director compares this with a speaking window: far outside the window means the line won't fit
    without sounding rushed or dragged. `language` (ISO 639-1) is the text's: its syllables and its
    speaking rate (syllables_per_second); the pauses last as long in every language.
    """
    commas, sentences = count_pauses(text, language)
    rate = syllables_per_second(language)
    seconds = count_syllables(text, language) / rate + commas * COMMA_PAUSE_S + sentences * SENTENCE_PAUSE_S
    return seconds / max(pace, 1e-3)
