"""Multilingual ASR: the packaged Whisper base assembled from its two wheels, the language of the real
LatentSync clips (Russian and Portuguese people talking), and Portuguese words with their times."""

from __future__ import annotations

import os

import pytest

from cinedub import asr, media
from cinedub.errors import CinedubError

from .conftest import SHARED_DATA

RUSSIAN_CLIP = SHARED_DATA / "latentsync_demo1.mp4"
PORTUGUESE_CLIP = SHARED_DATA / "latentsync_demo2.mp4"
ENGLISH_VOICE = SHARED_DATA / "latentsync_demo2_voice.wav"


@pytest.fixture(scope="module")
def portuguese():
    return media.load_audio(PORTUGUESE_CLIP)


def _parts_bytes() -> int:
    return sum((asr._package_data(package) / part).stat().st_size for package, part in asr.MULTILINGUAL_PARTS)


def test_the_model_is_assembled_once_atomically_and_repaired_when_incomplete(tmp_path, cinedub_home):
    folder = asr.multilingual_model_folder()
    assert folder == cinedub_home / "models" / "whisper-base"
    model_bin = folder / "model.bin"
    assert model_bin.stat().st_size == _parts_bytes()
    assert sorted(p.name for p in folder.iterdir()) == ["config.json", "model.bin", "tokenizer.json",
                                                        "vocabulary.json"]  # fmt: skip
    assert [p.name for p in folder.parent.iterdir()] == ["whisper-base"]  # no staging folder left behind
    first = model_bin.stat()
    assert asr.multilingual_model_folder() == folder
    again = model_bin.stat()
    assert (again.st_ino, again.st_mtime_ns) == (first.st_ino, first.st_mtime_ns)  # reused, not copied again
    with open(model_bin, "r+b") as cut_short:  # a copy cut short (e.g. a full disk): joined again
        cut_short.truncate(first.st_size // 2)
    assert asr.assemble_multilingual(folder) == folder
    assert model_bin.stat().st_size == _parts_bytes()
    assert os.listdir(folder.parent) == ["whisper-base"]


def test_missing_model_packages_are_one_line(monkeypatch, tmp_path):
    monkeypatch.setattr(asr, "MULTILINGUAL_PARTS", (("no_such_whisper_package", "model.bin.part1"),))
    with pytest.raises(CinedubError) as err:
        asr.assemble_multilingual(tmp_path / "whisper-base")
    assert "pip install 'cinedub[eval]'" in str(err.value) and "\n" not in str(err.value)
    assert not (tmp_path / "whisper-base").exists()


def test_the_language_of_the_real_clips_is_detected(portuguese):
    russian = media.load_audio(RUSSIAN_CLIP)
    english = media.load_audio(ENGLISH_VOICE)
    detected = {name: asr.detect_language(*audio) for name, audio in
                (("ru", russian), ("pt", portuguese), ("en", english))}  # fmt: skip
    print("detected", detected)
    for expected, (language, probability) in detected.items():
        assert language == expected and probability > 0.9, detected
    with pytest.raises(CinedubError, match="no audio"):
        asr.detect_language(russian[0][:0], russian[1])


def test_a_portuguese_clip_is_transcribed_with_word_times(portuguese):
    audio, rate = portuguese
    audio = audio[: 9 * rate]  # its first two sentences: enough to tell, in a few seconds of decoding
    transcript = asr.transcribe_source(audio, rate)
    assert transcript.language == "pt" and transcript.probability > 0.9
    words = transcript.words
    assert len(words) >= 15, transcript.text
    assert all(0.0 <= w.start <= w.end <= len(audio) / rate + 0.5 for w in words)
    assert [w.start for w in words] == sorted(w.start for w in words)
    heard = asr.normalize(transcript.text, language="pt").split()
    # Words of the clip's first sentences ("Cheguei e faz um mês, um mês que eu cheguei ... primeira semana").
    assert {"cheguei", "mês", "semana"} <= set(heard), transcript.text
    first = audio[: 4 * rate]
    given = asr.transcribe_source(first, rate, language="pt")
    assert given.language == "pt" and given.probability == 1.0 and given.words
    # The words' decoding and the plain transcript's agree (word timestamps move the seeks only slightly).
    assert asr.wer(asr.transcribe(first, rate, language="pt"), given.text, language="pt") < 0.2


def test_english_stays_with_tiny_en():
    audio, rate = media.load_audio(ENGLISH_VOICE, max_seconds=4.0)
    source = asr.transcribe_source(audio, rate)
    assert source.language == "en" and source.probability > 0.9
    assert source.words == asr.transcribe_words(audio, rate)  # tiny.en's, the words `cinedub script` drafts
    assert asr._model_for("en") is asr.whisper_model() and asr._model_for("pt") is asr.multilingual_model()
    with pytest.raises(CinedubError, match="Whisper does not know the language 'xx'"):
        asr.transcribe(audio, rate, language="xx")


def test_normalize_other_languages_like_whispers_basic_normalizer():
    assert asr.normalize("Olá, João! [música] Não é (risos) «isso»?", language="pt") == "olá joão não é isso"
    assert asr.normalize("¿Qué tal, señor?", language="es") == "qué tal señor"
    assert asr.normalize("Всем привет! Я снова рада.", language="ru") == "всем привет я снова рада"
    # English as it always was: digits to words, apostrophes kept, letters outside a-z dropped.
    assert asr.normalize("It's 4 o'clock, José!") == "it's four o'clock jos"
    assert asr.wer("Cheguei e faz um mês", "cheguei, e faz um mes", language="pt") == pytest.approx(0.2)
    assert asr.wer("Cheguei e faz um mês", "Cheguei e faz um mês.", language="pt") == 0.0
