"""The scene's own sound: a clip's audio split into dialogue and ambience (DeepFilterNet3, Silero VAD),
and a dub that lays the new dialogue over the clip's ambience at the clip's dialogue loudness.

The clips are the two LatentSync demo videos in ../shared/data (real people talking to camera with
their own sound: a garden, a kitchen) and the bundled carphone clip (no audio track).
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np
import pytest

from cinedub import assembly, media
from cinedub.errors import CinedubError
from cinedub.stems import DFN_SAMPLE_RATE, _deep_filter, clip_stems
from cinedub.types import Line
from cinedub.vad import speech_spans, spans_mask

from .conftest import SHARED_DATA, run_cinedub

TALKING = ["latentsync_demo1.mp4", "latentsync_demo2.mp4"]
FRAME_S = 0.02  # the grid speech activity and levels are compared on
# The kitchen man's line, about as long as his own speech.
LINE = ("When it comes to relationships and when it comes to the gym, you have to show up every day, even "
        "when you do not feel like it, and that is the whole secret.")  # fmt: skip


def rms_db(x: np.ndarray) -> float:
    return float(10 * np.log10(np.mean(np.square(x, dtype=np.float64)) + 1e-12))


@pytest.fixture(scope="module", params=TALKING)
def stems(request):
    clip = SHARED_DATA / request.param
    return request.param, clip_stems(clip, media.probe(clip).duration)


def test_the_stems_sum_to_the_clips_sound_and_are_aligned(stems):
    name, split = stems
    clip = SHARED_DATA / name
    mix, _ = media.load_audio(clip, sample_rate=DFN_SAMPLE_RATE)
    n = min(len(mix), len(split.mix)) - DFN_SAMPLE_RATE // 20  # the last 50 ms: decoded to the video's end
    assert np.max(np.abs(split.mix[:n] - mix[:n])) < 1e-5
    # DeepFilterNet's output, shifted by DFN_DELAY_SAMPLES, lines up with the speech in the mix
    # sample for sample: the correlation peaks at lag 0 (a 1 ms misalignment leaves speech behind).
    speech = _deep_filter().enhance(mix)
    seconds = slice(DFN_SAMPLE_RATE, 6 * DFN_SAMPLE_RATE)
    lags = list(range(-96, 97, 4))
    scores = [float(np.dot(mix[seconds.start + lag : seconds.stop + lag], speech[seconds])) for lag in lags]
    assert lags[int(np.argmax(scores))] == 0


def test_the_ambience_holds_no_intelligible_speech(stems):
    """faster-whisper hears at most two words in the ambience (its own default decoding: temperature
    fallback with the no-speech guard, its sampling seeded; the greedy measuring configuration invents a
    looping sentence on room tone alone) and Silero finds no speech in it; in the clip's sound the
    multilingual Whisper hears plenty in the clip's own language (tiny.en heard 5 words of the Portuguese
    clip once: the clips are not English)."""
    import ctranslate2

    from cinedub.asr import detect_language, transcribe, whisper_model

    name, split = stems
    model = whisper_model()  # tiny.en, float32

    def heard(audio: np.ndarray) -> list[str]:
        ctranslate2.set_random_seed(0)  # the temperature fallback samples: the same words on every run
        segments, _ = model.transcribe(media.resample(audio, split.sample_rate, 16000), language="en")
        return " ".join(s.text for s in segments).split()

    language, _ = detect_language(split.mix, split.sample_rate)
    assert len(transcribe(split.mix, split.sample_rate, language=language).split()) >= 10, name
    assert len(heard(split.ambience)) <= 2, (name, heard(split.ambience))
    assert sum(end - start for start, end in speech_spans(split.ambience, split.sample_rate)) < 0.3


def test_no_sound_to_keep(carphone_clip, tmp_path):
    """No audio track, or a silent one: nothing to keep, no error."""
    assert not media.probe(carphone_clip).has_audio
    assert clip_stems(carphone_clip, 4.0) is None
    silent = tmp_path / "silent.mp4"
    subprocess.run([media.ffmpeg_binary(), "-v", "error", "-i", str(carphone_clip), "-f", "lavfi", "-i",
                    "anullsrc=r=48000:cl=mono", "-shortest", "-c:v", "copy", "-c:a", "aac", str(silent)],
                   check=True)  # fmt: skip
    assert media.probe(silent).has_audio and clip_stems(silent, 4.0) is None


@pytest.mark.slow
def test_a_dub_keeps_the_scenes_sound(tmp_path):
    """The kitchen clip dubbed with its own man's English-speaking double: the new dialogue over the
    kitchen's ambience, at the clip's dialogue loudness; where neither the man nor the take speaks,
    dub.mp4 carries the clip's own sound (within 10 dB of its level there); nothing clips."""
    from cinedub.studio import Studio

    clip = SHARED_DATA / "latentsync_demo2.mp4"
    result = Studio().dub(clip, [Line(text=LINE)], SHARED_DATA / "latentsync_demo2_voice.wav", out=tmp_path / "dub")
    take = result.take
    applied = take.applied["scene_sound"]
    assert applied["ambience"] == "kept"
    dialogue, rate = media.load_audio(assembly.stem_path(take.path, "dialogue"), sample_rate=DFN_SAMPLE_RATE)
    ambience, _ = media.load_audio(assembly.stem_path(take.path, "ambience"), sample_rate=DFN_SAMPLE_RATE)
    mix, _ = media.load_audio(take.path, sample_rate=DFN_SAMPLE_RATE)
    assert np.max(np.abs(dialogue + ambience - mix)) < 2e-4  # 16-bit files of one sum
    assert np.max(np.abs(mix)) <= assembly.PEAK_CEILING + 1e-4
    # the new dialogue at the loudness of the man's (a neutral take: no louder or softer asked)
    his, his_rate = media.load_audio(tmp_path / "dub" / "scene" / "dialogue.wav", sample_rate=DFN_SAMPLE_RATE)
    assert applied["dialogue_target_lufs"] == pytest.approx(assembly.loudness_lufs(his, his_rate), abs=0.01)
    assert abs(assembly.loudness_lufs(dialogue, rate) - applied["dialogue_target_lufs"]) <= 1.0, applied
    # where neither speaks, the dub sounds like the clip
    dub, _ = media.load_audio(result.dub_path, sample_rate=DFN_SAMPLE_RATE)
    clip_sound, _ = media.load_audio(clip, sample_rate=DFN_SAMPLE_RATE)
    n = min(len(dub), len(clip_sound))
    frames = int(n / rate / FRAME_S)
    talking = spans_mask(speech_spans(clip_sound[:n], rate), frames, FRAME_S)
    talking |= spans_mask(speech_spans(dialogue[:n], rate), frames, FRAME_S)
    quiet = np.flatnonzero(~talking)
    assert len(quiet) * FRAME_S >= 1.0, "the clip has no stretch without speech to compare"
    hop = int(FRAME_S * rate)
    chosen = np.concatenate([np.arange(i * hop, (i + 1) * hop) for i in quiet])
    assert abs(rms_db(dub[chosen]) - rms_db(clip_sound[chosen])) <= 10.0


