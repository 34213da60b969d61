"""The F5 actor's own parts: ControlNet zero-init, exact lengths, guidance, checkpoints, vocoder fallback."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from cinedub.errors import CinedubError
from cinedub.speech.f5 import Conditions, SampleConfig, label_ids, load_model, save_checkpoint, timesteps
from cinedub.speech.actor import Shot
from cinedub.speech.f5.controlnet import ControlInput, to_mel_rate
from cinedub.speech.f5.guidance import combine, needed_variants
from cinedub.types import Conclusion, Direction, Line, Voice, Window


def randomise(module: torch.nn.Module, seed: int = 0) -> None:
    """Random values in every weight (so the zero-initialised base layers are not trivially zero)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.add_(0.05 * torch.randn(p.shape, generator=g))


def conditions(n: int, batch: int = 1) -> Conditions:
    g = torch.Generator().manual_seed(9)
    return Conditions(labels=torch.tensor([label_ids(scene_type="dialogue", gender="female", age_group="adult",
                                                     emotion="angry")] * batch),
                      intensity=torch.full((batch,), 0.8), visual=torch.rand(batch, n, 8, generator=g),
                      reference=torch.randn(batch, 204, generator=g))  # fmt: skip


@pytest.fixture(scope="module")
def control_model():
    model = load_model("tiny_control").eval()
    randomise(model.transformer)
    model.controlnet.copy_from(model.transformer)  # a trainable copy of the first blocks ...
    randomise(model.controlnet.encoder, seed=1)
    model.controlnet.zero_init()  # ... joined through zero-initialised projections
    return model


def test_fresh_controlnet_equals_the_base_exactly(control_model):
    m = control_model
    g = torch.Generator().manual_seed(0)
    x, cond = torch.randn(1, 70, 100, generator=g), torch.randn(1, 70, 100, generator=g)
    text, t = torch.randint(0, 200, (1, 30), generator=g), torch.tensor([0.4])
    with torch.no_grad():
        base = m.transformer(x, cond, text, t)
        embed = m.controlnet.embed(conditions(70), 70)
        assert embed.abs().sum() > 0  # the conditions are really there ...
        controlled = m.transformer(x, cond, text, t, control=ControlInput(m.controlnet, embed))
    assert torch.equal(base, controlled)  # ... and change nothing yet


def test_fresh_controlnet_sample_equals_the_base(control_model):
    m = control_model
    g = torch.Generator().manual_seed(1)
    cond, text = torch.randn(1, 30, 100, generator=g), torch.randint(0, 200, (1, 40), generator=g)
    base, _ = m.sample(cond, text, 80, steps=6, cfg_strength=2.0, sway_sampling_coef=-1.0, seed=3)
    full, _ = m.sample(cond, text, 80, steps=6, cfg_strength=2.0, cfg_video=1.5, cfg_conclusion=1.5,
                       sway_sampling_coef=-1.0, seed=3, conditions=conditions(80))  # fmt: skip
    assert (full - base).abs().max().item() <= 1e-5  # 4 guidance rows vs 2 in the batch: only GEMM blocking differs


def test_the_controlnet_changes_the_output_once_trained(control_model):
    m = control_model
    with torch.no_grad():
        for proj in m.controlnet.zero_proj:
            proj.weight.normal_(0, 0.05)
    try:
        g = torch.Generator().manual_seed(2)
        x, cond = torch.randn(1, 50, 100, generator=g), torch.randn(1, 50, 100, generator=g)
        text, t = torch.randint(0, 200, (1, 20), generator=g), torch.tensor([0.5])
        with torch.no_grad():
            a = m.transformer(x, cond, text, t, control=ControlInput(m.controlnet, m.controlnet.embed(conditions(50), 50)))
            b = m.transformer(x, cond, text, t)
        assert (a - b).abs().max() > 1e-4
    finally:
        m.controlnet.zero_init()


@pytest.mark.parametrize("frames", [1, 37, 200])
def test_generated_length_is_exactly_the_requested_frames(frames):
    m = load_model("tiny").eval()
    cond, text = torch.randn(1, 20, 100), torch.randint(0, 200, (1, 90))  # more text than frames
    out, _ = m.sample(cond, text, 20 + frames, steps=4, exact_duration=True, keep_trajectory=False)
    assert out.shape == (1, 20 + frames, 100)


