"""Voice identity on issue 17's six real voices (tests/real_voices.py), and the frame-wise voice map
(speech/voice_map.py) that moves the parametric actor toward each: learned from a parallel reading of the
reference's own words, refused for references it can't learn from, cached, reported."""

from __future__ import annotations

import numpy as np
import pytest

from cinedub import asr, media
from cinedub.speech import ParametricActor, load_voice
from cinedub.speech import audition as audition_module
from cinedub.speech import parametric as parametric_module
from cinedub.speech import voice_map as voice_map_module
from cinedub.speech.audio import SAMPLE_RATE
from cinedub.speech.reader import PIPER_JOE, english_readers, read
from cinedub.speech.timbre import (
    TimbreMatch,
    actor_profile,
    analyse_speech,
    apply_envelope,
    match_timbre,
    profile_of,
)
from cinedub.speech.voice_map import MIN_MAP_WORDS, VoiceMap, learn_voice_map, mel_cepstra
from cinedub.types import Direction, Line, Window

from .conftest import SHARED_DATA
from .real_voices import GOAL_SECS, POCKETSPHINX, identity, voices

pytestmark = pytest.mark.skipif(not POCKETSPHINX.exists(), reason="needs Debian pocketsphinx-testdata")


@pytest.fixture(scope="module")
def measured(tmp_path_factory) -> dict[str, dict[str, object]]:
    """Each voice's take measured with the voice map and with the long-term match alone."""
    with_map, without = ParametricActor(), ParametricActor(voice_map=False)
    folder = tmp_path_factory.mktemp("voices")
    return {name: {"map": identity(with_map, path), "long_term": identity(without, path)}
            for name, path in voices(folder).items()}  # fmt: skip


def test_the_voice_map_brings_the_real_voices_closer(measured):
    """Measured (resemblyzer x100, long-term match alone, read by joe -> with the map, read by the reader
    the audition chose): librivox 74.6 -> 80.0 (joe), cards 57.7 -> 81.0 (slt), pyannote speaker90 65.0 ->
    71.0 (slt), speaker91 65.4 -> 69.4 (slt), demo1 75.5 -> 78.8 (slt), demo2 63.9 -> 67.9 (joe); mean 67.0 ->
    74.7 (72.4 with joe reading every voice), WER 0.00-0.04 per voice."""
    gains = {name: m["map"].secs - m["long_term"].secs for name, m in measured.items()}
    assert np.mean(list(gains.values())) >= 4.5, gains  # one blend of 0.5 at every frequency gained 3.5
    assert min(gains.values()) > 0.0, gains  # every voice moves toward its reference
    assert np.mean([m["map"].secs for m in measured.values()]) >= 74.0  # Piper joe reading every voice: 72.4
    for name, m in measured.items():  # and the words survive it
        assert m["map"].wer <= max(m["long_term"].wer + 0.05, 0.1), (name, m)


@pytest.mark.xfail(strict=True, reason="issue 17's goal is not reached: measured with the voice map and the "
                   "audition 80.0 / 81.0 / 71.0 / 69.4 / 78.8 / 67.9 (mean 74.7) against >= 75 on each")
def test_every_real_voice_reaches_the_goal(measured):
    scores = {name: round(m["map"].secs, 1) for name, m in measured.items()}
    print("mean", np.mean(list(scores.values())), scores)
    assert min(scores.values()) >= GOAL_SECS, scores


# --- the map itself -------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def librivox_speech():
    voice = load_voice(POCKETSPHINX / "librivox" / "sense_and_sensibility_01_austen_64kb-0870.wav")
    return analyse_speech(voice.audio, voice.sample_rate)


@pytest.fixture(scope="module")
def librivox_map(librivox_speech) -> tuple[VoiceMap, TimbreMatch]:
    """The LibriVox reader's map (learned once, ~2 s) and the long-term match it was learned under."""
    match = match_timbre(actor_profile(PIPER_JOE), profile_of(librivox_speech))
    return learn_voice_map(librivox_speech, match), match


def test_the_map_is_learned_from_the_references_words(librivox_speech, librivox_map):
    learned, match = librivox_map
    assert isinstance(learned, VoiceMap)
    assert learned.words >= 15  # "And Mr. John Dashwood had then leisure to consider how much..."
    assert len(learned.keys) == len(learned.log_envelopes) > 500  # voiced frame pairs, 5 ms each
    # Other words than the reference's, long-term matched, then mapped: the mean mel cepstrum of the voiced
    # frames moves toward the reference's (as far as the reference holds their sounds); unvoiced frames are
    # left as they were.
    other = analyse_speech(read("Nobody knows what happened to the ship after it left the harbour at night."),
                           SAMPLE_RATE).features  # fmt: skip
    matched = apply_envelope(other.sp, match)
    mapped = learned.apply(matched, other.voiced)
    reference = librivox_speech.features
    target = mel_cepstra(reference.sp[reference.voiced]).mean(axis=0)
    before = np.linalg.norm(mel_cepstra(matched[other.voiced]).mean(axis=0) - target)
    after = np.linalg.norm(mel_cepstra(mapped[other.voiced]).mean(axis=0) - target)
    assert after < 0.9 * before, (before, after)  # measured 6.14 -> 5.18
    np.testing.assert_array_equal(mapped[~other.voiced], matched[~other.voiced])