def test_ambience_dropped_or_unknown(sample, tmp_path):
    from cinedub.studio import Studio

    with pytest.raises(CinedubError, match="unknown ambience 'loud'; choose one of keep, drop"):
        Studio().dub(sample.clip, [Line(text=sample.line)], sample.voice, ambience="loud")
    done = run_cinedub("dub", "--sample", "--ambience", "loud")
    assert done.returncode == 2 and "invalid choice: 'loud'" in done.stderr and "Traceback" not in done.stderr
    clip = SHARED_DATA / "latentsync_demo1.mp4"
    result = Studio().dub(clip, [Line(text="Are you a broke beauty like me?")], sample.voice, ambience="drop",
                          out=tmp_path / "dub")  # fmt: skip
    assert result.take.applied["scene_sound"] == {"ambience": "none"}
    assert not assembly.stem_path(result.take.path, "ambience").exists()
    # the clip's sound is still split (its speech guides the phrasing), only not laid under the take
    assert (tmp_path / "dub" / "scene" / "ambience.wav").is_file()


# -- the clip's own actor as the voice ---------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("name", TALKING)
def test_without_a_voice_the_clips_own_actor_speaks(name, tmp_path, monkeypatch):
    """--voice omitted: the reference is the clip's dialogue stem (the room taken out), and the take
    sounds at least as much like the clip's actor (resemblyzer, against the clip's own sound) as the
    same take made with the clip's whole audio passed as --voice. Measured here: demo1 0.576 against
    0.563, demo2 0.532 against 0.517 (the stem is not cleaned a second time: Voice.cleaned). The clip's
    sound is split once per take (the own voice's split is the scene's)."""
    from cinedub.speaker_encoder import speaker_embedding
    from cinedub.studio import Studio

    from .test_phrasing import LINES

    clip = SHARED_DATA / name
    theirs = speaker_embedding(*media.load_audio(clip))

    def similarity(voice, out):
        result = Studio().dub(clip, [Line(text=LINES[name])], voice, session=out, out=tmp_path / out)
        return float(speaker_embedding(*media.load_audio(assembly.stem_path(result.take.path, "dialogue"))) @ theirs)

    splits = []
    monkeypatch.setattr(assembly, "clip_stems", lambda *a: splits.append(a) or clip_stems(*a))
    own = similarity(None, "own")
    assert len(splits) == 1
    given = similarity(clip, "given")
    assert len(splits) == 2
    assert own >= given, (own, given)
    told = json.loads((tmp_path / "own" / "direction.json").read_text())["voice"]
    assert told == {"path": str((tmp_path / "own" / "scene" / "dialogue.wav").resolve()), "from": "the clip's own dialogue"}