def test_multi_condition_cfg_reduces_to_f5s():
    g = torch.Generator().manual_seed(3)
    full, null = torch.randn(2, 5, 100, generator=g), torch.randn(2, 5, 100, generator=g)
    assert torch.equal(combine({"full": full, "null": null}, cfg_script=2.0, cfg_video=1.0, cfg_conclusion=1.0,
                               control=False), full + (full - null) * 2.0)  # fmt: skip
    assert needed_variants(cfg_script=2, cfg_video=1, cfg_conclusion=1, control=True) == \
        ["full", "script", "script_video", "null"]  # fmt: skip
    assert needed_variants(cfg_script=0, cfg_video=0, cfg_conclusion=0, control=True) == ["full"]
    sv, s = torch.randn(2, 5, 100, generator=g), torch.randn(2, 5, 100, generator=g)
    v = combine({"full": full, "script": s, "script_video": sv, "null": null}, cfg_script=2.0, cfg_video=0.5,
                cfg_conclusion=3.0, control=True)  # fmt: skip
    assert torch.allclose(v, full + 2.0 * (s - null) + 0.5 * (sv - s) + 3.0 * (full - sv))


def test_schedules():
    t16 = timesteps(16)
    assert t16.shape == (17,) and t16[0] == 0 and t16[-1] == 1 and t16[1] == 1 / 32  # EPSS
    swayed = timesteps(32, sway=-1.0)
    assert swayed[0] == 0 and abs(float(swayed[-1]) - 1) < 1e-6 and torch.all(swayed[1:] > swayed[:-1])
    assert float(swayed[16]) < 0.5  # sway < 0 spends more steps early


def test_a_bf16_model_still_takes_every_distinct_step():
    """Sway sampling computed in bf16 makes two steps of the time grid equal (a zero-length Euler step: a
    wasted forward; f5-tts's own bf16 sample stops there, in torchdiffeq); the sampler computes its grid in
    float32 and gives the model each time in the model's dtype."""
    assert len(torch.unique(timesteps(32, sway=-1.0, dtype=torch.bfloat16))) < 33  # the problem
    grid = timesteps(32, sway=-1.0)
    m = load_model("tiny").eval().to(torch.bfloat16)
    seen = []
    forward = m.transformer.forward
    m.transformer.forward = lambda x, cond, text, time, **kw: (seen.append(float(time)), forward(x, cond, text, time, **kw))[1]
    cond, text = torch.randn(1, 20, 100), torch.randint(0, 200, (1, 30))
    with torch.no_grad():
        out, _ = m.sample(cond, text, 60, steps=32, sway_sampling_coef=-1.0, cfg_strength=2.0, keep_trajectory=False)
    assert out.dtype == torch.bfloat16 and len(seen) == 32
    assert seen == [float(t) for t in grid[:-1].to(torch.bfloat16)] and len(set(seen)) == 32  # 32 distinct steps


def test_cinedub_checkpoint_roundtrip(tmp_path, control_model):
    control_model.vocab_char_map = {" ": 0, "a": 1}
    path = save_checkpoint(control_model, tmp_path / "actor.safetensors", extra={"step": "12"})
    loaded = load_model(path)
    assert loaded.dims == control_model.dims and loaded.vocab_char_map == {" ": 0, "a": 1}
    for key, value in control_model.state_dict().items():
        assert torch.equal(loaded.state_dict()[key], value), key


def test_visual_features_come_to_mel_rate():
    video = np.stack([np.arange(25.0), np.ones(25)], axis=1)  # 1 s at 25 fps
    mel = to_mel_rate(video, 25.0, 94)
    assert mel.shape == (94, 2)
    assert abs(mel[47, 0] - 47 * 256 / 24000 * 25) < 1e-4 and mel[-1, 0] == 24.0  # interpolated, then held


def voice(seconds: float = 2.0) -> Voice:
    sr = 16_000
    t = np.arange(int(seconds * sr)) / sr
    audio = (0.2 * np.sin(2 * np.pi * 140 * t) * (1 + np.sin(2 * np.pi * 3 * t))).astype(np.float32)
    return Voice(path=__import__("pathlib").Path("voice.wav"), audio=audio, sample_rate=sr)


@pytest.mark.parametrize("start,end", [(0.0, 0.5), (1.3, 2.77)])
def test_actor_take_is_exactly_the_window(start, end):
    from cinedub.speech.f5.actor import F5Actor

    actor = F5Actor("tiny_control", config=SampleConfig(nfe=4))
    direction = Direction(window=Window(start=start, end=end), voice="voice.wav", emotion="sad", intensity=0.7)
    take = actor.perform(Line(text="Not tonight."), direction, voice(), ref_text="a test voice",
                         shot=Shot(conclusion=Conclusion(scene_type="monologue", gender="male", age=70),
                                   visual=np.random.rand(50, 8), visual_fps=25.0))  # fmt: skip
    assert len(take.audio) == round((end - start) * 24_000) and take.sample_rate == 24_000
    assert take.audio.dtype == np.float32 and np.all(np.isfinite(take.audio))
    assert take.applied["vocoder"].startswith("griffin-lim")  # no vocoder weights here, and the take says so
    assert take.applied["conditions"]["labels"]["age_group"] == 4  # elderly
    assert take.applied["emotion_guidance"].startswith("off")


