"""Translation that fits the lips: Apertium's installed pairs and pivots, the length check against each line's
window, the language-model translator's request, its unusable answers and the fallback, one-line errors."""

from __future__ import annotations

import pytest

from cinedub import translate
from cinedub.agents.vlm import ModelUnavailable
from cinedub.errors import CinedubError
from cinedub.speech.frontend import estimate_speech_seconds
from tests.test_vlm import ScriptedModel

# What the multilingual Whisper hears at the start of latentsync_demo2.mp4 (tests/test_asr_multilingual.py).
PORTUGUESE = "Cheguei e faz um mês, um mês que eu cheguei."
PORTUGUESE_WINDOW_S = 3.42  # where Whisper put that sentence in the clip


@pytest.fixture
def no_apertium(monkeypatch):
    translate.apertium_modes.cache_clear()
    monkeypatch.setattr(translate.shutil, "which", lambda name: None)
    yield
    translate.apertium_modes.cache_clear()


def test_routes_come_from_the_installed_modes():
    modes = {mode.name: (mode.source, mode.target) for mode in translate.apertium_modes()}
    # Debian's apertium-eng-spa and apertium-es-pt; one mode per pair (es-pt_BR, spa-eng_US are variants).
    assert modes == {"eng-spa": ("en", "es"), "spa-eng": ("es", "en"), "pt-es": ("pt", "es"),
                     "es-pt": ("es", "pt")}  # fmt: skip
    assert translate.route_name(translate.apertium_route("en", "es")) == "apertium eng-spa"
    assert translate.route_name(translate.apertium_route("pt", "en")) == "apertium pt-es | spa-eng"  # pivot
    assert translate.route_name(translate.apertium_route("en", "pt")) == "apertium eng-spa | es-pt"
    assert translate.apertium_route("ru", "en") is None
    assert translate.available_pairs() == "Apertium here: en→es, es→en, es→pt, pt→es; pivots: en→pt, pt→en"


def test_a_real_portuguese_sentence_goes_to_english_through_spanish():
    [line] = translate.translate_lines([(PORTUGUESE, PORTUGUESE_WINDOW_S)], "pt", "en")
    assert line.route == "apertium pt-es | spa-eng"
    assert (line.source, line.source_language, line.language) == (PORTUGUESE, "pt", "en")
    words = line.text.lower().replace(",", "").rstrip(".").split()
    assert {"i", "arrived", "month"} <= set(words), line.text
    assert line.natural_s == pytest.approx(estimate_speech_seconds(line.text, language="en"), abs=1e-3)
    assert line.fit == pytest.approx(line.natural_s / PORTUGUESE_WINDOW_S, abs=1e-3)
    assert line.fits == (abs(line.fit - 1) <= translate.FIT_TOLERANCE) and (line.flag is None) == line.fits


def test_a_rendering_outside_its_window_is_flagged():
    short, fitting, long = translate.translate_lines(
        [("I will never forget what you did for me tonight.", 0.8), ("Hello, my friend.", 1.0),
         ("Yes.", 2.0)], "en", "es")  # fmt: skip
    assert short.text.startswith("Nunca olvidaré") and not short.fits
    assert short.fit > 1 + translate.FIT_TOLERANCE
    assert short.flag == f"too long for its window ({short.fit:.2f}x)"
    assert fitting.text == "Hola, mi amigo." and fitting.fits and fitting.flag is None, fitting
    assert long.flag == f"too short for its window ({long.fit:.2f}x)" and not long.fits


def test_many_lines_keep_their_order_in_one_call_per_mode(monkeypatch):
    calls = []
    run_mode = translate._run_mode
    monkeypatch.setattr(translate, "_run_mode",
                        lambda mode, lines: calls.append(mode.name) or run_mode(mode, lines))  # fmt: skip
    # Apertium's transfer moves words across a plain line break ("I saw the red / car" -> "Vi el coche /
    # rojo"), not across a blank line.
    texts = ["I saw the red", "", "car yesterday.", "The big\nhouse.", "Hello, my friend!"]
    out = translate.apertium_translate(texts, translate.apertium_route("en", "pt"))
    assert calls == ["eng-spa", "es-pt"]
    assert len(out) == 5 and out[1] == ""
    assert "vermelho" in out[0].lower() and "ontem" not in out[0] and out[2].endswith("ontem."), out
    assert out[3].lower().startswith("a casa") and out[4].lower().startswith("olá"), out


