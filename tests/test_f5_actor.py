"""The F5 actor in the director's graph: the pace applied once, free narration as long as the trained duration
head says, and the ControlNet's reference branch trained on the references the actor feeds it.

Tiny models built in-process with the real classes; the audio of random or briefly trained weights means
nothing, but where its energy lies (what the review measures) and what the model computes are real.
"""

from __future__ import annotations

import json
import types
from pathlib import Path

import numpy as np
import pytest
import torch

from cinedub.agents import nodes
from cinedub.agents.context import DirectorContext
from cinedub.agents.state import DirectorState
from cinedub.agents.windows import target_window
from cinedub.errors import CinedubError
from cinedub.samples import LIBRIVOX_DIR
from cinedub.speech.f5 import SampleConfig, frames_for, load_model, save_checkpoint
from cinedub.speech.f5.actor import F5Actor
from cinedub.speech.frontend import estimate_speech_seconds
from cinedub.speech.voice import load_voice
from cinedub.types import Conclusion, Direction, Line, Perception, Reference, Window

CLIPS = {  # LibriVox readings of Debian's pocketsphinx-testdata and their words
    "0870": "and mister john dashwood had then leisure to consider how much there might be prudently in his power "
            "to do for them",
    "0880": "he was not an ill disposed young man",
    "0890": "unless to be rather cold hearted and rather selfish is to be ill disposed",
    "0930": "he might even have been made amiable himself",
}  # fmt: skip


def clip(name: str) -> Path:
    path = LIBRIVOX_DIR / f"sense_and_sensibility_01_austen_64kb-{name}.wav"
    if not path.is_file():
        pytest.skip("needs Debian's pocketsphinx-testdata (apt-get install pocketsphinx-testdata)")
    return path


def graph_state(tmp_path: Path, text: str, voice: Path, clip_s: float = 6.0) -> DirectorState:
    """A first take's state after `watch`: a clip where nobody speaks on screen and no dialogue sounds
    (the line is free narration)."""
    return DirectorState(clip="clip.mp4", lines=[Line(text=text)], voice=str(voice),
                         out_dir=str(tmp_path / "dub"), perception=Perception(duration=clip_s, sample_fps=10.0, num_frames=int(10 * clip_s)),
                         conclusion=Conclusion(scene_type="monologue"))  # fmt: skip


def runtime(actor) -> types.SimpleNamespace:
    return types.SimpleNamespace(context=DirectorContext(reasoner=None, actor=actor))


def test_a_pace_of_1_25_gives_speech_0_8_of_the_window_on_the_first_sample(tmp_path):
    """The director applies the pace to the window once (target_window); the actor fills what it is given,
    so the review finds the take on time and asks for no automatic retake (before: the actor divided by the
    pace again and the review spent a second sampling run undoing it)."""
    actor = F5Actor("tiny", config=SampleConfig(nfe=2))
    samples = []
    sample = actor.model.sample
    actor.model.sample = lambda *a, **kw: (samples.append(1), sample(*a, **kw))[1]
    state = graph_state(tmp_path, "The river was quiet that morning.", clip("0870"))
    run = runtime(actor)
    planned = nodes.direct(state, run)
    base = Window.model_validate(planned["plan"]["lines"][0]["window"])
    planned["plan"]["lines"][0]["pace"] = 1.25  # as a note "faster" leaves it
    state = DirectorState.model_validate({**state.model_dump(mode="json"), **planned})
    state = DirectorState.model_validate({**state.model_dump(mode="json"), **nodes.act(state, run)})
    reviewed = nodes.review(state, run)

    take = reviewed["takes"][0]
    given = take["lines"][0]["direction"]["window"]
    assert given == target_window(base, 1.25, 6.0).model_dump(mode="json")
    assert given["end"] - given["start"] == pytest.approx(0.8 * base.duration, abs=1e-3)
    frames = take["lines"][0]["applied"]["frames"]
    assert frames["speech"] == frames["window"] == frames_for(0.8 * base.duration)
    measured = take["measured"]["lines"][0]
    print(f"base {base.duration:.3f} s, asked {0.8 * base.duration:.3f} s, "
          f"speech {measured['speech_duration']:.3f} s")
    assert measured["speech_duration"] == pytest.approx(0.8 * base.duration, abs=0.04)  # the review's tolerance
    assert reviewed["verdict"] == "accept" and "auto_retakes" not in reviewed
    assert len(samples) == 1


