"""cinedub's F5 actor computes the same numbers as the reference implementation (the f5-tts package).

CI installs f5-tts (and moves torchaudio's CUDA-linked .so files aside, scripts/setup.sh); the importorskip
is only a guard for machines without it.
"""

from __future__ import annotations

import os

import pytest
import torch

os.environ.setdefault("WANDB_MODE", "disabled")
f5_model = pytest.importorskip("f5_tts.model", reason="needs the f5-tts package (pip install f5-tts==1.1.22)")

from cinedub.speech.f5 import CONFIGS, load_model  # noqa: E402
from cinedub.speech.f5.cfm import CFM  # noqa: E402
from cinedub.speech.f5.checkpoint import infer_dims  # noqa: E402

DIMS = CONFIGS["tiny"]
ATOL = 1e-5


def reference_cfm(seed: int = 0):
    """f5-tts's CFM around a tiny DiT with every weight random (the zero-initialised ones too)."""
    torch.manual_seed(seed)
    dit = f5_model.DiT(dim=DIMS.dim, depth=DIMS.depth, heads=DIMS.heads, dim_head=DIMS.dim_head, ff_mult=DIMS.ff_mult,
                       mel_dim=DIMS.mel_dim, text_num_embeds=DIMS.text_num_embeds, text_dim=DIMS.text_dim,
                       conv_layers=DIMS.conv_layers, dropout=0.0)  # fmt: skip
    with torch.no_grad():
        for p in dit.parameters():
            p.add_(0.05 * torch.randn_like(p))
    return f5_model.CFM(transformer=dit).eval()


@pytest.fixture(scope="module")
def pair():
    ref = reference_cfm()
    mine = CFM(dims=DIMS).eval()
    mine.load_state_dict(ref.state_dict(), strict=False)
    missing = [k for k in mine.state_dict() if k.startswith("transformer.") and k not in ref.state_dict()]
    assert not missing
    return ref, mine


@pytest.fixture(scope="module")
def inputs():
    g = torch.Generator().manual_seed(1)
    x, cond = torch.randn(2, 60, 100, generator=g), torch.randn(2, 60, 100, generator=g)
    text = torch.randint(0, 256, (2, 25), generator=g)
    text[1, 18:] = -1
    return x, cond, text, torch.rand(2, generator=g)


def test_state_dict_keys_are_f5s(pair):
    ref, mine = pair
    theirs = set(ref.state_dict())
    ours = {k for k in mine.state_dict() if k.startswith("transformer.")}
    assert ours == theirs  # same names, nothing missing or extra, so released checkpoints load


@pytest.mark.parametrize("flags", [{}, {"drop_text": True}, {"drop_audio_cond": True},
                                   {"drop_text": True, "drop_audio_cond": True}])  # fmt: skip
def test_dit_forward_matches(pair, inputs, flags):
    ref, mine = pair
    x, cond, text, t = inputs
    with torch.no_grad():
        expected = ref.transformer(x, cond, text, t, **flags)
        got = mine.transformer(x, cond, text, t, **flags)
    assert (got - expected).abs().max().item() <= ATOL


def test_dit_forward_matches_with_padding_mask(pair, inputs):
    ref, mine = pair
    x, cond, text, t = inputs
    mask = torch.arange(60)[None] < torch.tensor([60, 44])[:, None]
    with torch.no_grad():
        diff = (mine.transformer(x, cond, text, t, mask=mask) - ref.transformer(x, cond, text, t, mask=mask)).abs().max()
    assert diff.item() <= ATOL


@pytest.mark.parametrize("steps", [8, 16, 7])  # 16 and 7 use F5's EPSS grids, 8 the uniform one
def test_full_sample_matches_with_fixed_seed(pair, steps):
    ref, mine = pair
    g = torch.Generator().manual_seed(2)
    cond, text = torch.randn(1, 30, 100, generator=g), torch.randint(0, 256, (1, 40), generator=g)
    kwargs = dict(steps=steps, cfg_strength=2.0, sway_sampling_coef=-1.0, seed=7)
    expected, ref_traj = ref.sample(cond, text, 90, **kwargs)
    got, traj = mine.sample(cond, text, 90, **kwargs)
    assert got.shape == expected.shape == (1, 90, 100)
    assert (got - expected).abs().max().item() <= ATOL
    assert (traj - ref_traj).abs().max().item() <= ATOL


def test_batched_sample_with_different_lengths_matches(pair):
    ref, mine = pair
    g = torch.Generator().manual_seed(3)
    cond, text = torch.randn(2, 30, 100, generator=g), torch.randint(0, 256, (2, 40), generator=g)
    text[1, 28:] = -1
    kwargs = dict(lens=torch.tensor([30, 22]), steps=8, cfg_strength=2.0, sway_sampling_coef=-1.0, seed=5)
    expected, _ = ref.sample(cond, text, torch.tensor([80, 66]), **kwargs)
    got, _ = mine.sample(cond, text, torch.tensor([80, 66]), **kwargs)
    assert (got - expected).abs().max().item() <= ATOL