def test_actor_specs():
    from cinedub.speech.f5.actor import from_spec

    with pytest.raises(CinedubError, match="needs a checkpoint"):
        from_spec("")
    with pytest.raises(CinedubError, match="no F5 checkpoint"):
        from_spec("/nowhere/model.safetensors")
    with pytest.raises(CinedubError, match="unknown f5 actor option"):
        from_spec("tiny,speed=2")
    assert from_spec("tiny,nfe=16,cfg=1.5").config.nfe == 16


def test_augmentation_shapes():
    from cinedub.training.actor import pitch_shift_bins, time_stretch

    mel = torch.arange(100.0).repeat(50, 1)  # n mel
    assert torch.equal(pitch_shift_bins(mel, 2)[:, 2:], mel[:, :-2]) and pitch_shift_bins(mel, -3).shape == mel.shape
    assert time_stretch(mel, 1.25).shape == (40, 100) and time_stretch(mel, 0.8).shape == (62, 100)


def test_pitch_shift_moves_real_speech_and_keeps_its_length(librivox_wav):
    """The F5 actor's pitch shift (the DiT has no pitch control): WORLD with F0 scaled, on real speech."""
    from cinedub import media
    from cinedub.speech.measure import measure_prosody
    from cinedub.speech.world import shift_pitch

    audio, sr = media.load_audio(librivox_wav)
    audio = audio[: 4 * sr]
    before = measure_prosody(audio, sr)
    for semitones in (3.0, -2.0):
        shifted = shift_pitch(audio, sr, semitones)
        after = measure_prosody(shifted, sr)
        measured = 12.0 * np.log2(after["f0_median_hz"] / before["f0_median_hz"])
        print(f"asked {semitones:+.1f} st, measured {measured:+.2f} st")
        assert len(shifted) == len(audio) and abs(measured - semitones) < 0.5
        assert abs(after["speech_duration"] - before["speech_duration"]) < 0.05


def test_actor_applies_the_directors_pitch_shift():
    from cinedub.speech.f5.actor import F5Actor

    actor = F5Actor("tiny", config=SampleConfig(nfe=2))
    direction = Direction(window=Window(start=0.0, end=0.6), voice="voice.wav", pitch_shift=4.0)
    take = actor.perform(Line(text="Up."), direction, voice(), ref_text="a test voice")
    plain = actor.perform(Line(text="Up."), direction.model_copy(update={"pitch_shift": 0.0}), voice(),
                          ref_text="a test voice")  # fmt: skip
    assert take.applied["pitch_shift_semitones"] == 4.0 and "pitch_shift" in take.timings
    assert len(take.audio) == len(plain.audio) and not np.allclose(take.audio, plain.audio)


def test_visual_features_from_real_perception(carphone_clip):
    """The speaker's mouth, as perception saw it on real footage, becomes the ControlNet's visual columns."""
    from cinedub.agents.perception import perceive
    from cinedub.speech.actor import VISUAL_FEATURES, visual_features

    perception = perceive(carphone_clip, fps=10)
    features, fps = visual_features(perception)
    assert features.shape == (perception.num_frames, len(VISUAL_FEATURES)) and fps == perception.sample_fps
    mouth = features[:, VISUAL_FEATURES.index("mouth_open")]
    present = features[:, VISUAL_FEATURES.index("face_present")]
    assert present.mean() > 0.8 and mouth[present > 0].std() > 0.005  # a talking mouth moves
    # Every column is measured: each moves over the frames the face is seen, and is 0 where it is not.
    seen = features[present > 0]
    spread = {name: float(seen[:, i].std()) for i, name in enumerate(VISUAL_FEATURES)
              if name != "face_present"}  # fmt: skip
    assert all(value > 1e-3 for value in spread.values()), spread
    assert np.all(features[present == 0] == 0)
    assert np.all(np.abs(seen[:, VISUAL_FEATURES.index("head_yaw")]) <= 1.0)
    # the jaw drops as the lips part
    jaw = seen[:, VISUAL_FEATURES.index("jaw_open")]
    assert np.corrcoef(jaw, seen[:, VISUAL_FEATURES.index("mouth_open")])[0, 1] > 0.3
    silent = perception.model_copy(update={"speaker_id": None})
    assert visual_features(silent) is None


def test_the_director_gives_the_f5_actor_its_conclusion_and_the_speakers_mouth(sample, tmp_path):
    """Through the whole graph on real footage: the ControlNet is conditioned on the director's conclusion
    and on the speaker's mouth as perception saw it (random tiny weights: the audio itself means nothing)."""
    from cinedub.studio import Studio

    result = Studio(actor="f5:tiny_control,nfe=2").dub(sample.clip, [Line(text=sample.line)], sample.voice,
                                                        out=tmp_path / "dub")  # fmt: skip
    used = result.take.applied["lines"][0]["conditions"]
    assert used["visual"] is True  # the man in the car talks: his mouth features reach the ControlNet
    assert used["labels"]["scene_type"] == label_ids(scene_type="monologue")[0]