def test_pairs_without_a_route_and_bad_specs_are_one_line_errors():
    with pytest.raises(CinedubError) as err:
        translate.translate_lines([("Всем привет!", 2.0)], "ru", "en")
    assert str(err.value) == ("no offline translation from Russian to English (Apertium here: en→es, "
                              "es→en, es→pt, pt→es; pivots: en→pt, pt→en); give --translator openai:URL "
                              "or local:PATH")  # fmt: skip
    for spec, source, target, message in [("deepl:x", "pt", "en", "unknown translator 'deepl:x'"),
                                          (None, "pt", "pt", "already speaks Portuguese"),
                                          (None, "pt", "zz", "unknown language 'zz'"),
                                          (None, "en", "ja", "no text front end for language 'ja'")]:
        with pytest.raises(CinedubError, match=message):
            translate.make_translator(spec, source, target)
    with pytest.raises(CinedubError, match="line 2: its window must be longer than 0 s"):
        translate.translate_lines([("Hello.", 1.0), ("Bye.", 0.0)], "en", "es")
    assert translate.language_code("por") == "pt" and translate.language_code("eng") == "en"


def test_no_apertium_says_install_it(no_apertium):
    with pytest.raises(CinedubError, match="offline translation needs Apertium: install apertium"):
        translate.make_translator(None, "pt", "en")


@pytest.mark.parametrize("answer, why", [
    ("Claro que sim", "no {\"translation\": ...}"),
    ('{"translation": "   "}', "an empty translation"),
    ('{"translation": "Cheguei e faz um mês, um  mês que eu cheguei."}', "the source line itself"),
    ('{"translation": "Я приехал месяц назад."}', "not in English's script"),
    ('{"translation": "' + "I arrived a month ago " * 15 + '"}', "s to say for a 3.42 s window"),
])  # fmt: skip
def test_unusable_answers_are_told_apart(answer, why):
    text, reason = translate.read_translation(answer, PORTUGUESE, "en", PORTUGUESE_WINDOW_S)
    assert text is None and why in reason


def test_a_usable_answer_is_read():
    answer = 'Sure: {"translation": "I got here a month ago, a month since I came."}'
    expected = ("I got here a month ago, a month since I came.", None)
    assert translate.read_translation(answer, PORTUGUESE, "en", PORTUGUESE_WINDOW_S) == expected
    assert translate.read_translation('{"translation": "Llegué hace un mes."}', "I arrived.", "es", 1.0)[0]


def test_the_request_carries_the_window_and_the_length_rule_and_a_misfit_is_asked_again():
    too_long = ("I arrived here exactly one whole month ago, yes, one month ago now, that is when I came to "
                "this place.")
    fitting = "I got here a month ago, it has been a whole month since I arrived."
    model = ScriptedModel(f'{{"translation": "{too_long}"}}', f'{{"translation": "{fitting}"}}')
    translator = translate.ModelTranslator(model, "pt", "en", fallback=translate.apertium_route("pt", "en"))
    [line] = translator.translate([(PORTUGUESE, PORTUGUESE_WINDOW_S)])
    first, second = model.prompts
    assert first.json_schema == translate.ANSWER_SCHEMA and "Portuguese to English" in first.question
    assert f"Line: {PORTUGUESE}" in first.question and "spoken in 3.42 s" in first.question
    assert "syllables per second" in first.question and "within ±15% (2.91 to 3.93 s)" in first.question
    assert second.history[0] == {"role": "assistant", "content": f'{{"translation": "{too_long}"}}'}
    assert "Give a shorter rendering" in second.history[1]["content"]
    assert line.text == fitting and line.route == "scripted" and line.fits and line.flag is None, line