# ---------------------------------------------------------------------------------------------------
# trained with `cinedub train actor`


@pytest.fixture(scope="module")
def stage1(tmp_path_factory) -> Path:
    """Stage 1 (DiT + duration head) on two real utterances, long enough for the head to learn their
    lengths."""
    from cinedub.training.actor import main

    root = tmp_path_factory.mktemp("stage1")
    manifest = root / "train.jsonl"
    rows = [{"audio": str(clip(n)), "text": CLIPS[n]} for n in ("0880", "0930")]
    manifest.write_text("".join(json.dumps(row) + "\n" for row in rows))
    assert main([str(manifest), "--out", str(root / "run"), "--steps", "20", "--batch-size", "2",
                 "--max-frames", "320", "--lr", "4e-3", "--warmup", "1", "--augment", "0"]) == 0  # fmt: skip
    return root / "run" / "last.safetensors"


@pytest.mark.train
def test_free_narration_is_as_long_as_the_duration_head_says(stage1, tmp_path):
    actor = F5Actor(stage1, config=SampleConfig(nfe=2))
    assert {"transformer", "duration_head"} <= set(actor.model.trained_parts) and actor.duration_trained
    text, voice = CLIPS["0880"], clip("0880")
    head_s = actor.natural_seconds(text, load_voice(voice))
    real_s = load_voice(voice).duration
    print(f"duration head {head_s:.2f} s, the real reading {real_s:.2f} s, "
          f"text estimate {estimate_speech_seconds(text):.2f} s")
    # it learnt the reading (measured: 3.27 s for 2.99 s; the text estimate says 1.59 s)
    assert head_s == pytest.approx(real_s, rel=0.2)

    planned = nodes.direct(graph_state(tmp_path, text, voice), runtime(actor))
    window = Window.model_validate(planned["plan"]["lines"][0]["window"])
    assert window.duration == pytest.approx(head_s, abs=1e-3)  # the line's length is the head's
    # a checkpoint whose head was never trained: the text estimate, as for the parametric actor
    untrained = F5Actor("tiny", config=SampleConfig(nfe=2))
    assert not untrained.duration_trained and untrained.natural_seconds(text, load_voice(voice)) is None
    planned = nodes.direct(graph_state(tmp_path, text, voice), runtime(untrained))
    estimate = Window.model_validate(planned["plan"]["lines"][0]["window"])
    assert estimate.duration == pytest.approx(estimate_speech_seconds(text), abs=1e-3)