def test_without_a_voice_a_clip_with_no_dialogue_is_refused(sample, tmp_path):
    done = run_cinedub("dub", sample.clip, "--line", sample.line, "--out", tmp_path / "out")
    assert done.returncode == 2, done.stderr
    assert done.stderr.strip() == (f"cinedub: error: {sample.clip.name} has no dialogue to take its actor's voice "
                                   "from (no sound); give --voice AUDIO")  # fmt: skip
    assert not (tmp_path / "out").exists()  # nothing half-written


@pytest.mark.slow
def test_eval_measures_the_new_speech_without_the_scenes_sound(tmp_path):
    """`cinedub eval --dub` on a clip with its own sound measures the take's dialogue stem (and the neutral
    take's): WER and speaker similarity of the new voice, not of the voice with the garden under it."""
    clip = SHARED_DATA / "latentsync_demo1.mp4"
    manifest = tmp_path / "rows.jsonl"
    manifest.write_text(json.dumps({"id": "garden", "video": str(clip), "voice": str(SHARED_DATA / "latentsync_demo1_voice.wav"),
                                    "line": "Are you a broke beauty like me?", "emotion": "happy"}) + "\n")  # fmt: skip
    done = run_cinedub("eval", "--dub", "--manifest", manifest, "--out", tmp_path / "eval", timeout=600)
    assert done.returncode == 0, done.stderr
    (item,) = [json.loads(line) for line in (tmp_path / "eval" / "items.jsonl").read_text().splitlines()]
    assert "error" not in item, item
    take = item["pipeline"]["take"]
    assert item["audio"] == str(assembly.stem_path(take, "dialogue")) and Path(item["audio"]).is_file()
    assert Path(item["pipeline"]["neutral_take"]).is_file()
    assert item["metrics"]["wer"] is not None