def test_unusable_answers_fall_back_to_apertium_flagged_or_fail_in_one_line():
    model = ScriptedModel("no json at all", ModelUnavailable("openai:http://x/v1: server not reachable"))
    translator = translate.ModelTranslator(model, "pt", "en", fallback=translate.apertium_route("pt", "en"))
    bad, down = translator.translate([(PORTUGUESE, PORTUGUESE_WINDOW_S), ("Olá.", 0.5)])
    assert bad.route == down.route == "apertium pt-es | spa-eng"
    assert "arrived" in bad.text and down.text == "Hello."
    assert bad.flag.startswith("the model's answer was unusable (no {\"translation\": ...} in "
                               "'no json at all'); Apertium's rendering used")
    assert "server not reachable" in down.flag
    stuck = translate.ModelTranslator(ScriptedModel("???", name="local:/m"), "ru", "en", fallback=None)
    with pytest.raises(CinedubError) as err:
        stuck.translate([("Всем привет!", 1.5)])
    assert str(err.value).startswith("local:/m gave no usable translation of line 1 (no {\"translation\": "
                                     "...} in '???') and there is no offline translation from Russian to "
                                     "English")
    assert "\n" not in str(err.value)


@pytest.fixture(scope="module")
def tiny_vlm(tmp_path_factory):
    from cinedub.training.models import save_tiny_vlm

    return save_tiny_vlm(tmp_path_factory.mktemp("tiny-qwen2.5-vl"))


@pytest.mark.slow
def test_a_real_random_model_is_unusable_and_apertium_renders_the_line(tiny_vlm, monkeypatch):
    """`local:` end to end with the tiny Qwen2.5-VL (random weights, real tokenizer): its gibberish is no
    translation, so the line goes through Apertium, flagged; with no route, one line."""
    monkeypatch.setenv("CINEDUB_VLM_MAX_NEW_TOKENS", "24")
    [line] = translate.translate_lines([(PORTUGUESE, PORTUGUESE_WINDOW_S)], "pt", "en",
                                       translator=f"local:{tiny_vlm}")
    print("flag", line.flag)
    assert line.route == "apertium pt-es | spa-eng" and "arrived" in line.text
    assert line.flag.startswith("the model's answer was unusable ("), line.flag
    with pytest.raises(CinedubError, match=f"^local:{tiny_vlm} gave no usable translation of line 1"):
        translate.translate_lines([("Всем привет!", 1.5)], "ru", "en", translator=f"local:{tiny_vlm}")


def test_words_apertium_cannot_translate_are_left_out_and_named():
    assert translate.untranslated("First week **tava only hunting you, only hear of the **mança.") == (
        "First week only hunting you, only hear of the.", ["tava", "mança"])
    assert translate.untranslated("I #saw @it, *ontem.") == ("I saw it.", ["ontem"])
    (line,) = translate.translate_lines([("Só ouvir da mança.", 1.8)], "pt", "en")
    assert "mança" not in line.text and line.flag.startswith("not translated, left out: mança"), line


def test_words_of_speech_are_translated_in_their_written_form():
    """A transcript's spoken forms ('tava' for 'estava', diminutives) are unknown to Apertium's dictionaries:
    the line goes through again with the written words instead of losing them."""
    assert translate.written_form("Tava", "pt") == "Estava" and translate.written_form("pra", "pt") == "para"
    assert translate.written_form("tempinho", "pt") == "tempo" and translate.written_form("casinhas", "pt") == "casas"
    assert translate.written_form("cafecito", "es") == "cafe" and translate.written_form("vinho", "pt") is None
    assert translate.written_form("tava", "en") is None  # only the source language's own forms
    lines = [("Primeira semana tava só te caçando.", 1.6), ("Eu passei mais do tempinho de relaxar.", 2.5)]
    first, second = translate.translate_lines(lines, "pt", "en")
    assert first.text == "First week was only hunting you." and first.flag is None, first
    assert "time to relax" in second.text and not (second.flag or "").startswith("not translated"), second
    assert first.source == lines[0][0]  # the review table keeps what was said