@pytest.mark.train
def test_stage_2_trains_the_reference_branch_from_the_manifests_references(stage1, tmp_path):
    """Stage 2 with references in the manifest: the reference encoder learns (without references its weights
    get no gradient at all), the condition it learns from is the one the actor computes, and the trained
    actor's take moves with the reference it is given. A branch trained without references is not fed any."""
    from cinedub.training.actor import ManifestDataset, main, read_manifest

    torch.manual_seed(0)  # the fresh branch's encoder is drawn from torch's generator
    fresh = load_model(stage1, control_blocks=2)  # a ControlNet over the trained base
    trained_so_far = {"trained": json.dumps(fresh.trained_parts)}
    init = save_checkpoint(fresh, tmp_path / "init.safetensors", extra=trained_so_far)
    rows = {"0880": [str(clip("0870"))],
            "0930": [{"audio": str(clip("0890")), "text": CLIPS["0890"], "score": 0.8}]}  # fmt: skip
    weights = {}
    for kind in ("references", "none"):
        manifest = tmp_path / f"{kind}.jsonl"
        manifest.write_text("".join(json.dumps({"audio": str(clip(n)), "text": CLIPS[n], "emotion": "neutral",
                                                **({"references": refs} if kind == "references" else {})}) + "\n"
                                    for n, refs in rows.items()))  # fmt: skip
        out = tmp_path / kind
        assert main([str(manifest), "--out", str(out), "--stage", "2", "--init", str(init), "--steps", "6",
                     "--batch-size", "2", "--max-frames", "200", "--lr", "1e-3", "--warmup", "1",
                     "--augment", "0"]) == 0  # fmt: skip
        weights[kind] = load_model(out / "last.safetensors").controlnet.encoder.reference.weight.detach()
    before = fresh.controlnet.encoder.reference.weight.detach()
    moved = {kind: float((w - before).abs().max()) for kind, w in weights.items()}
    print(f"reference encoder weights moved by {moved}")
    assert moved["references"] > 1e-4  # AdamW steps of ~lr once gradients reach the encoder
    # zero references, zero gradient: only AdamW's weight decay (0.01 at lr 1e-3, 6 steps) touched them
    decayed = before * (1 - 1e-3 * 0.01) ** 6
    assert torch.allclose(weights["none"], decayed, rtol=0, atol=1e-7)  # (float32 rounding)

    trained = F5Actor(tmp_path / "references" / "last.safetensors", config=SampleConfig(nfe=2))
    assert "controlnet" in trained.model.trained_parts
    # the condition the trainer fed for row 0930 is the one the actor computes for the same reference
    data = ManifestDataset(read_manifest(tmp_path / "references.jsonl"), trained.model)
    ref = Reference(clip_id="0890", audio=str(clip("0890")), score=0.8, text=CLIPS["0890"])
    direction = Direction(window=Window(start=0.0, end=1.0), voice=str(clip("0880")), references=[ref])
    conditions, used = trained.conditions(direction, None, 200, 100, None, None)
    assert used["references"] == 1
    assert torch.allclose(data.items[1]["reference"], conditions.reference[0])

    voice = load_voice(clip("0880"))
    other = Reference(clip_id="0870", audio=str(clip("0870")), score=1.0)
    without = F5Actor(tmp_path / "none" / "last.safetensors", config=SampleConfig(nfe=2))
    assert "controlnet" in without.model.trained_parts and not without.references_trained
    for actor, moves in ((trained, True), (without, False)):
        takes = [actor.perform(Line(text=CLIPS["0930"]), direction.model_copy(update={"references": [r]}), voice,
                               ref_text=CLIPS["0880"]) for r in (ref, other)]  # fmt: skip
        difference = float(np.abs(takes[0].audio - takes[1].audio).max())
        print(f"branch trained {'with' if moves else 'without'} references: takes differ by {difference:.2e}")
        if moves:
            assert difference > 1e-5 and takes[0].applied["conditions"]["references"] == 1
        else:  # fed only what it was trained on: the no-reference condition, and the take says so
            assert difference == 0.0 and takes[0].applied["conditions"]["references"] == 0
            assert "not trained on references" in takes[0].applied["conditions"]["references_ignored"]


def test_manifest_references_resolve_and_bad_ones_are_named(tmp_path):
    from cinedub.training.actor import read_manifest

    manifest = tmp_path / "m.jsonl"
    manifest.write_text(json.dumps({"audio": "a.wav", "text": "hi", "references": ["refs/b.wav", {"audio": "/x/c.wav",
                                    "score": 0.5, "prosody": {"f0_mean_hz": 120.0}}]}) + "\n")  # fmt: skip
    [row] = read_manifest(manifest)
    assert row["references"] == [
        {"audio": str(tmp_path / "refs/b.wav"), "text": None, "score": 1.0, "prosody": {}},
        {"audio": "/x/c.wav", "text": None, "score": 0.5, "prosody": {"f0_mean_hz": 120.0}},
    ]
    for bad, message in (("refs.wav", "must be a list"), ([{"text": "no audio"}], "needs an audio path"),
                         ([{"audio": "b.wav", "score": "high"}], "score must be a number"),
                         ([{"audio": "b.wav", "prosody": {"f0_mean_hz": "high"}}], "prosody must be an object of numbers")):  # fmt: skip
        manifest.write_text(json.dumps({"audio": "a.wav", "text": "hi", "references": bad}) + "\n")
        with pytest.raises(CinedubError, match=rf"m.jsonl:1: .*{message}"):
            read_manifest(manifest)


def test_a_manifest_reference_that_is_not_there_stops_stage_2_with_its_name(tmp_path):
    from cinedub.training.actor import ManifestDataset, read_manifest

    manifest = tmp_path / "m.jsonl"
    row = {"audio": str(clip("0880")), "text": CLIPS["0880"], "references": ["gone.wav"]}
    manifest.write_text(json.dumps(row) + "\n")
    with pytest.raises(CinedubError, match="reference .*gone.wav"):
        ManifestDataset(read_manifest(manifest), load_model("tiny_control"))
