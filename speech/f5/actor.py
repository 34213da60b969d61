"""The `f5:CHECKPOINT` actor: an F5-TTS-compatible DiT (with cinedub's ControlNet when the checkpoint has
one) speaks the line in the reference voice, exactly as long as the direction's window.

text -> F5 ids with the checkpoint's vocabulary; the reference voice -> the mel prompt (and its transcript:
a sidecar VOICE.txt, else ASR when installed); frames from direction.window.duration (the director has
already applied the pace to that window: `agents.windows.target_window`, so the speech fills it); the
director's conclusion, the direction's emotion / intensity and references, and per-frame visual features
-> the ControlNet's conditions and the emotion guidance.

A line's natural length in the voice (`natural_seconds`) comes from the checkpoint's duration head once it
has been trained: the director sets a line's window from it where nothing on screen does (free narration).
"""

from __future__ import annotations

import logging
import time
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np
import torch

from cinedub import media
from cinedub.errors import CinedubError
from cinedub.labels import EMOTIONS
from cinedub.speech.actor import Shot
from cinedub.speech.world import shift_pitch
from cinedub.types import Conclusion, Direction, Line, Take, Voice

from .cfm import CFM
from .checkpoint import load_model
from .config import CONFIGS, HOP_LENGTH, SAMPLE_RATE, SampleConfig
from .controlnet import Conditions, label_ids, to_mel_rate
from .mel import frames_for
from .references import REFERENCE_PART, reference_condition
from .text import tokenize
from .vocoder import load_vocoder

log = logging.getLogger(__name__)
TARGET_RMS = 0.1  # F5's loudness for the prompt; the take is brought back to the voice's level
MAX_PROMPT_S = 12.0


def reference_transcript(voice: Voice) -> tuple[str, str]:
    """(transcript of the reference voice, where it came from)."""
    sidecar = Path(voice.path).with_suffix(".txt")
    if sidecar.is_file():
        return " ".join(sidecar.read_text(encoding="utf-8").split()), "sidecar"
    try:
        from cinedub.asr import transcribe

        return transcribe(voice.audio, voice.sample_rate), "asr"
    except Exception as err:  # no ASR installed: F5 still runs, less well
        log.warning("no transcript for the reference voice (%s); the prompt's text is left empty", err)
        return "", "none"


