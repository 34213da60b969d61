"""Translating a clip's lines so that each fits its speaking window (isochrony): `cinedub localize`'s step 3.

Two translators. Offline, Apertium (Debian's rule-based pairs): the route is the shortest chain of the
installed modes, direct or through a pivot language where two pairs meet (pt -> es -> en). On the
director's language model (`openai:URL[#model]`, `local:PATH`): each request carries the line, its window,
the natural reading rate and the length rule, and a rendering that does not fit is asked for once more,
shorter or longer; an unusable answer falls back to Apertium where a route exists, flagged. Every
rendering's natural reading time is compared with its window; one outside +-FIT_TOLERANCE is flagged for
the director's review table.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import unicodedata
from collections import deque
from dataclasses import dataclass, field
from functools import cache

from cinedub.agents.vlm import ChatModel, ModelUnavailable, VisionPrompt
from cinedub.errors import CinedubError
from cinedub.speech.frontend import estimate_speech_seconds, syllables_per_second

FIT_TOLERANCE = 0.15  # a rendering's natural reading time within +-15% of its window fits it
APERTIUM_TIMEOUT_S = 300.0  # one mode over every line of a clip takes well under a second
# A rendering that takes this many times its window to say is rambling, not a line of dialogue.
MAX_FIT = 3.0
# A rendering whose letters are mostly of another script than the target language's is not a translation.
MIN_SCRIPT_SHARE = 0.8
TRANSLATION_MAX_NEW_TOKENS = 256  # a line of dialogue and its JSON wrapper
TRANSLATOR_KINDS = ("apertium", "openai", "local")
QUOTE_CHARS = 60
# The scripts (first word of a letter's Unicode name) of the languages Whisper knows that are not written
# in Latin letters; every other language is. Serbian is written in both.
_SCRIPTS: dict[str, tuple[str, ...]] = {
    **dict.fromkeys(("ru", "uk", "be", "bg", "mk", "kk", "ky", "tg", "mn", "tt", "ba"), ("CYRILLIC",)),
    "sr": ("CYRILLIC", "LATIN"), "el": ("GREEK",), "he": ("HEBREW",), "yi": ("HEBREW",),
    **dict.fromkeys(("ar", "fa", "ur", "ps", "sd", "ug"), ("ARABIC",)),
    **dict.fromkeys(("hi", "mr", "ne", "sa"), ("DEVANAGARI",)),
    "bn": ("BENGALI",), "as": ("BENGALI",), "pa": ("GURMUKHI",), "gu": ("GUJARATI",), "ta": ("TAMIL",),
    "te": ("TELUGU",), "kn": ("KANNADA",), "ml": ("MALAYALAM",), "si": ("SINHALA",), "th": ("THAI",),
    "lo": ("LAO",), "my": ("MYANMAR",), "km": ("KHMER",), "bo": ("TIBETAN",), "ka": ("GEORGIAN",),
    "hy": ("ARMENIAN",), "am": ("ETHIOPIC",), "zh": ("CJK",), "yue": ("CJK",),
    "ja": ("CJK", "HIRAGANA", "KATAKANA"), "ko": ("HANGUL",),
}  # fmt: skip

TRANSLATOR_SYSTEM = (
    "You translate film dialogue for dubbing. The translation is spoken over the original actor's lips, so "
    "it must take as long to say as the original line's speaking window: keep the meaning and the tone, "
    "shorten or lengthen the wording as needed. Answer with one JSON object and nothing else: "
    '{"translation": "..."}.'
)
ANSWER_SCHEMA = {"type": "object", "properties": {"translation": {"type": "string"}},
                 "required": ["translation"], "additionalProperties": False}  # fmt: skip


# -- languages -------------------------------------------------------------------------------------------


def language_code(code: str) -> str:
    """ISO 639-1 for any ISO 639 code ('eng', 'por', 'pt' -> 'en', 'pt', 'pt'), or a one-line error."""
    from iso639 import Lang
    from iso639.exceptions import InvalidLanguageValue

    try:
        lang = Lang(code.strip().lower())
    except InvalidLanguageValue:
        raise CinedubError(f"unknown language {code!r}: give an ISO 639-1 code, e.g. en, es or pt") from None
    return lang.pt1 or lang.pt3


def language_name(code: str) -> str:
    from iso639 import Lang

    return Lang(language_code(code)).name


def natural_seconds(text: str, language: str) -> float:
    """How long `text` takes to say at a natural pace in `language` (the actor's front end estimates it)."""
    return estimate_speech_seconds(text, language=language)


@dataclass(frozen=True)
class Translation:
    """One line rendered in the target language and how well it fits its speaking window."""

    source: str
    text: str
    source_language: str  # ISO 639-1
    language: str  # ISO 639-1
    window_s: float
    natural_s: float  # the rendering's natural reading time
    route: str  # "apertium pt-es | spa-eng", or the model's name ("openai:http://.../v1")
    # A short reason the director should read this line again (fit, fallback); None when it is fine.
    flag: str | None = None
    fit: float = field(init=False)  # fit_ratio(natural_s, window_s)
    fits: bool = field(init=False)  # fit within 1 +- FIT_TOLERANCE

    def __post_init__(self) -> None:
        fit = fit_ratio(self.natural_s, self.window_s)
        object.__setattr__(self, "fit", fit)
        object.__setattr__(self, "fits", abs(fit - 1.0) <= FIT_TOLERANCE)


def fit_ratio(natural_s: float, window_s: float) -> float:
    """A rendering's fit (Translation.fit, the review table's in cinedub.localize): its natural reading time
    over its window, to 3 decimals. 1.0 fits exactly, above 1 is too long; a window of no length fits none."""
    return round(natural_s / window_s, 3) if window_s > 0 else float("inf")


def fit_problem(natural_s: float, window_s: float) -> str | None:
    """'too long for its window (1.32x)' / 'too short ...', or None when the rendering fits."""
    fit = fit_ratio(natural_s, window_s)
    if abs(fit - 1.0) <= FIT_TOLERANCE:
        return None
    return f"too {'long' if fit > 1 else 'short'} for its window ({fit:.2f}x)"


def rendering(source: str, text: str, source_language: str, language: str, window_s: float, route: str,
              reason: str | None = None) -> Translation:  # fmt: skip
    """`text` as the translation of `source`, measured against its window and flagged (with `reason` first)
    when it needs the director's eye; also for a line the director edited in the review table."""
    natural_s = round(natural_seconds(text, language), 3)
    flag = "; ".join(r for r in (reason, fit_problem(natural_s, window_s)) if r) or None
    return Translation(source=source, text=text, source_language=source_language, language=language,
                       window_s=window_s, natural_s=natural_s, route=route, flag=flag)  # fmt: skip


# -- Apertium --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Mode:
    """One installed Apertium direction, e.g. `pt-es` (Portuguese -> Spanish)."""

    name: str
    source: str  # ISO 639-1
    target: str


def _apertium() -> str:
    binary = shutil.which("apertium")
    if binary is None:
        raise CinedubError("offline translation needs Apertium: install apertium and its pairs "
                           "(apt-get install apertium apertium-eng-spa apertium-es-pt)")  # fmt: skip
    return binary


@cache
def apertium_modes() -> tuple[Mode, ...]:
    """The installed directions (`apertium -l`), one per language pair: a regional variant (`es-pt_BR`,
    `spa-eng_US`) only where the plain mode is missing."""
    try:
        listed = subprocess.run([_apertium(), "-l"], capture_output=True, text=True,
                                timeout=APERTIUM_TIMEOUT_S)  # fmt: skip
    except (OSError, subprocess.TimeoutExpired) as err:
        raise CinedubError(f"apertium -l failed: {err}") from None
    modes: dict[tuple[str, str], Mode] = {}
    for name in sorted(listed.stdout.split(), key=lambda n: ("_" in n, n)):  # plain modes first
        codes = name.split("-")
        if len(codes) != 2:  # a debugging mode (eng-spa-tagger ...), not a translation
            continue
        try:
            source, target = language_code(codes[0]), language_code(codes[1].partition("_")[0])
        except CinedubError:
            continue
        modes.setdefault((source, target), Mode(name, source, target))
    return tuple(modes.values())


def _routes(modes: tuple[Mode, ...], source: str) -> dict[str, list[Mode]]:
    """The shortest chain of modes from `source` to every language reachable from it (breadth first)."""
    routes: dict[str, list[Mode]] = {source: []}
    queue = deque([source])
    while queue:
        language = queue.popleft()
        for mode in modes:
            if mode.source == language and mode.target not in routes:
                routes[mode.target] = [*routes[language], mode]
                queue.append(mode.target)
    return routes


def apertium_route(source_language: str, language: str) -> list[Mode] | None:
    """The shortest chain of installed modes from one language to the other (direct first, else through
    pivots), or None."""
    if source_language == language:
        return []
    return _routes(apertium_modes(), source_language).get(language)


def route_name(route: list[Mode]) -> str:
    return "apertium " + " | ".join(mode.name for mode in route)


def available_pairs() -> str:
    """'Apertium here: en→es, es→en; pivots: pt→en, en→pt' (what the no-route error names)."""
    modes = apertium_modes()
    direct = sorted(f"{m.source}→{m.target}" for m in modes)
    pivots = sorted(f"{source}→{target}" for source in {m.source for m in modes}
                    for target, route in _routes(modes, source).items() if len(route) > 1)  # fmt: skip
    here = f"Apertium here: {', '.join(direct) or 'no pairs'}"
    return here + (f"; pivots: {', '.join(pivots)}" if pivots else "")


def _run_mode(mode: Mode, lines: list[str]) -> list[str]:
    """`lines` through one mode in one call, each its own paragraph: Apertium's transfer reorders words
    across a plain line break (and `-f line` does too, dropping the final full stop) but never across a
    blank line. The unknown-word marks are kept (`*word`; a pivot's next mode passes them on) for
    `untranslated` to find."""
    try:
        done = subprocess.run([_apertium(), mode.name], input="\n\n".join(lines) + "\n",
                              capture_output=True, text=True, timeout=APERTIUM_TIMEOUT_S)  # fmt: skip
    except (OSError, subprocess.TimeoutExpired) as err:
        raise CinedubError(f"apertium {mode.name} failed: {err}") from None
    if done.returncode != 0:
        why = " ".join(done.stderr.split())[:200] or f"exit status {done.returncode}"
        raise CinedubError(f"apertium {mode.name} failed: {why}")
    return [" ".join(paragraph.split()) for paragraph in re.split(r"\n\s*\n", done.stdout.strip())]


# Words of speech that a transcript is full of and Apertium's dictionaries (of the written language) lack,
# with the written form to translate instead; looked up only for the words Apertium marks unknown.
SPOKEN_FORMS: dict[str, dict[str, str]] = {
    "pt": {"tava": "estava", "tavam": "estavam", "tavas": "estavas", "tô": "estou", "tá": "está",
           "tamo": "estamos", "tamos": "estamos", "pra": "para", "pras": "para as", "pro": "para o",
           "pros": "para os", "cê": "você", "cês": "vocês", "né": "não é", "vamo": "vamos", "peraí": "espera aí"},
    "es": {"pa": "para", "pal": "para el", "na": "nada", "to": "todo", "toa": "toda", "pos": "pues",
           "pue": "pues", "tons": "entonces", "porfa": "por favor", "vamo": "vamos"},
}  # fmt: skip
# Diminutive endings (productive in speech, rarely in the dictionaries) and what makes the base word of each.
DIMINUTIVES: dict[str, tuple[tuple[str, str], ...]] = {
    "pt": (("zinhos", "s"), ("zinhas", "s"), ("zinho", ""), ("zinha", ""), ("inhos", "os"), ("inhas", "as"),
           ("inho", "o"), ("inha", "a")),
    "es": (("citos", "s"), ("citas", "s"), ("cito", ""), ("cita", ""), ("itos", "os"), ("itas", "as"),
           ("ito", "o"), ("ita", "a")),
}  # fmt: skip


def written_form(word: str, language: str) -> str | None:
    """The written word Apertium may know for a spoken one (`tava` -> `estava`, `tempinho` -> `tempo`), in
    the word's case; None when there is none."""
    lower = word.lower()
    written = SPOKEN_FORMS.get(language, {}).get(lower)
    if written is None:
        for ending, base in DIMINUTIVES.get(language, ()):
            if lower.endswith(ending) and len(lower) - len(ending) >= 2:
                written = lower[: -len(ending)] + base
                break
    if written is None or written == lower:
        return None
    return written[0].upper() + written[1:] if word[0].isupper() else written


def _written(text: str, unknown: list[str], language: str) -> str:
    """`text` with each unknown word that has a written form replaced by it."""
    for word in dict.fromkeys(unknown):
        written = written_form(word, language)
        if written is not None:
            text = re.sub(rf"(?<![\w]){re.escape(word)}(?![\w])", written, text)
    return text


# Apertium's marks: `*` a word it does not know (passed through in the source language), `#` a word it could
# not generate and `@` one its transfer could not handle (both translated lemmas: the mark alone goes).
_UNKNOWN = re.compile(r"(?<![\w*])\*+([\w'-]+)")
_MARKS = re.compile(r"(?<!\w)[#@]+(?=\w)")


def untranslated(text: str) -> tuple[str, list[str]]:
    """Apertium's output without its marks and without the words it left in the source language (spoken in
    a dub they are noise: the director reads them in the flag and writes them), and those words."""
    words = _UNKNOWN.findall(text)
    kept = _MARKS.sub("", _UNKNOWN.sub("", text))
    kept = re.sub(r"\s+([.,;:!?])", r"\1", " ".join(kept.split()))  # no space left before punctuation
    kept = re.sub(r"[,;:]+(?=[.!?])", "", kept).strip(" ,;:")  # nor a comma before the full stop
    return kept, words


def offline_renderings(texts: list[str], route: list[Mode],
                       source_language: str) -> list[tuple[str, str | None]]:  # fmt: skip
    """Each text through the route, without the words Apertium could not translate, and the flag naming them
    (None when every word was translated). A line with unknown words of speech (`tava`, `tempinho`) is
    translated once more with their written forms (`estava`, `tempo`); the review table keeps the source."""
    translated = apertium_translate(texts, route)
    rewritten = {i: _written(text, untranslated(translated[i])[1], source_language) for i, text in enumerate(texts)}
    again = [i for i, text in rewritten.items() if text != texts[i]]
    for i, text in zip(again, apertium_translate([rewritten[i] for i in again], route) if again else []):
        translated[i] = text
    out = []
    for text in translated:
        kept, unknown = untranslated(text)
        out.append((kept, f"not translated, left out: {', '.join(unknown)}" if unknown else None))
    return out


def apertium_translate(texts: list[str], route: list[Mode]) -> list[str]:
    """Each text through every mode of the route, in order; all lines in one call per mode."""
    lines = [" ".join(text.split()) for text in texts]  # a line break inside a line would part it
    spoken = [i for i, line in enumerate(lines) if line]  # an empty line stays empty
    for mode in route:
        out = _run_mode(mode, [lines[i] for i in spoken]) if spoken else []
        if len(out) != len(spoken):  # should paragraphs ever split or join, one call per line keeps the order
            out = [" ".join(_run_mode(mode, [lines[i]])) for i in spoken]
        for i, text in zip(spoken, out):
            lines[i] = text
    return lines


# -- the language model ---------------------------------------------------------------------------------


def _quote(text: str) -> str:
    text = " ".join(text.split())
    return repr(text[:QUOTE_CHARS] + ("..." if len(text) > QUOTE_CHARS else ""))


def translation_question(text: str, window_s: float, source_language: str, language: str) -> str:
    """The request for one line: the line, its window, the natural reading rate and the length rule."""
    low, high = window_s * (1 - FIT_TOLERANCE), window_s * (1 + FIT_TOLERANCE)
    rate = syllables_per_second(language)
    return (f"Translate this line from {language_name(source_language)} to {language_name(language)}.\n"
            f"Line: {text}\n"
            f"Window: the original is spoken in {window_s:.2f} s.\n"
            f"Natural reading rate: about {rate:.1f} syllables per second, plus short pauses at commas and "
            f"full stops, so about {window_s * rate:.0f} syllables fill the window.\n"
            f"Length rule: said at that natural rate, the translation must take {window_s:.2f} s within "
            f"±{FIT_TOLERANCE:.0%} ({low:.2f} to {high:.2f} s).\n"
            'Answer with {"translation": "..."} only.')  # fmt: skip


def refit_request(natural_s: float, window_s: float, language: str) -> str:
    """The second turn, for a rendering that does not fit: shorter or longer, by how much."""
    longer = natural_s > window_s
    return (f"That translation takes {natural_s:.2f} s to say at the natural rate, "
            f"{'more' if longer else 'less'} than the {window_s:.2f} s window allows (±{FIT_TOLERANCE:.0%}). "
            f"Give a {'shorter' if longer else 'longer'} rendering with the same meaning, about "
            f"{window_s * syllables_per_second(language):.0f} syllables. "
            'Answer with {"translation": "..."} only.')  # fmt: skip


def _scripts_share(text: str, scripts: tuple[str, ...]) -> float:
    letters = [c for c in text if c.isalpha()]
    if not letters:
        return 0.0
    return sum(unicodedata.name(c, "").split(" ")[0] in scripts for c in letters) / len(letters)


def read_translation(answer: str, source: str, language: str,
                     window_s: float) -> tuple[str | None, str | None]:  # fmt: skip
    """(the rendering, None), or (None, why the answer is unusable)."""
    from cinedub.agents.cot import first_json_object

    if not answer.strip():
        return None, "an empty answer"
    obj = first_json_object(answer)
    text = obj.get("translation") if obj is not None else None
    if not isinstance(text, str):
        return None, f"no {{\"translation\": ...}} in {_quote(answer)}"
    text = " ".join(text.split())
    if not text:
        return None, "an empty translation"
    if text.casefold() == " ".join(source.split()).casefold():
        return None, "the source line itself"
    scripts = _SCRIPTS.get(language, ("LATIN",))
    if _scripts_share(text, scripts) < MIN_SCRIPT_SHARE:
        return None, f"not in {language_name(language)}'s script: {_quote(text)}"
    natural_s = natural_seconds(text, language)
    if natural_s > MAX_FIT * window_s:
        return None, f"{natural_s:.1f} s to say for a {window_s:.2f} s window"
    return text, None


class ModelTranslator:
    """Each line asked of a chat model (the director's), with its window and the length rule; a rendering
    that does not fit asked once more; the better fitting of the two kept. Lines the model cannot render
    go through Apertium's route when there is one (flagged), else the whole translation fails in one line."""

    def __init__(self, model: ChatModel, source_language: str, language: str, *,
                 fallback: list[Mode] | None = None, max_new_tokens: int | None = None) -> None:  # fmt: skip
        from cinedub.agents.vlm_reasoner import default_max_new_tokens

        self.model, self.source_language, self.language = model, source_language, language
        self.fallback = fallback
        self.max_new_tokens = max_new_tokens or min(TRANSLATION_MAX_NEW_TOKENS, default_max_new_tokens())
        self.name = model.name

    def prompt(self, text: str, window_s: float) -> VisionPrompt:
        question = translation_question(text, window_s, self.source_language, self.language)
        return VisionPrompt(system=TRANSLATOR_SYSTEM, question=question, json_schema=ANSWER_SCHEMA)

    def _ask(self, prompt: VisionPrompt, source: str, window_s: float) -> tuple[str | None, str | None, str]:
        """(rendering or None, why not, the raw answer)."""
        try:
            answer = self.model.generate(prompt, max_new_tokens=self.max_new_tokens)
        except ModelUnavailable as err:
            return None, f"no answer ({err})", ""
        text, why = read_translation(answer, source, self.language, window_s)
        return text, why, answer

    def render(self, text: str, window_s: float) -> tuple[str | None, str | None]:
        """(the model's best rendering, None) or (None, why the model's answer is unusable)."""
        prompt = self.prompt(text, window_s)
        first, why, answer = self._ask(prompt, text, window_s)
        if first is None:
            return None, why
        natural_s = natural_seconds(first, self.language)
        if fit_problem(natural_s, window_s) is None:
            return first, None
        history = [{"role": "assistant", "content": answer},
                   {"role": "user", "content": refit_request(natural_s, window_s, self.language)}]
        second, _, _ = self._ask(VisionPrompt(system=prompt.system, question=prompt.question, history=history,
                                              json_schema=prompt.json_schema), text, window_s)  # fmt: skip
        if second is None:
            return first, None
        misfit = [abs(natural_seconds(t, self.language) / window_s - 1.0) for t in (first, second)]
        return (second if misfit[1] < misfit[0] else first), None

    def translate(self, lines: list[tuple[str, float]]) -> list[Translation]:
        rendered = []
        for number, (source, window_s) in enumerate(lines, 1):
            rendered.append(self.render(source, window_s))
            if rendered[-1][0] is None and self.fallback is None:  # nothing to fall back on: stop here
                pair = f"{language_name(self.source_language)} to {language_name(self.language)}"
                raise CinedubError(f"{self.name} gave no usable translation of line {number} "
                                   f"({rendered[-1][1]}) and there is no offline translation from {pair} "
                                   f"to fall back on ({available_pairs()})")  # fmt: skip
        failed = [i for i, (text, _) in enumerate(rendered) if text is None]
        offline = dict(zip(failed, offline_renderings([lines[i][0] for i in failed], self.fallback or [],
                                                         self.source_language)))
        out = []
        for i, ((source, window_s), (text, why)) in enumerate(zip(lines, rendered)):
            if text is not None:
                out.append(rendering(source, text, self.source_language, self.language, window_s,
                                     self.name))  # fmt: skip
            else:
                text, left_out = offline[i]
                reason = "; ".join(filter(None, [f"the model's answer was unusable ({why}); Apertium's rendering "
                                                 "used", left_out]))  # fmt: skip
                out.append(rendering(source, text, self.source_language, self.language, window_s,
                                     route_name(self.fallback or []), reason))  # fmt: skip
        return out


class ApertiumTranslator:
    """Every line through one Apertium route; the length check flags the lines it cannot fit."""

    def __init__(self, route: list[Mode], source_language: str, language: str) -> None:
        self.route, self.source_language, self.language = route, source_language, language
        self.name = route_name(route)

    def translate(self, lines: list[tuple[str, float]]) -> list[Translation]:
        texts = offline_renderings([text for text, _ in lines], self.route, self.source_language)
        return [rendering(source, text, self.source_language, self.language, window_s, self.name, left_out)
                for (source, window_s), (text, left_out) in zip(lines, texts)]  # fmt: skip


def _fallback_route(source_language: str, language: str) -> list[Mode] | None:
    """Apertium's route for a model's unusable answers; None when there is none (or no Apertium)."""
    try:
        return apertium_route(source_language, language)
    except CinedubError:
        return None


def make_translator(spec: str | None, source_language: str,
                    language: str) -> ApertiumTranslator | ModelTranslator:  # fmt: skip
    """`None` / `apertium` (offline), `openai:URL[#model]` or `local:PATH` (a language model). Checked before
    any work: an unknown spec or a pair with no offline route and no model is a one-line error."""
    source_language, language = language_code(source_language), language_code(language)
    if source_language == language:
        raise CinedubError(f"the clip already speaks {language_name(language)}: nothing to translate")
    syllables_per_second(language)  # a language the front end cannot time: its one-line error, up front
    kind = (spec or "apertium").partition(":")[0]
    if kind not in TRANSLATOR_KINDS:
        raise CinedubError(f"unknown translator {spec!r}; choose apertium, openai:URL[#model] or local:PATH")
    if kind == "apertium":
        route = apertium_route(source_language, language)
        if route is None:
            raise CinedubError(f"no offline translation from {language_name(source_language)} to "
                               f"{language_name(language)} ({available_pairs()}); "
                               "give --translator openai:URL or local:PATH")  # fmt: skip
        return ApertiumTranslator(route, source_language, language)
    from cinedub.agents.models import load_model

    model = load_model(spec)
    fallback = _fallback_route(source_language, language)
    return ModelTranslator(model, source_language, language, fallback=fallback)


def translate_lines(lines: list[tuple[str, float]], source_language: str, language: str, *,
                    translator: str | None = None) -> list[Translation]:  # fmt: skip
    """Each (text, window in seconds) rendered in `language`, in order, with its fit and any flag."""
    for number, (_, window_s) in enumerate(lines, 1):
        if not window_s > 0:
            raise CinedubError(f"line {number}: its window must be longer than 0 s, got {window_s}")
    return make_translator(translator, source_language, language).translate(list(lines))
