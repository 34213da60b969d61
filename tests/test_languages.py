"""The parametric actor in other languages than English: espeak-ng's voice for the line's language,
reshaped toward a real speaker, heard by the multilingual Whisper; and the front end's syllables and
estimates for Spanish and Portuguese."""

from __future__ import annotations

import json

import numpy as np
import pytest

from cinedub.errors import CinedubError
from cinedub.speech import ParametricActor, estimate_speech_seconds, load_voice
from cinedub.speech import espeak_voice
from cinedub.speech.audio import SAMPLE_RATE
from cinedub.speech.frontend import (
    COMMA_PAUSE_S,
    SYLLABLES_PER_SECOND,
    check_speakable,
    count_syllables,
    normalize_text,
    syllables_per_second,
)
from cinedub.types import Direction, Line, Window

from .conftest import SHARED_DATA

SPEAKER = SHARED_DATA / "latentsync_demo2_voice.wav"  # a real man's voice (the LatentSync demo clip)
SPANISH = "No sé qué hacer con mi vida, pero mañana lo sabré."
PORTUGUESE = "Não sei o que fazer com a minha vida, mas amanhã vou saber."
MAX_WER = 0.35  # the bound for the offline Spanish voice

needs_espeak = pytest.mark.skipif(espeak_voice.shutil.which(espeak_voice.ESPEAK) is None,
                                  reason="needs the espeak-ng command (apt-get install espeak-ng)")  # fmt: skip
needs_speaker = pytest.mark.skipif(not SPEAKER.exists(), reason=f"needs the shared test media ({SPEAKER})")


@pytest.fixture(scope="module")
def actor() -> ParametricActor:
    return ParametricActor()


@pytest.fixture(scope="module")
def speaker():
    return load_voice(SPEAKER)


def direction(seconds: float) -> Direction:
    return Direction(window=Window(start=1.0, end=1.0 + seconds), voice=str(SPEAKER))


# --- the front end ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("language", "text", "syllables"), [
    ("es", SPANISH, 17),  # no sé qué ha-cer con mi vi-da, pe-ro ma-ña-na lo sa-bré
    ("es", "Buenos días, país, hoy, poeta, ciudad, ayer yo fui.", 16),  # diphthongs, hiatus, "y"
    ("pt", PORTUGUESE, 19),  # não sei o que fa-zer com a mi-nha vi-da, mas a-ma-nhã vou sa-ber
    ("pt", "coração, saúde, mãe, põe, leão", 10),  # nasal diphthongs glide, "ú" is its own syllable
])  # fmt: skip
def test_syllables_are_vowel_nuclei(language, text, syllables):
    assert count_syllables(text, language) == syllables


@pytest.mark.parametrize(("language", "written", "spoken"), [
    ("es", "Pagó 2.000 pesos, el 45% y 3,5 más.",
     "Pagó dos mil pesos, el cuarenta y cinco por ciento y tres coma cinco más."),
    ("pt", "São 21 dias e 1.500 reais 😀", "São vinte e um dias e mil e quinhentos reais"),
])  # fmt: skip
def test_numbers_in_the_languages_words(language, written, spoken):
    assert normalize_text(written, language) == spoken
    assert normalize_text(spoken, language) == spoken


def test_estimates_use_the_languages_rate():
    # Pellegrino et al. 2011 (Spanish 7.82, English 6.19 syllables/s), scaled as the English voice's 5.66 is.
    assert syllables_per_second("es") == pytest.approx(7.82 * SYLLABLES_PER_SECOND / 6.19)
    assert syllables_per_second("pt") == syllables_per_second("es")  # Voigt & Schüppert 2013
    assert syllables_per_second("en") == SYLLABLES_PER_SECOND
    assert estimate_speech_seconds(SPANISH, language="es") == pytest.approx(17 / syllables_per_second("es") + COMMA_PAUSE_S)
    assert estimate_speech_seconds(SPANISH, pace=2.0, language="es") == pytest.approx(
        estimate_speech_seconds(SPANISH, language="es") / 2)
    # the same words said in English take about as long (translations are compared with English windows)
    english = estimate_speech_seconds("I don't know what to do with my life, but tomorrow I will know.")
    assert estimate_speech_seconds(SPANISH, language="es") == pytest.approx(english, rel=0.25)