class F5Actor:
    """Actor protocol: perform(line, direction, voice) -> Take of exactly direction.window.duration, the
    speech filling the window (the director gives the window with the pace already applied)."""

    def __init__(self, checkpoint: str | Path | CFM, *, vocab: str | Path | None = None,
                 vocoder: str | Path | None = None, config: SampleConfig | None = None,
                 device: str = "cpu", control_blocks: int | None = None):  # fmt: skip
        overrides = {} if control_blocks is None else {"control_blocks": control_blocks}
        if isinstance(checkpoint, CFM):
            self.model, self.source = checkpoint, "in-memory model"
        else:
            self.model = load_model(checkpoint, device=device, vocab=vocab, **overrides)
            self.source = str(checkpoint) + (" (random weights)" if str(checkpoint) in CONFIGS else "")
        self.model.eval()
        near = Path(checkpoint).parent if isinstance(checkpoint, (str, Path)) and str(checkpoint) not in CONFIGS else None
        self.vocoder = load_vocoder(vocoder, near=near)
        if self.vocoder.name != "vocos":
            log.warning("no Vocos weights found: takes are vocoded with Griffin-Lim (set CINEDUB_VOCOS)")
        self.config = config or SampleConfig()
        self.device = device
        trained = set(getattr(self.model, "trained_parts", []))
        self.classifier_trained = "emotion_classifier" in trained
        self.duration_trained = "duration_head" in trained and self.model.duration_head is not None
        self.references_trained = REFERENCE_PART in trained

    # ----------------------------------------------------------------------------------------------
    def conditions(self, direction: Direction, conclusion: Conclusion | None, total: int, prompt: int,
                   visual: np.ndarray | None, visual_fps: float | None) -> tuple[Conditions, dict]:  # fmt: skip
        """The ControlNet's conditions for one take (batch 1) and what went into them."""
        dims = self.model.dims
        c = conclusion
        ids = label_ids(scene_type=c.scene_type if c else None, gender=c.gender if c else None,
                        age_group=c.age_group if c else None, emotion=direction.emotion)  # fmt: skip
        # the same vector stage 2 of training computes from a manifest row's references; a branch trained
        # without references only ever saw the no-reference condition (zeros), so it gets that
        given = direction.references if self.references_trained else []
        vector, references = reference_condition(given, self.model.mel_spec, mel_dim=dims.mel_dim)
        reference = torch.from_numpy(vector)[None]
        vis = None
        if visual is not None and visual_fps:
            # visual holds the whole clip from 0 s; the take covers the direction's window of it
            feats = to_mel_rate(visual, visual_fps, total - prompt, start=direction.window.start)  # window frames, f
            vis = torch.zeros(1, total, feats.shape[1])
            vis[0, prompt:] = torch.from_numpy(feats)
        cond = Conditions(labels=torch.tensor([ids]), intensity=torch.tensor([direction.intensity]), visual=vis,
                          reference=reference)  # fmt: skip
        used = {"labels": dict(zip(("scene_type", "gender", "age_group", "emotion"), ids)), "references": references,
                "visual": vis is not None}  # fmt: skip
        if direction.references and not self.references_trained:
            used["references_ignored"] = "the checkpoint's ControlNet was not trained on references"
        return cond, used

    def natural_seconds(self, text: str, voice: Voice) -> float | None:
        """How long `text` takes spoken in `voice`, by the trained duration head; None when the checkpoint's
        head was never trained (the director then estimates from the text). The head reads the text alone
        and the voice's mean log-mel at its own level, as it was trained (on each utterance's own mel)."""
        if not self.duration_trained or self.model.vocab_char_map is None:
            return None
        audio = self._prompt_audio(voice)
        with torch.no_grad():
            wave = torch.from_numpy(audio)[None].to(self.model.device)
            prompt = self.model.mel_spec(wave).permute(0, 2, 1)  # 1 n mel
            ids = tokenize([text], self.model.vocab_char_map).to(prompt.device)
            frames = int(self.model.duration_head.frames(ids, prompt)[0])
        return frames * HOP_LENGTH / SAMPLE_RATE

    @staticmethod
    def _prompt_audio(voice: Voice) -> np.ndarray:
        """The reference voice at 24 kHz, at most MAX_PROMPT_S, at its own level."""
        audio = media.resample(np.asarray(voice.audio, np.float32), voice.sample_rate, SAMPLE_RATE)
        return audio[: int(MAX_PROMPT_S * SAMPLE_RATE)]

    def perform(self, line: Line, direction: Direction, voice: Voice, *, shot: Shot | None = None,
                ref_text: str | None = None) -> Take:  # fmt: skip
        shot = shot or Shot()
        timings: dict[str, float] = {}
        start = time.perf_counter()
        cfg = self.config
        # the prompt: the reference voice at 24 kHz, F5's loudness, at most 12 s
        audio = self._prompt_audio(voice)
        rms = float(np.sqrt(np.mean(np.square(audio)))) if len(audio) else 0.0
        if 0 < rms < TARGET_RMS:
            audio = audio * (TARGET_RMS / rms)
        prompt_mel = self.model.mel_spec(torch.from_numpy(audio)[None]).permute(0, 2, 1)  # 1 n mel
        prompt = prompt_mel.shape[1]
        source = "given"
        if ref_text is None:
            ref_text, source = reference_transcript(voice)
        if ref_text and len(ref_text[-1].encode("utf-8")) == 1:
            ref_text += " "
        text = tokenize([ref_text + line.text], self.model.vocab_char_map)
        timings["prepare"] = time.perf_counter() - start

        # The speech fills the window: direction.pace is already in it (the director's target_window), and
        # the DiT speaks the line at whatever rate its length asks for.
        speech = window = frames_for(direction.window.duration)
        total = prompt + speech
        conditions, used = self.conditions(direction, shot.conclusion, total, prompt, shot.visual, shot.visual_fps)
        control = self.model.controlnet is not None
        guide = self.classifier_trained and (cfg.emotion_alpha > 0 or cfg.emotion_beta > 0)
        strength = 2.0 * direction.intensity  # intensity 0.5 -> the configured alpha / beta
        t0 = time.perf_counter()
        mel, _ = self.model.sample(
            prompt_mel, text, total, steps=cfg.nfe, cfg_strength=cfg.cfg_script,
            cfg_video=cfg.cfg_video if control else 0.0, cfg_conclusion=cfg.cfg_conclusion if control else 0.0,
            sway_sampling_coef=cfg.sway, use_epss=cfg.use_epss, seed=direction.seed if cfg.seed is not None else None,
            conditions=conditions if control else None,
            emotion=torch.tensor([EMOTIONS.index(direction.emotion)]) if guide else None,
            emotion_alpha=cfg.emotion_alpha * strength, emotion_beta=cfg.emotion_beta * strength,
            exact_duration=True, keep_trajectory=False,
        )  # fmt: skip
        timings["sample"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        generated = mel[:, prompt:total].permute(0, 2, 1)  # 1 mel speech
        wave = self.vocoder(generated)[0].float().cpu().numpy()
        timings["vocode"] = time.perf_counter() - t0
        if direction.pitch_shift:
            t0 = time.perf_counter()
            wave = shift_pitch(wave, SAMPLE_RATE, direction.pitch_shift)  # the DiT has no pitch control of its own
            timings["pitch_shift"] = time.perf_counter() - t0
        if 0 < rms < TARGET_RMS:
            wave = wave * (rms / TARGET_RMS)
        wave = wave * (10.0 ** (direction.loudness / 20.0))
        samples = int(round(direction.window.duration * SAMPLE_RATE))
        out = np.zeros(samples, np.float32)
        out[: min(samples, len(wave))] = wave[:samples]
        timings["total"] = time.perf_counter() - start
        applied = {
            "backend": "f5", "checkpoint": self.source, "vocoder": self.vocoder.name, "nfe": cfg.nfe,
            "cfg": {"script": cfg.cfg_script, "video": cfg.cfg_video if control else None,
                    "conclusion": cfg.cfg_conclusion if control else None},
            "sway": cfg.sway, "frames": {"prompt": prompt, "speech": speech, "window": window, "hop": HOP_LENGTH},
            "ref_text": source, "controlnet": control, "conditions": used if control else None,
            "emotion_guidance": ({"alpha": cfg.emotion_alpha * strength, "beta": cfg.emotion_beta * strength}
                                 if guide else "off (no trained emotion classifier)" if not self.classifier_trained else "off"),
            "loudness_db": direction.loudness, "pitch_shift_semitones": direction.pitch_shift,
            "seed": direction.seed,
        }  # fmt: skip
        return Take(audio=np.clip(out, -1.0, 1.0).astype(np.float32), sample_rate=SAMPLE_RATE, timings=timings,
                    applied=applied)  # fmt: skip


def from_spec(argument: str) -> F5Actor:
    """`f5:CHECKPOINT[,key=value...]` -> an F5Actor. Keys: nfe, cfg, cfg_video, cfg_conclusion, sway, alpha, beta,
    vocoder, vocab, control (ControlNet blocks to add to a plain F5 checkpoint). CHECKPOINT may be a config
    name (e.g. `tiny`) for random weights."""
    path, *options = [part.strip() for part in argument.split(",")]
    if not path:
        raise CinedubError("the f5 actor needs a checkpoint: --actor f5:PATH (a .safetensors or .pt file)")
    fields = {"nfe": ("nfe", int), "cfg": ("cfg_script", float), "cfg_video": ("cfg_video", float),
              "cfg_conclusion": ("cfg_conclusion", float), "sway": ("sway", float), "alpha": ("emotion_alpha", float),
              "beta": ("emotion_beta", float)}  # fmt: skip
    config, kwargs = SampleConfig(), {}
    for option in options:
        key, _, value = option.partition("=")
        try:
            if key in fields:
                name, kind = fields[key]
                config = replace(config, **{name: kind(value)})
            elif key in ("vocoder", "vocab"):
                kwargs[key] = value
            elif key == "control":
                kwargs["control_blocks"] = int(value)
            else:
                raise CinedubError(f"unknown f5 actor option {key!r} (known: {', '.join([*fields, 'vocoder', 'vocab', 'control'])})")
        except ValueError:
            raise CinedubError(f"f5 actor option {option!r}: {value!r} is not a number") from None
    if path not in CONFIGS and not Path(path).is_file():
        raise CinedubError(f"no F5 checkpoint at {path}")
    log.info("f5 actor %s %s", path, asdict(config))
    return F5Actor(path, config=config, **kwargs)