def test_no_map_from_a_reference_in_another_language():
    """LatentSync's kitchen clip: a man speaking Portuguese. The reader of English can't say his words, so
    there is no parallel pair: the long-term match alone applies (and the take says so)."""
    audio, rate = media.load_audio(SHARED_DATA / "latentsync_demo2.mp4", mono=True, max_seconds=12.0)
    speech = analyse_speech(audio, rate)
    assert learn_voice_map(speech, match_timbre(actor_profile(PIPER_JOE), profile_of(speech))) is None


def test_no_map_from_too_few_words():
    audio, rate = media.load_audio(POCKETSPHINX / "librivox" / "sense_and_sensibility_01_austen_64kb-0870.wav",
                                   mono=True)  # fmt: skip
    speech = analyse_speech(audio[: int(0.7 * rate)], rate)  # "And Mr." : fewer than MIN_MAP_WORDS words
    assert learn_voice_map(speech, match_timbre(actor_profile(PIPER_JOE), profile_of(speech))) is None, MIN_MAP_WORDS


def test_the_map_is_learned_once_per_reference_kept_and_reported(monkeypatch):
    """Learned on the first take, for each English reader (the audition plays the voice with each, and
    chooses one); a retake, a new actor (a new studio session) and a new process (the memory emptied: the
    profile, the words, the maps and the audition read back from $CINEDUB_HOME, the reference not even
    split again) all reuse them."""
    learned, auditioned, heard, encoded = [], [], [], []
    real, real_audition = voice_map_module.learn_voice_map, audition_module.audition
    real_transcribe, real_encode = asr.transcribe, voice_map_module.phonetic_frames

    def counting(*args, **kwargs):
        learned.append(args[2])
        return real(*args, **kwargs)

    def counting_audition(*args, **kwargs):
        auditioned.append(1)
        return real_audition(*args, **kwargs)

    def counting_transcribe(*args, **kwargs):
        heard.append(1)
        return real_transcribe(*args, **kwargs)

    def counting_encode(*args, **kwargs):
        encoded.append(1)
        return real_encode(*args, **kwargs)

    monkeypatch.setattr("cinedub.speech.parametric.learn_voice_map", counting)
    monkeypatch.setattr("cinedub.speech.parametric.audition", counting_audition)
    monkeypatch.setattr(asr, "transcribe", counting_transcribe)
    monkeypatch.setattr(voice_map_module, "phonetic_frames", counting_encode)
    voice_map_module.transcripts.clear()
    voice_map_module.encodings.clear()
    parametric_module.profiles.clear()
    voice_map_module.memory.clear()
    audition_module.memory.clear()
    voice = load_voice(SHARED_DATA / "latentsync_demo1_voice.wav")
    direction = Direction(window=Window(start=0.0, end=2.5), voice=str(voice.path))
    line = Line(text="I never thought I would see you here again.")
    actor = ParametricActor()
    first = actor.perform(line, direction, voice)
    retake = actor.perform(Line(text="Put the box down and listen to me."), direction, voice)
    session = ParametricActor().perform(line, direction, voice)
    for cache in (voice_map_module.memory, voice_map_module.transcripts, audition_module.memory,
                  parametric_module.profiles):  # a new process: the memory empty, $CINEDUB_HOME kept
        cache.clear()
    split: list[int] = []
    real_split = parametric_module.split_dialogue
    monkeypatch.setattr(parametric_module, "split_dialogue", lambda *a, **k: split.append(1) or real_split(*a, **k))
    process = ParametricActor().perform(line, direction, voice)
    assert not split  # nothing about the reference is learned again in a new process
    assert sorted(learned) == sorted(english_readers()) and len(auditioned) == (len(english_readers()) > 1)
    assert len(heard) == 1  # the reference's words are heard once for both readers' maps
    assert len(encoded) == len(english_readers()) + 1  # each reader's reading, and the reference once
    np.testing.assert_array_equal(first.audio, session.audio)
    np.testing.assert_array_equal(first.audio, process.audio)
    for take in (first, retake, process):
        report = take.applied["voice_map"]
        assert report["words"] >= MIN_MAP_WORDS and report["frames"] > 100, report
        assert take.applied["reader"] == first.applied["reader"]
        assert take.applied["audition"] == first.applied["audition"]
    spanish = actor.perform(Line(text="Nunca pensé que te vería aquí otra vez.", language="es"), direction, voice)
    assert spanish.applied["voice_map"] is None  # learned for the English reader only
    plain = ParametricActor(voice_map=False).perform(Line(text="Put the box down."), direction, voice)
    assert plain.applied["voice_map"] is None and plain.applied["timbre"] is not None


