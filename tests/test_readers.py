"""The English readers (speech/reader.py): Festival's slt beside Piper joe, and the audition that chooses
which of them plays a reference voice (speech/audition.py)."""

from __future__ import annotations

import numpy as np
import pytest

from cinedub.asr import transcribe, wer
from cinedub.errors import CinedubError
from cinedub.speech import ParametricActor, festival_voice, load_voice
from cinedub.speech import audition as audition_module
from cinedub.speech.audio import SAMPLE_RATE
from cinedub.speech.audition import AUDITION_MARGIN, audition
from cinedub.speech.reader import FESTIVAL_SLT, PIPER_JOE, english_readers
from cinedub.types import Direction, Line, Window

from .real_voices import POCKETSPHINX

needs_festival = pytest.mark.skipif(not festival_voice.available(),
                                    reason="needs festival and festvox-us-slt-hts (scripts/setup.sh installs them)")  # fmt: skip
needs_pocketsphinx = pytest.mark.skipif(not POCKETSPHINX.exists(), reason="needs Debian pocketsphinx-testdata")
LIBRIVOX = POCKETSPHINX / "librivox"
CARDS = POCKETSPHINX / "cards" / "005.wav"


@needs_festival
def test_festival_reads_deterministically_at_the_asked_speed():
    text = 'She said "wait", and then: get out of my car.'
    first = festival_voice.speak(text)
    assert first.dtype == np.float32 and first.ndim == 1
    np.testing.assert_array_equal(first, festival_voice.speak(text))  # HTS draws no noise
    slower = festival_voice.speak(text, length_scale=1.5)
    assert 1.4 < len(slower) / len(first) < 1.6, len(slower) / len(first)
    heard = transcribe(first, SAMPLE_RATE)
    assert wer("She said wait, and then get out of my car.", heard) == 0.0, heard


@needs_festival
def test_a_festival_error_is_one_line_and_the_next_line_is_read(monkeypatch):
    broken = festival_voice._Festival()
    monkeypatch.setattr(festival_voice, "VOICE", "no_such_voice")
    with pytest.raises(CinedubError, match="festival failed: .*unbound variable") as err:
        broken.speak("Hello there.", 1.0)
    assert "\n" not in str(err.value)
    broken.close()
    monkeypatch.undo()
    assert len(festival_voice.speak("Hello there.")) > SAMPLE_RATE // 2


@needs_pocketsphinx
def test_the_audition_chooses_the_reader_the_encoder_hears_nearest():
    """Two 'readers' that are real recordings: the LibriVox reader's other passage and the cards speaker.
    Against a passage of the LibriVox reader, his own voice is chosen."""
    reference = load_voice(LIBRIVOX / "sense_and_sensibility_01_austen_64kb-0870.wav")
    played = {"same man": load_voice(LIBRIVOX / "sense_and_sensibility_01_austen_64kb-0880.wav"),
              "another man": load_voice(CARDS)}  # fmt: skip
    assert all(v.sample_rate == reference.sample_rate for v in played.values())
    chosen = audition(tuple(played), lambda reader: played[reader].audio, reference.audio, reference.sample_rate,
                      nearest_in_pitch="another man")  # fmt: skip
    assert chosen.reader == "same man", chosen  # heard nearer by more than AUDITION_MARGIN
    assert chosen.similarity["same man"] > chosen.similarity["another man"] + AUDITION_MARGIN, chosen
    # two readers heard as near (here: one recording, twice): the reader nearest in pitch is kept
    for pitch in ("a", "b"):
        close = audition(("a", "b"), lambda reader: played["same man"].audio, reference.audio,
                         reference.sample_rate, nearest_in_pitch=pitch)  # fmt: skip
        assert close.similarity["a"] == close.similarity["b"] and close.reader == pitch, close


@needs_festival
@needs_pocketsphinx
def test_the_take_says_which_reader_played_the_voice_and_why(monkeypatch):
    """The cards speaker (a man, ~99 Hz, nearer joe in pitch) is auditioned by both readers; slt, heard
    clearly nearer, reads every take, and the take reports the audition. Without festival, Piper reads and nothing is
    auditioned."""
    audition_module.memory.clear()
    voice = load_voice(CARDS)
    direction = Direction(window=Window(start=0.0, end=2.2), voice=str(voice.path))
    take = ParametricActor().perform(Line(text="Put the box down and listen to me."), direction, voice)
    report = take.applied["audition"]
    assert set(report["similarity"]) == {PIPER_JOE, FESTIVAL_SLT}
    best = max(report["similarity"], key=report["similarity"].get)
    assert report["nearest_in_pitch"] == PIPER_JOE  # a man's voice
    assert report["similarity"][best] >= report["similarity"][PIPER_JOE] + AUDITION_MARGIN  # measured 76.2 / 70.0
    assert take.applied["reader"] == report["reader"] == best == FESTIVAL_SLT
    assert ("festival" in take.applied) == (take.applied["reader"] == FESTIVAL_SLT)

    monkeypatch.setattr(festival_voice, "available", lambda: False)
    assert english_readers() == (PIPER_JOE,)
    alone = ParametricActor().perform(Line(text="Put the box down and listen to me."), direction, voice)
    assert alone.applied["reader"] == PIPER_JOE and alone.applied["audition"] is None
