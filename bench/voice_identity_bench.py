"""Voice identity of the parametric actor on issue 17's six real voices: resemblyzer similarity (GE2E
cosine x100, `cinedub.evaluation.secs`) of a 3-line take to its reference, and the take's WER (packaged
Whisper tiny.en). Prints JSON. Goal (issue 17): >= 75 on every voice; the same speaker scores 87-91,
different speakers 48-67 (MODELS.md).

    .venv/bin/python bench/voice_identity_bench.py [--no-timbre]

The voices: the LibriVox reader and the cards speaker (Debian pocketsphinx-testdata), both speakers of
pyannote.audio's packaged two-speaker recording (cut by its RTTM, overlaps left out), and the two
`*_voice.wav` recordings in ../shared/data. Each take's lines are given their estimated natural length,
so timing is not what is measured; the reference the similarity is taken against is the recording the
actor was given.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import tempfile
import time
from pathlib import Path

import numpy as np

from cinedub import media
from cinedub.asr import ASR_NAME, transcribe, wer
from cinedub.evaluation.secs import secs
from cinedub.speech import ParametricActor, estimate_speech_seconds, load_voice
from cinedub.types import Direction, Line, Window

POCKETSPHINX = Path("/usr/share/pocketsphinx/test/data")
SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
LINES = ("I never thought I would see you here again.", "Put the box down and listen to me for a moment.",
         "We leave tomorrow morning, before the sun comes up.")  # fmt: skip
GAP_S = 0.3  # silence between the take's lines
GOAL = 75.0


def pyannote_speaker(name: str, folder: Path) -> Path:
    """One speaker of pyannote.audio's sample.wav, their RTTM turns joined (the other's turns removed)."""
    sample = Path(next(iter(importlib.util.find_spec("pyannote.audio").submodule_search_locations))) / "sample"
    audio, rate = media.load_audio(sample / "sample.wav", mono=True, sample_rate=16000)
    turns = [row.split() for row in (sample / "sample.rttm").read_text().splitlines() if row.strip()]
    spans = [(float(t[3]), float(t[3]) + float(t[4]), t[7]) for t in turns]
    keep = np.zeros(len(audio), bool)
    for start, end, who in spans:
        keep[int(start * rate) : int(end * rate)] |= who == name
    for start, end, who in spans:
        if who != name:
            keep[int(start * rate) : int(end * rate)] = False
    path = folder / f"pyannote_{name}.wav"
    media.write_wav(path, audio[keep], rate)
    return path


def voices(folder: Path) -> dict[str, Path]:
    return {
        "librivox": POCKETSPHINX / "librivox" / "sense_and_sensibility_01_austen_64kb-0870.wav",
        "cards": POCKETSPHINX / "cards" / "005.wav",
        "pyannote_speaker90": pyannote_speaker("speaker90", folder),
        "pyannote_speaker91": pyannote_speaker("speaker91", folder),
        "latentsync_demo1_voice": SHARED_DATA / "latentsync_demo1_voice.wav",
        "latentsync_demo2_voice": SHARED_DATA / "latentsync_demo2_voice.wav",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-timbre", action="store_true", help="Piper's own timbre (the step's baseline)")
    args = parser.parse_args()
    actor = ParametricActor(timbre=not args.no_timbre)
    started, results = time.perf_counter(), {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, path in voices(Path(tmp)).items():
            voice = load_voice(path)
            parts, errors = [], []
            for text in LINES:
                window = Window(start=0.0, end=estimate_speech_seconds(text))
                take = actor.perform(Line(text=text), Direction(window=window, voice=str(path)), voice)
                parts += [take.audio, np.zeros(int(GAP_S * take.sample_rate), np.float32)]
                errors.append(wer(text, transcribe(take.audio, take.sample_rate)))
            similarity = secs(np.concatenate(parts), voice.audio, take.sample_rate, voice.sample_rate)
            results[name] = {"secs": round(similarity, 1), "wer": round(float(np.mean(errors)), 3),
                             "reference_s": round(len(voice.audio) / voice.sample_rate, 1)}  # fmt: skip
    values = [r["secs"] for r in results.values()]
    print(json.dumps({
        "timbre": not args.no_timbre, "speaker_model": "resemblyzer GE2E", "asr": ASR_NAME, "goal_secs": GOAL,
        "voices": results, "mean_secs": round(float(np.mean(values)), 1), "min_secs": min(values),
        "meets_goal": min(values) >= GOAL, "seconds": round(time.perf_counter() - started, 1),
    }, indent=1))  # fmt: skip


if __name__ == "__main__":
    main()