def test_the_words_are_kept_only_when_heard(librivox_speech, monkeypatch, cinedub_home):
    """Without a recogniser (the eval extra) the reference has no words and nothing is kept, so the words
    are heard once one is installed; heard, they are kept under $CINEDUB_HOME for the next process."""
    from cinedub.errors import CinedubError
    from cinedub.speech.voice_map import reference_words

    voice_map_module.transcripts.clear()
    real_detect = asr.detect_language

    def no_recogniser(*args, **kwargs):
        raise CinedubError("ASR needs the eval extra")

    monkeypatch.setattr(asr, "detect_language", no_recogniser)
    assert reference_words("librivox", lambda: librivox_speech) is None
    assert not list(cinedub_home.glob("voices/librivox-words-*"))
    monkeypatch.setattr(asr, "detect_language", real_detect)
    text, words = reference_words("librivox", lambda: librivox_speech)
    assert words >= MIN_MAP_WORDS and len(list(cinedub_home.glob("voices/librivox-words-*"))) == 1
    voice_map_module.transcripts.clear()
    assert reference_words("librivox", lambda: pytest.fail("heard again")) == (text, words)


def test_sounds_the_reference_does_not_hold_are_left_alone(librivox_map):
    """No voiced frame: nothing to map. A sound the reference holds is covered (Piper saying other words);
    a spectrum no voice has (rising 60 dB, then 120 dB, to the top) is covered less, then not at all: it is
    left as it was rather than borrow another sound's shape."""
    learned, match = librivox_map
    bins = learned.log_envelopes.shape[1]
    sp = np.abs(np.random.default_rng(0).standard_normal((20, bins))) + 1e-3
    np.testing.assert_array_equal(learned.apply(sp, np.zeros(20, bool)), sp)
    speech = analyse_speech(read("We leave tomorrow morning, before the sun comes up."), SAMPLE_RATE).features
    _, speech_covered = learned.lookup(apply_envelope(speech.sp[speech.voiced], match))
    _, alien_covered = learned.lookup(np.stack([np.logspace(-6, 0, bins), np.logspace(-12, 0, bins)]))
    assert np.median(speech_covered) > 2 * alien_covered[0] > 0.0 == alien_covered[1], (speech_covered, alien_covered)
    alien = np.tile(np.logspace(-12, 0, bins), (20, 1))
    np.testing.assert_allclose(learned.apply(alien, np.ones(20, bool)), alien)


def test_the_map_lends_more_of_the_voice_above_the_vowels():
    """Half the reference's envelope where the first two formants are (the words), more above (the voice)."""
    from cinedub.speech.voice_map import MAP_BLEND, MAP_BLEND_BAND_HZ, blend_by_frequency
    from cinedub.speech.world import FFT_SIZE

    blend = blend_by_frequency()
    freqs = np.arange(len(blend)) * SAMPLE_RATE / FFT_SIZE
    assert len(blend) == FFT_SIZE // 2 + 1 and np.all(np.diff(blend) >= 0)
    assert MAP_BLEND[0] == 0.5 and np.all(blend[freqs <= MAP_BLEND_BAND_HZ[0]] == MAP_BLEND[0])
    assert np.all(blend[freqs >= MAP_BLEND_BAND_HZ[1]] == MAP_BLEND[1]) and MAP_BLEND[1] > MAP_BLEND[0]


def test_the_reading_and_the_reference_are_paired_by_what_is_said(tmp_path):
    """Piper reading the words of a speaker of pyannote's phone call, aligned to her on the encoder's
    features: the middle of each word Whisper times in the reading lands inside the same word in her speech
    (within 60 ms). Measured: 24 of 25 words (DTW on mel cepstra: 20; spread evenly in time: 7)."""
    from cinedub.speech.voice_map import align, phonetic_frames

    from cinedub.asr import ENCODER_FRAME_S, encoder_features, transcribe, transcribe_words
    from cinedub.stems import split_dialogue

    assert encoder_features(np.zeros(int(ENCODER_FRAME_S * 16000 * 10)), 16000).shape[0] == 10
    assert encoder_features(np.zeros(16000 * 45), 16000).shape[0] == 45 / ENCODER_FRAME_S  # two windows

    voice = load_voice(voices(tmp_path)["pyannote_speaker90"])
    split = split_dialogue(voice.audio, voice.sample_rate)
    reference = analyse_speech(split.dialogue, split.sample_rate)
    reading = analyse_speech(read(transcribe(reference.audio, SAMPLE_RATE)), SAMPLE_RATE)
    period_s = reading.features.frame_period_ms / 1000.0
    i, j = align(*(phonetic_frames(s.audio, s.features.num_frames, s.features.frame_period_ms)
                   for s in (reading, reference)))  # fmt: skip
    said, heard = (transcribe_words(s.audio, SAMPLE_RATE) for s in (reading, reference))
    landed = []
    for word in said:
        if (found := [w for w in heard if w.text.lower() == word.text.lower()]) and len(found) == 1:
            middle = round((word.start + word.end) / 2 / period_s)
            at = j[np.searchsorted(i, min(middle, i[-1]))] * period_s
            landed.append(found[0].start - 0.06 <= at <= found[0].end + 0.06)
    assert len(landed) >= 20 and np.mean(landed) >= 0.9, landed
