"""The parametric actor on real speech: intelligibility, timing, emotion, timbre, determinism, bad voices.

References are real recordings from Debian's pocketsphinx-testdata (two different speakers: a LibriVox
reader and the "cards" speaker; resemblyzer puts them at 0.61-0.72 apart and 0.83-0.93 within).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from cinedub.errors import CinedubError
from cinedub.media import load_audio, resample
from cinedub.types import Direction, Line, Voice, Window
from cinedub.speech import (
    Actor,
    ParametricActor,
    check_voice,
    estimate_speech_seconds,
    load_actor,
    load_voice,
    measure_prosody,
    normalize_text,
)
from cinedub.speech.audio import SAMPLE_RATE
from cinedub.speech.frontend import MAX_SQUEEZE
from cinedub.speech.measure import articulation_rate_sps
from cinedub.speech.voice import VOICE_EXCERPT_S, VOICE_SEARCH_S
from cinedub.speech.piper_voice import speak

from .conftest import SHARED_DATA

DATA = Path("/usr/share/pocketsphinx/test/data")
LIBRIVOX = DATA / "librivox" / "sense_and_sensibility_01_austen_64kb-0870.wav"
CARDS = DATA / "cards" / "005.wav"
LINE = Line(text="Get out of my car, I will not say it again.")
DURATION_TOLERANCE_S = 0.040

pytestmark = pytest.mark.skipif(not LIBRIVOX.exists(), reason="needs Debian pocketsphinx-testdata")


def direction(seconds: float = 3.0, **changes) -> Direction:
    return Direction(window=Window(start=2.0, end=2.0 + seconds), voice=str(LIBRIVOX), **changes)


@pytest.fixture(scope="module")
def actor() -> ParametricActor:
    return ParametricActor()


@pytest.fixture(scope="module")
def plain_actor() -> ParametricActor:
    return ParametricActor(timbre=False)


@pytest.fixture(scope="module")
def librivox() -> Voice:
    return load_voice(LIBRIVOX)


@pytest.fixture(scope="module")
def cards() -> Voice:
    return load_voice(CARDS)


# A reference cut from a film soundtrack: 1.5 s of a real man's words (the LatentSync demo voice) in a
# 3.4 s excerpt, over real music (gradio's cantina.wav) 12 dB under the speech, the whole quiet.
FILM_SPEAKER = SHARED_DATA / "latentsync_demo2_voice.wav"
FILM_WORDS_S = (0.87, 2.37)  # seconds of FILM_SPEAKER: words, no pause
FILM_EXCERPT_S, FILM_WORDS_AT_S = 3.4, 1.0
FILM_MUSIC_UNDER_DB, FILM_SPEECH_DBFS = 12.0, -32.0


def rms_db(x: np.ndarray) -> float:
    return float(20 * np.log10(np.sqrt(np.mean(np.square(x))) + 1e-12))


@pytest.fixture(scope="module")
def film(tmp_path_factory) -> Voice:
    import gradio
    import soundfile as sf

    rate = 16000
    speaker, _ = load_audio(FILM_SPEAKER, mono=True, sample_rate=rate)
    words = speaker[int(FILM_WORDS_S[0] * rate) : int(FILM_WORDS_S[1] * rate)]
    music, music_rate = load_audio(Path(gradio.__file__).parent / "media_assets" / "audio" / "cantina.wav", mono=True)
    music = np.resize(resample(music, music_rate, rate), int(FILM_EXCERPT_S * rate))  # looped to the excerpt
    words = words * 10 ** ((FILM_SPEECH_DBFS - rms_db(words)) / 20)
    music = music * 10 ** ((FILM_SPEECH_DBFS - FILM_MUSIC_UNDER_DB - rms_db(music)) / 20)
    at = int(FILM_WORDS_AT_S * rate)
    music[at : at + len(words)] += words
    path = tmp_path_factory.mktemp("film") / "film_line.wav"
    sf.write(path, music, rate)
    return load_voice(path)


@pytest.fixture(scope="module")
def encoder():
    resemblyzer = pytest.importorskip("resemblyzer")
    return resemblyzer.VoiceEncoder("cpu", verbose=False)


def embed(encoder, audio: np.ndarray, sample_rate: int) -> np.ndarray:
    from resemblyzer import preprocess_wav

    return encoder.embed_utterance(preprocess_wav(resample(audio, sample_rate, 16000), 16000))


# --- interface -------------------------------------------------------------------------------------


def test_load_actor_table():
    assert isinstance(load_actor("parametric"), ParametricActor)
    assert load_actor("parametric:notimbre").timbre is False
    assert isinstance(load_actor("parametric"), Actor)
    with pytest.raises(CinedubError, match="no F5 checkpoint"):
        load_actor("f5:/models/f5_v1_base.safetensors")
    with pytest.raises(CinedubError, match="needs a checkpoint"):
        load_actor("f5:")
    with pytest.raises(CinedubError, match="unknown actor"):
        load_actor("vits")


def test_take_contract(actor, librivox):
    take = actor.perform(LINE, direction(2.7, emotion="happy", intensity=0.6), librivox)
    assert take.sample_rate == SAMPLE_RATE
    assert take.audio.dtype == np.float32 and take.audio.ndim == 1
    assert len(take.audio) == round(2.7 * SAMPLE_RATE)
    assert np.max(np.abs(take.audio)) <= 1.0
    assert {"synthesis", "analysis", "transform", "resynthesis"} <= set(take.timings)
    applied = json.loads(json.dumps(take.applied))  # JSON-serialisable as it is
    assert applied["emotion"] == "happy" and applied["prosody"]["f0_shift_st"] > 0
    assert applied["timbre"]["f0_ratio"] > 0


# --- determinism -------------------------------------------------------------------------------------


def test_piper_is_deterministic():
    assert np.array_equal(speak(LINE.text), speak(LINE.text))


def test_same_seed_same_take(actor, librivox):
    fear = direction(2.8, emotion="fear", intensity=0.8, seed=7)
    first = actor.perform(LINE, fear, librivox).audio
    again = actor.perform(LINE, fear, librivox).audio
    assert first.tobytes() == again.tobytes()
    other_seed = actor.perform(LINE, fear.model_copy(update={"seed": 8}), librivox).audio
    assert not np.array_equal(first, other_seed)  # fear's jitter is drawn from the seed


# --- timing ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("seconds", [1.5, 2.2, 3.0, 4.5])
def test_speech_fills_the_window(actor, librivox, seconds):
    """Natural reading is ~2.3 s: 1.5 s compresses hard, 4.5 s doubles it."""
    take = actor.perform(LINE, direction(seconds), librivox)
    assert len(take.audio) == round(seconds * SAMPLE_RATE)
    measured = measure_prosody(take.audio, take.sample_rate)
    assert measured["speech_start"] <= DURATION_TOLERANCE_S
    assert abs(measured["speech_end"] - seconds) <= DURATION_TOLERANCE_S
    assert abs(measured["speech_duration"] - seconds) <= DURATION_TOLERANCE_S


# --- intelligibility -----------------------------------------------------------------------------------


def test_intelligible_to_whisper(actor, librivox):
    pytest.importorskip("faster_whisper")
    from cinedub.asr import transcribe, wer

    lines = [LINE.text, "We have to leave now, before they find us.", "I never thought I would see you here again."]
    errors = []
    for text, seconds in zip(lines, (3.0, 2.6, 2.4)):
        take = actor.perform(Line(text=text), direction(seconds, emotion="angry", intensity=0.6), librivox)
        errors.append(wer(text, transcribe(take.audio, take.sample_rate)))
    # bench/asr_spread.py: 0.0 on each of the three, under every CPU kernel set tried.
    assert float(np.mean(errors)) <= 0.15, errors


# Written lines and the words a listener must hear (spelled out by hand, not by the normaliser).
WRITTEN_AND_SPOKEN = [
    ("I said no. Then I left.", "I said no then I left"),
    # The issue's own line. Measured: heard as "It costs $1.5 million on Main Street last year." (WER 1/12),
    # in float32 and int8, at 1.0x and 1.1x the natural length, and on Piper's own reading before WORLD:
    # Whisper tiny.en's guess at the /t w/ join of "cost one". The money and the street come out right,
    # as the next line shows; the miss stays visible here rather than being edited away.
    pytest.param("It cost $1.5 million on Main St. last year.",
                 "it cost one point five million dollars on main street last year",
                 marks=pytest.mark.xfail(strict=True, reason="measured WER 1/12: 'cost' heard as 'costs'")),
    ("It cost us $1.5 million on Main St. last year.",
     "it cost us one point five million dollars on main street last year"),
    ("We met on 3/4/2024.", "we met on march fourth twenty twenty four"),
    ("I love you 😀🔥", "I love you"),
]


@pytest.mark.parametrize(("written", "spoken"), WRITTEN_AND_SPOKEN)
def test_the_words_spoken_are_the_words_written(actor, librivox, written, spoken):
    """The packaged Whisper hears the line as a reader would say it (WER 0): numbers, money, dates,
    abbreviations and emoji as words, or not at all. Whisper writes numbers as digits, so its transcript
    goes through the same normaliser before it is compared with the hand-written spoken form."""
    asr = pytest.importorskip("cinedub.asr")
    pytest.importorskip("faster_whisper")
    take = actor.perform(Line(text=written), direction(estimate_speech_seconds(written)), librivox)
    assert take.applied["text"] == normalize_text(written) and take.applied["written"] == written
    heard = asr.transcribe(take.audio, take.sample_rate)
    assert asr.wer(spoken, normalize_text(heard)) == 0.0, heard


def test_speed_limit_enforced_and_reported(actor, librivox):
    """No reading is squeezed past MAX_SQUEEZE times the voice's natural rate: a line that needs more
    runs past its window, and the take says so; within the limit it fills the window exactly."""
    natural = estimate_speech_seconds(LINE.text)
    within = actor.perform(LINE, direction(natural / 1.5), librivox)
    assert within.applied["speed_limited"] is False and within.applied["overrun_s"] == 0.0
    assert within.applied["speed"] <= MAX_SQUEEZE and within.applied["max_speed"] == MAX_SQUEEZE
    assert len(within.audio) == round(natural / 1.5 * SAMPLE_RATE)
    squeezed = actor.perform(LINE, direction(natural / 3), librivox)  # 3x faster asked
    applied = squeezed.applied
    assert applied["speed_limited"] is True and applied["speed"] == pytest.approx(MAX_SQUEEZE, abs=0.01)
    assert len(squeezed.audio) / SAMPLE_RATE == pytest.approx(natural / 3 + applied["overrun_s"], abs=0.001)
    assert applied["overrun_s"] > 0.2
    spoken = measure_prosody(squeezed.audio, SAMPLE_RATE)["speech_duration"]
    assert spoken == pytest.approx(len(squeezed.audio) / SAMPLE_RATE, abs=DURATION_TOLERANCE_S)


# --- emotion -------------------------------------------------------------------------------------------


def _measure(actor, voice, **changes) -> dict[str, float]:
    take = actor.perform(LINE, direction(2.8, **changes), voice)
    return measure_prosody(take.audio, take.sample_rate)


@pytest.mark.parametrize("key", ["f0_mean_hz", "f0_range_semitones", "energy_db"])
def test_angry_above_neutral_above_sad(plain_actor, librivox, key):
    angry, neutral, sad = (_measure(plain_actor, librivox, emotion=e, intensity=0.7) for e in ("angry", "neutral", "sad"))
    assert angry[key] > neutral[key] > sad[key]


@pytest.mark.parametrize("text", ["Get out of my car, I will not say it again.",
                                  "Listen to me, we drive back tonight, and nobody follows us."])
def test_angry_articulates_faster_than_neutral_than_sad(actor, librivox, text):
    """At equal windows (the line's natural length) every take fills its window, yet an angry one is
    articulated faster and a sad one slower: the pauses take the difference. Measured here (syllables per
    second of Silero speech, intensity 0.8): 5.70 / 5.53 / 5.00 and 5.35 / 5.18 / 4.73. A line with no
    pause to give the time to keeps the window's own rate."""
    window = estimate_speech_seconds(text)
    takes = {e: actor.perform(Line(text=text), direction(window, emotion=e, intensity=0.8), librivox)
             for e in ("angry", "neutral", "sad")}  # fmt: skip
    rates = {e: articulation_rate_sps(t.audio, t.sample_rate, text) for e, t in takes.items()}
    assert rates["angry"] > rates["neutral"] > rates["sad"], rates
    for take in takes.values():  # edge to edge in the window, and the report says what was applied
        assert measure_prosody(take.audio, take.sample_rate)["speech_duration"] == pytest.approx(window, abs=0.1)
    applied = {e: t.applied["articulation"] for e, t in takes.items()}
    assert applied["angry"] > applied["neutral"] == 1.0 > applied["sad"], applied


def test_intensity_moves_prosody_monotonically(actor, librivox):
    angry = [_measure(actor, librivox, emotion="angry", intensity=i) for i in (0.2, 0.5, 0.9)]
    sad = [_measure(actor, librivox, emotion="sad", intensity=i) for i in (0.2, 0.5, 0.9)]
    for key in ("f0_mean_hz", "f0_range_semitones", "energy_db"):
        values = [m[key] for m in angry]
        assert values[0] < values[1] < values[2], (key, values)
    for key in ("f0_mean_hz", "energy_db"):
        values = [m[key] for m in sad]
        assert values[0] > values[1] > values[2], (key, values)


def test_pitch_shift_and_loudness(actor, librivox):
    base = _measure(actor, librivox)
    shifted = _measure(actor, librivox, pitch_shift=4.0, loudness=-6.0)
    assert 12 * np.log2(shifted["f0_median_hz"] / base["f0_median_hz"]) == pytest.approx(4.0, abs=1.0)
    assert shifted["energy_db"] - base["energy_db"] == pytest.approx(-6.0, abs=0.5)


# --- timbre --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("voice_name", ["librivox", "cards", "film"])
def test_timbre_step_moves_toward_the_reference(actor, plain_actor, encoder, request, voice_name):
    """The similarity is to the speaker: for the film line, to the man's own clean recording (the
    reference holds music too, which the voice profile must not take for his voice)."""
    voice = request.getfixturevalue(voice_name)
    speaker = load_audio(FILM_SPEAKER, mono=True) if voice_name == "film" else (voice.audio, voice.sample_rate)
    reference = embed(encoder, *speaker)
    lines = [LINE, Line(text="I never thought I would see you here again.")]

    def similarity(which: ParametricActor) -> float:
        takes = [which.perform(line, direction(2.8), voice) for line in lines]
        return float(np.mean([embed(encoder, t.audio, t.sample_rate) @ reference for t in takes]))

    with_timbre, without = similarity(actor), similarity(plain_actor)
    assert with_timbre > without + 0.03, (with_timbre, without)


# --- reference voices ----------------------------------------------------------------------------------


def test_bad_voices_are_refused(tmp_path, librivox):
    import soundfile as sf

    empty = tmp_path / "empty.wav"
    sf.write(empty, np.zeros(0, np.float32), 16000)
    with pytest.raises(CinedubError):
        load_voice(empty)
    with pytest.raises(CinedubError, match="silent"):
        check_voice(Voice(path=Path("silent.wav"), audio=np.zeros(48000, np.float32), sample_rate=16000))
    with pytest.raises(CinedubError, match="empty"):
        check_voice(Voice(path=Path("none.wav"), audio=np.zeros(0, np.float32), sample_rate=16000))
    # 0.3 s of the reader's speech in 3 s of room-quiet recording (0.5 s are needed).
    start = int(1.0 * librivox.sample_rate)
    short = np.zeros(3 * librivox.sample_rate, np.float32)
    short[start : start + int(0.3 * librivox.sample_rate)] = librivox.audio[start : start + int(0.3 * librivox.sample_rate)]
    with pytest.raises(CinedubError, match="speech"):
        check_voice(Voice(path=Path("short.wav"), audio=short, sample_rate=librivox.sample_rate))
    noise = np.random.default_rng(0).normal(0, 0.05, 48000).astype(np.float32)
    with pytest.raises(CinedubError, match="speech"):
        check_voice(Voice(path=Path("hiss.wav"), audio=noise, sample_rate=16000))
    assert check_voice(librivox) is librivox
    music, rate = load_audio(Path(__import__("gradio").__file__).parent / "media_assets" / "audio" / "cantina.wav")
    with pytest.raises(CinedubError, match=r"has only 0\.\d\d s of speech"):
        check_voice(Voice(path=Path("music.wav"), audio=music, sample_rate=rate))


def test_a_voice_is_loaded_once_until_its_file_changes(tmp_path, librivox):
    """Every take loads its voices; an unchanged file gives the same Voice (its audio read-only, so no take
    can change another's), a file written again is loaded again, a bad one still fails in one line."""
    import os

    import soundfile as sf

    path = tmp_path / "anna.wav"
    sf.write(path, librivox.audio, librivox.sample_rate)
    first = load_voice(path)
    assert load_voice(path) is first and not first.audio.flags.writeable
    assert load_voice(path, cleaned=True) is not first  # another use of the file: its own Voice
    louder = np.clip(librivox.audio * 1.5, -1.0, 1.0)
    sf.write(path, louder, librivox.sample_rate)
    written = path.stat()  # a rewrite within the clock's resolution would keep the time: move it on
    os.utime(path, ns=(written.st_atime_ns, written.st_mtime_ns + 1_000_000))
    again = load_voice(path)
    assert again is not first and np.abs(again.audio).max() > np.abs(first.audio).max()
    path.write_bytes(b"not audio")
    with pytest.raises(CinedubError):
        load_voice(path)


def test_a_film_line_under_music_is_a_reference(film):
    """1.5 s of words 12 dB over a film's music bed: the speech found is the words, not the music around
    them (the energy detector cinedub used before counted 2.9 s of "speech" here, the music with it)."""
    from cinedub.vad import speech_spans

    spans = speech_spans(film.audio, film.sample_rate)
    found = sum(end - start for start, end in spans)
    words_s = FILM_WORDS_S[1] - FILM_WORDS_S[0]
    assert words_s - 0.2 <= found <= words_s + 0.3, spans
    assert spans[0][0] >= FILM_WORDS_AT_S - 0.15 and spans[-1][1] <= FILM_WORDS_AT_S + words_s + 0.15, spans


def test_a_long_reference_is_trimmed_to_its_best_speech(tmp_path, actor, librivox):
    """Of a long recording only the first VOICE_SEARCH_S are decoded, and the VOICE_EXCERPT_S holding
    the most speech in them are kept; the take's report says so."""
    import soundfile as sf

    rate = librivox.sample_rate

    def quiet(seconds: float) -> np.ndarray:
        return np.random.default_rng(1).normal(0, 1e-4, int(seconds * rate)).astype(np.float32)

    speech = np.concatenate([librivox.audio] * 4)  # ~4 readings back to back
    late = np.concatenate([librivox.audio] * 12)  # more speech, but after VOICE_SEARCH_S: never read
    recording = np.concatenate([quiet(40), speech, quiet(VOICE_SEARCH_S), late])
    path = tmp_path / "long.wav"
    sf.write(path, recording, rate)
    voice = load_voice(path)
    assert voice.duration == pytest.approx(VOICE_EXCERPT_S, abs=0.01)
    assert voice.offset <= 40.0 + 0.5 and voice.offset + VOICE_EXCERPT_S >= 40.0 + min(len(speech) / rate, 29)
    assert voice.excerpt() == {
        "path": str(path), "recording_s": pytest.approx(len(recording) / rate, abs=0.01),
        "used_from_s": pytest.approx(voice.offset, abs=0.001), "used_s": VOICE_EXCERPT_S, "trimmed": True,
    }  # fmt: skip
    take = actor.perform(LINE, direction(2.5), voice)
    assert take.applied["reference_voice"]["trimmed"] is True
    assert load_voice(LIBRIVOX).excerpt()["trimmed"] is False  # a short reference is used whole
    head, _ = load_audio(path, max_seconds=10.0)
    assert len(head) == 10 * rate


# --- front end and measurement --------------------------------------------------------------------------


def test_normalize_text():  # more cases in test_frontend.py
    assert normalize_text("In 1984 Mr. Smith paid $3.50 for 2,000 eggs, 45% of them, on the 21st.") == (
        "In nineteen eighty four Mister Smith paid three dollars fifty cents for two thousand eggs, "
        "forty five percent of them, on the twenty first."
    )


def test_estimate_matches_the_voice():
    for text in ("Please put the box on the table.", LINE.text, "That is the most beautiful thing I have ever seen. Thank you."):
        audio = speak(normalize_text(text))
        measured = measure_prosody(audio, SAMPLE_RATE)["speech_duration"]
        assert estimate_speech_seconds(text) == pytest.approx(measured, rel=0.25)
    assert estimate_speech_seconds(LINE.text, pace=2.0) == pytest.approx(estimate_speech_seconds(LINE.text) / 2)


def test_measure_prosody_on_a_known_signal():
    sr = 16000
    t = np.arange(int(1.0 * sr)) / sr
    tone = sum(np.sin(2 * np.pi * 150 * k * t) / k for k in range(1, 8)).astype(np.float32) * 0.1
    audio = np.concatenate([np.zeros(sr // 2, np.float32), tone, np.zeros(sr // 4, np.float32)])
    measured = measure_prosody(audio, sr)
    assert measured["f0_median_hz"] == pytest.approx(150, rel=0.02)
    assert measured["f0_range_semitones"] < 0.5
    assert measured["speech_start"] == pytest.approx(0.5, abs=0.02)
    assert measured["speech_end"] == pytest.approx(1.5, abs=0.02)
    assert measured["voiced_ratio"] > 0.9


def test_what_is_learned_from_a_reference_is_kept_by_its_content():
    """The cache behind reference profiles and voice maps: keyed by content (the same samples at another
    rate are another recording), the least recently used dropped past its size, one value per key when two
    threads make it at once."""
    import threading

    from cinedub.speech.learned import ContentCache, content_key

    audio = np.random.default_rng(0).standard_normal(16000).astype(np.float32)
    assert content_key(audio, 16000) == content_key(audio.copy(), 16000) != content_key(audio, 22050)
    made: list[str] = []
    cache: ContentCache[str] = ContentCache(size=2)

    def make(key: str):
        return lambda: made.append(key) or f"profile of {key}"

    for key in ("a", "b", "a", "c", "a", "b"):  # "b" is dropped when "c" comes (the least recently used)
        assert cache.get(key, make(key)) == f"profile of {key}"
    assert made == ["a", "b", "c", "b"]

    started, results = threading.Barrier(2), []

    def slow() -> object:
        started.wait()  # both threads are making it at once
        return object()

    threads = [threading.Thread(target=lambda: results.append(cache.get("d", slow))) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results[0] is results[1]


def test_what_is_learned_is_stored_for_the_next_run(tmp_path):
    """stored_or_made: made once and read back; a reference nothing could be learned from (None) is
    remembered as an empty file; an unreadable file is made again; a folder that can't be written only costs
    the making (the value still comes back)."""
    import json

    from cinedub.speech.learned import stored_or_made

    made: list[object] = []

    def make(value):
        return lambda: made.append(value) or value

    def load(path):
        return json.loads(path.read_text())

    def save(value, path):
        path.write_text(json.dumps(value))

    path = tmp_path / "maps" / "voice.json"
    assert stored_or_made(path, make({"words": 22}), load=load, save=save) == {"words": 22}
    assert stored_or_made(path, make({"words": 0}), load=load, save=save) == {"words": 22}  # read back
    nothing = tmp_path / "maps" / "short.json"
    assert stored_or_made(nothing, make(None), load=load, save=save) is None and nothing.stat().st_size == 0
    assert stored_or_made(nothing, make({"words": 1}), load=load, save=save) is None  # remembered
    path.write_text("{not json")
    assert stored_or_made(path, make({"words": 23}), load=load, save=save) == {"words": 23}
    assert load(path) == {"words": 23}
    blocked = tmp_path / "file"
    blocked.write_text("")
    assert stored_or_made(blocked / "voice.json", make({"words": 5}), load=load, save=save) == {"words": 5}
    assert made == [{"words": 22}, None, {"words": 23}, {"words": 5}]
