"""cinedub's neural actor: an F5-TTS v1-compatible DiT with conditional flow matching, a ControlNet for the
director's conditions, multi-condition CFG and emotion-intensity guidance (GitHub issue 5).

    from cinedub.speech.f5 import load_model
    model = load_model("F5TTS_v1_Base")            # random weights, a config from CONFIGS
    model = load_model("model_1250000.safetensors")  # an F5-TTS release, with its vocab.txt beside it
"""

from .cfm import CFM, timesteps
from .checkpoint import load_model, save_checkpoint
from .config import CONFIGS, HOP_LENGTH, N_MELS, SAMPLE_RATE, ModelDims, SampleConfig
from .controlnet import Conditions, ControlNet, label_ids
from .dit import DiT
from .mel import MelSpec, frames_for
from .text import read_vocab, tokenize
from .vocoder import GriffinLim, Vocos, load_vocoder

__all__ = [
    "CFM", "CONFIGS", "Conditions", "ControlNet", "DiT", "GriffinLim", "HOP_LENGTH", "MelSpec", "ModelDims",
    "N_MELS", "SAMPLE_RATE", "SampleConfig", "Vocos", "frames_for", "label_ids", "load_model", "load_vocoder",
    "read_vocab", "save_checkpoint", "timesteps", "tokenize",
]  # fmt: skip