def test_other_scripts_and_unknown_languages_are_refused():
    with pytest.raises(CinedubError, match="^this voice speaks Spanish; the line .* is in Cyrillic script$"):
        check_speakable("Привет, как дела?", "es")
    assert check_speakable("¿Qué tal, señora? Ça va, Ñandú.", "es") == "Qué tal, señora? Ça va, Ñandú."
    with pytest.raises(CinedubError, match="^no text front end for language 'xx'") as err:
        estimate_speech_seconds("hola", language="xx")
    assert "\n" not in str(err.value)


# --- espeak-ng -------------------------------------------------------------------------------------


@needs_espeak
def test_espeak_voice_is_deterministic():
    first = espeak_voice.speak(SPANISH, "es")
    assert first.dtype == np.float32 and first.ndim == 1
    assert first.tobytes() == espeak_voice.speak(SPANISH, "es").tobytes()
    slower = espeak_voice.speak(SPANISH, "es", length_scale=1.5)
    assert len(slower) > 1.3 * len(first)  # 175 / 1.5 words per minute
    assert {"es", "pt", "fr", "it", "de", "ca"} <= espeak_voice.languages()


@needs_espeak
def test_a_language_espeak_lacks_is_one_line():
    lacking = next(code for code in ("gl", "yo", "zu", "xh") if code not in espeak_voice.languages())
    with pytest.raises(CinedubError, match=f"^espeak-ng has no voice for language '{lacking}'$"):
        espeak_voice.speak("ola", lacking)


def test_missing_espeak_is_one_line(monkeypatch):
    monkeypatch.setattr(espeak_voice.shutil, "which", lambda name: None)
    espeak_voice.languages.cache_clear()
    try:
        with pytest.raises(CinedubError, match=r"install espeak-ng") as err:
            espeak_voice.speak(SPANISH, "es")
        assert "\n" not in str(err.value)
    finally:
        espeak_voice.languages.cache_clear()


# --- the actor -------------------------------------------------------------------------------------


@needs_espeak
@needs_speaker
def test_bad_lines_fail_before_work(actor, speaker):
    with pytest.raises(CinedubError, match="^this voice speaks Spanish; the line .* is in Cyrillic script$"):
        actor.perform(Line(text="Привет, как дела?", language="es"), direction(2.0), speaker)
    if "gl" in espeak_voice.languages():
        pytest.skip("this espeak-ng has a Galician voice: no language of the front end lacks one")
    with pytest.raises(CinedubError, match="^espeak-ng has no voice for language 'gl'$"):
        actor.perform(Line(text="Non sei que facer.", language="gl"), direction(2.0), speaker)


def _heard(take, language: str) -> str:
    asr = pytest.importorskip("cinedub.asr")
    pytest.importorskip("faster_whisper")
    return asr.transcribe(take.audio, take.sample_rate, language=language)


@needs_espeak
@needs_speaker
@pytest.mark.slow
@pytest.mark.parametrize(("language", "text"), [
    ("es", SPANISH),  # measured: WER 2/11 ("mañana lo sabré" heard as "maya lo sabes")
    # espeak-ng's Portuguese is hard for Whisper base even unprocessed (raw reading: 0.38; mean 0.73 over
    # five sentences); through the actor this line measures WER 6/13.
    pytest.param("pt", PORTUGUESE, marks=pytest.mark.xfail(
        strict=True, reason="measured WER 6/13: espeak-ng's Portuguese voice is not intelligible enough")),
])  # fmt: skip
def test_a_line_in_another_language_is_heard(actor, speaker, language, text):
    """The line, spoken in the speaker's voice within the window its estimate gives, is what the
    multilingual Whisper hears; the take says which reader spoke and that it is the offline fallback."""
    from cinedub.asr import wer

    window = estimate_speech_seconds(text, language=language)
    take = actor.perform(Line(text=text, language=language), direction(window), speaker)
    assert take.sample_rate == SAMPLE_RATE and len(take.audio) == round(window * SAMPLE_RATE)
    applied = json.loads(json.dumps(take.applied))
    assert applied["reader"] == f"espeak-ng {language}" and applied["language"] == language
    assert applied["reader_note"].startswith(f"offline fallback: espeak-ng's {language} voice")
    assert applied["espeak"]["words_per_minute"] > 0 and "piper" not in applied
    assert applied["timbre"]["f0_ratio"] > 0
    heard = _heard(take, language)
    assert wer(text, heard, language=language) <= MAX_WER, heard


@needs_speaker
def test_english_still_reads_with_piper(actor, speaker):
    take = actor.perform(Line(text="I will not say it again."), direction(1.6), speaker)
    assert take.applied["reader"] == "piper joe" and "reader_note" not in take.applied
    assert take.applied["piper"]["noise_scale"] == 0.0
