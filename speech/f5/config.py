"""Model dimensions and the table of known configurations (whisper-style: `load_model(name)`).

Names and defaults follow F5-TTS v1 (src/f5_tts/configs/F5TTS_v1_Base.yaml) so a released checkpoint
loads with its own parameter names; the ControlNet / guidance fields are cinedub's additions and are
zero-sized (off) unless a configuration asks for them.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from cinedub.labels import AGE_GROUPS, EMOTIONS, GENDERS, SCENE_TYPES

# The mel every F5-TTS v1 checkpoint and the charactr/vocos-mel-24khz vocoder use.
SAMPLE_RATE = 24_000
HOP_LENGTH = 256
WIN_LENGTH = 1024
N_FFT = 1024
N_MELS = 100


@dataclass(frozen=True)
class ModelDims:
    """Everything needed to build the network; saved beside the weights in cinedub's checkpoints."""

    # F5-TTS DiT backbone (its names)
    dim: int = 1024
    depth: int = 22
    heads: int = 16
    dim_head: int = 64
    ff_mult: int = 2
    mel_dim: int = N_MELS
    text_num_embeds: int = 2545  # F5 v1 Base: len(Emilia_ZH_EN_pinyin/vocab.txt)
    text_dim: int = 512
    conv_layers: int = 4
    qk_norm: str | None = None  # None | "rms_norm"
    pe_attn_head: int | None = None
    long_skip_connection: bool = False
    dropout: float = 0.1
    # cinedub: the ControlNet branch (0 blocks = no branch)
    control_blocks: int = 0
    visual_dim: int = 8  # mouth activity + face-mesh features per video frame (see speech.actor.VISUAL_FEATURES)
    clip_dim: int = 0  # a CLIP-like image embedding per video frame, when the user has such an encoder
    reference_dim: int = 2 * N_MELS + 4  # retrieved references: mean / std log-mel + 4 prosody numbers
    # cinedub: heads trained beside the flow
    duration_head: bool = True
    emotion_classes: int = len(EMOTIONS)
    classifier_dim: int = 256  # width of the emotion classifier on noisy mels

    @property
    def inner_dim(self) -> int:
        return self.heads * self.dim_head

    def replace(self, **changes) -> ModelDims:
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict) -> ModelDims:
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in values.items() if k in known})


@dataclass(frozen=True)
class SampleConfig:
    """How a take is sampled (F5-TTS's defaults: 32 NFE, CFG 2, sway -1, EPSS for low NFE)."""

    nfe: int = 32
    cfg_script: float = 2.0  # F5's cfg_strength: guidance toward text + audio prompt
    cfg_video: float = 1.0  # DeepDubber eq. 20: extra guidance toward the video features
    cfg_conclusion: float = 1.0  # ... and toward the director's conclusion / references
    sway: float | None = -1.0
    use_epss: bool = True
    emotion_alpha: float = 0.5  # EmoDubber positive guidance toward the target emotion (at intensity 0.5;
    emotion_beta: float = 0.25  # ... negative guidance away from the others   used only with a trained classifier)
    seed: int | None = 0


CONFIGS: dict[str, ModelDims] = {
    # F5-TTS v1 Base, 337 M parameters (the released model_1250000.safetensors)
    "F5TTS_v1_Base": ModelDims(),
    # F5-TTS v1 Small (F5TTS_v1_Small.yaml)
    "F5TTS_v1_Small": ModelDims(dim=768, depth=18, heads=12, text_dim=512, conv_layers=4),
    # v1 Base with cinedub's ControlNet over its first 6 blocks (DeepDubber-V1's actor)
    "F5TTS_v1_Base_control": ModelDims(control_blocks=6),
    # tiny ones for tests and CPU experiments
    "tiny": ModelDims(dim=64, depth=4, heads=4, dim_head=16, ff_mult=2, text_num_embeds=256, text_dim=32,
                      conv_layers=2, dropout=0.0, classifier_dim=64),  # fmt: skip
    "tiny_control": ModelDims(dim=64, depth=4, heads=4, dim_head=16, ff_mult=2, text_num_embeds=256, text_dim=32,
                              conv_layers=2, dropout=0.0, control_blocks=2, classifier_dim=64),  # fmt: skip
}

# The director's label vocabularies; the ControlNet reserves index 0 of each for "not given".
LABEL_TABLES: dict[str, tuple[str, ...]] = {
    "scene_type": SCENE_TYPES,
    "gender": GENDERS,
    "age_group": AGE_GROUPS,
    "emotion": EMOTIONS,
}

__all__ = ["CONFIGS", "HOP_LENGTH", "LABEL_TABLES", "ModelDims", "N_FFT", "N_MELS", "SAMPLE_RATE", "SampleConfig",
           "WIN_LENGTH"]  # fmt: skip