def test_mel_matches_f5_melspec():
    from f5_tts.model.modules import MelSpec as F5MelSpec

    wave = 0.1 * torch.randn(2, 24_000, generator=torch.Generator().manual_seed(4))
    ours = CFM(dims=DIMS).mel_spec(wave)
    assert ours.shape == (2, 100, 94)
    assert (ours - F5MelSpec()(wave)).abs().max().item() <= 1e-4


def test_text_symbols_match_f5(tmp_path):
    from f5_tts.model.utils import convert_char_to_pinyin

    from cinedub.speech.f5.text import to_symbols

    for line in ["I told you already, I am not driving back to the city tonight.", "Hello,world;3.5kg it's 10:30",
                 'He said "no": fine.']:  # fmt: skip
        assert to_symbols(line) == convert_char_to_pinyin([line])[0]


def test_f5_checkpoints_load(tmp_path, pair, inputs):
    """A released-style safetensors (`ema_model.` keys) and a trainer .pt load, with the vocab.txt beside them."""
    from safetensors.torch import save_file

    from cinedub.speech.f5.text import build_vocab, write_vocab

    write_vocab(build_vocab(["the quick brown fox"]), tmp_path / "vocab.txt")
    ref, _ = pair
    state = {f"ema_model.{k}": v.contiguous() for k, v in ref.state_dict().items()}
    save_file({**state, "ema_model.initted": torch.tensor(True), "ema_model.step": torch.tensor(5)},
              str(tmp_path / "model_tiny.safetensors"))  # fmt: skip
    torch.save({"model_state_dict": ref.state_dict(), "ema_model_state_dict": state, "update": 5},
               tmp_path / "model_last.pt")  # fmt: skip
    x, cond, text, t = inputs
    with torch.no_grad():
        expected = ref.transformer(x, cond, text, t)
        for name in ("model_tiny.safetensors", "model_last.pt"):
            model = load_model(tmp_path / name)
            assert model.dims.dim == DIMS.dim and model.dims.depth == DIMS.depth and model.dims.heads == DIMS.heads
            assert model.vocab_char_map is not None and model.vocab_char_map[" "] == 0 and len(model.vocab_char_map) == 16
            assert (model.transformer(x, cond, text, t) - expected).abs().max().item() <= ATOL


def test_unsafe_pickle_is_refused(tmp_path):
    from cinedub.errors import CinedubError

    class Evil:
        def __reduce__(self):
            return (os.system, ("echo owned",))

    torch.save({"model_state_dict": Evil()}, tmp_path / "evil.pt")
    with pytest.raises(CinedubError, match="safely"):
        load_model(tmp_path / "evil.pt")


def test_v1_base_dims_are_inferred():
    from f5_tts.model import DiT as F5DiT

    cfg = dict(dim=1024, depth=22, heads=16, ff_mult=2, text_dim=512, conv_layers=4)  # F5TTS_v1_Base.yaml
    with torch.device("meta"):
        state = {f"transformer.{k}": v for k, v in F5DiT(**cfg, text_num_embeds=2545, mel_dim=100).state_dict().items()}
    dims = infer_dims(state)
    assert (dims.dim, dims.depth, dims.heads, dims.ff_mult, dims.text_dim, dims.conv_layers, dims.text_num_embeds) == \
        (1024, 22, 16, 2, 512, 4, 2545)  # fmt: skip
    assert dims == CONFIGS["F5TTS_v1_Base"].replace(duration_head=False, emotion_classes=0)


def test_vocos_matches_the_vocos_package(tmp_path):
    vocos = pytest.importorskip("vocos", reason="the vocos package (an f5-tts dependency)")
    import yaml

    from cinedub.speech.f5.vocoder import load_vocos

    config = {"feature_extractor": {"class_path": "vocos.feature_extractors.MelSpectrogramFeatures",
                                    "init_args": {"sample_rate": 24000, "n_fft": 1024, "hop_length": 256, "n_mels": 100}},
              "backbone": {"class_path": "vocos.models.VocosBackbone",
                           "init_args": {"input_channels": 100, "dim": 64, "intermediate_dim": 128, "num_layers": 2}},
              "head": {"class_path": "vocos.heads.ISTFTHead",
                       "init_args": {"dim": 64, "n_fft": 1024, "hop_length": 256, "padding": "same"}}}  # fmt: skip
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config))
    torch.manual_seed(0)
    reference = vocos.Vocos.from_hparams(str(tmp_path / "config.yaml")).eval()
    torch.save(reference.state_dict(), tmp_path / "pytorch_model.bin")  # the charactr/vocos-mel-24khz layout
    ours = load_vocos(tmp_path)
    mel = torch.randn(1, 100, 40) - 3
    with torch.no_grad():
        assert (ours(mel) - reference.decode(mel)).abs().max().item() <= 1e-5
