"""The ControlNet's reference condition: references -> one vector, computed here for both the actor (the
director's retrieved references) and stage 2 of `cinedub train actor` (a manifest row's references), so
the branch is trained on exactly what it is fed at inference.

Per reference: its audio at 24 kHz through the model's own log-mel -> mean and std per mel bin (an audio
embedding); its prosody as the library stores it (`speech.measure.reference_prosody`, measured here on
the same audio when the reference carries none). The references are averaged with their retrieval scores.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np
import torch

from cinedub import media
from cinedub.errors import CinedubError
from cinedub.speech.measure import reference_prosody
from cinedub.types import Reference

from .config import SAMPLE_RATE

log = logging.getLogger(__name__)

# The reference prosody the ControlNet reads: keys of speech.measure.reference_prosody (what the library
# stores per clip), each brought to roughly unit scale around a typical adult voice.
PROSODY_KEYS = ("f0_mean_hz", "f0_range_semitones", "energy_db", "speaking_rate_sps")
PROSODY_TYPICAL = {"f0_mean_hz": 150.0, "f0_range_semitones": 6.0, "energy_db": -25.0, "speaking_rate_sps": 4.0}
MIN_WEIGHT = 1e-3  # a reference retrieved with score 0 still counts a little
# Listed among a checkpoint's trained parts once stage 2 trained the branch on references: the actor feeds
# references only to such a branch (any other has only seen the no-reference condition, zeros).
REFERENCE_PART = "controlnet.reference"


def reference_features(mels: list[np.ndarray], prosody: list[dict[str, float]] | None = None,
                       weights: list[float] | None = None, *, mel_dim: int = 100) -> np.ndarray:  # fmt: skip
    """Retrieved references -> one (2 mel_dim + 4,) vector: weighted mean of each reference's log-mel mean and
    std (an audio embedding) and its prosody (PROSODY_KEYS, scaled; a number not measured reads as typical),
    as ModelDims.reference_dim. No references: zeros."""
    if not mels:
        return np.zeros(2 * mel_dim + len(PROSODY_KEYS), np.float32)
    weights = np.asarray(weights if weights is not None else [1.0] * len(mels), np.float64)
    weights = weights / max(weights.sum(), 1e-8)
    rows = []
    for i, mel in enumerate(mels):  # mel: (n, mel_dim)
        p = {**PROSODY_TYPICAL, **{k: v for k, v in ((prosody or [{}] * len(mels))[i] or {}).items() if v}}
        typical = PROSODY_TYPICAL
        pros = [np.log(p["f0_mean_hz"] / typical["f0_mean_hz"]), p["f0_range_semitones"] / typical["f0_range_semitones"] - 1.0,
                (p["energy_db"] - typical["energy_db"]) / 10.0, p["speaking_rate_sps"] / typical["speaking_rate_sps"] - 1.0]  # fmt: skip
        rows.append(np.concatenate([mel.mean(0), mel.std(0), np.asarray(pros)]))
    return (np.stack(rows) * weights[:, None]).sum(0).astype(np.float32)


def reference_mel_and_prosody(reference: Reference,
                               mel_spec: torch.nn.Module) -> tuple[np.ndarray, dict[str, float]]:  # fmt: skip
    """One reference's log-mel (n, mel) at 24 kHz and its prosody (the stored one, else measured as the
    library measures it: on the recording at its own rate, with the reference's line when known).
    CinedubError when its audio cannot be read."""
    audio, rate = media.load_audio(reference.audio)
    prosody = dict(reference.prosody) or reference_prosody(audio, rate, reference.text or None)
    with torch.no_grad():
        wave = torch.from_numpy(media.resample(audio, rate, SAMPLE_RATE))[None]
        mel = mel_spec(wave)[0].T.float().cpu().numpy()
    return mel, prosody


def reference_condition(references: Sequence[Reference], mel_spec: torch.nn.Module, *, mel_dim: int,
                        strict: bool = False) -> tuple[np.ndarray, int]:  # fmt: skip
    """(the ControlNet's reference vector, how many references went into it). An unreadable reference is
    skipped with a warning (the actor: a library entry whose file went away), or raises with `strict`
    (training: a manifest naming a file that is not there)."""
    mels, prosody, weights = [], [], []
    for ref in references:
        try:
            mel, measured = reference_mel_and_prosody(ref, mel_spec)
        except CinedubError as err:
            if strict:
                raise CinedubError(f"reference {ref.audio}: {err}") from None
            log.warning("reference %s skipped: %s", ref.clip_id, err)
            continue
        mels.append(mel), prosody.append(measured), weights.append(max(ref.score, MIN_WEIGHT))
    return reference_features(mels, prosody, weights, mel_dim=mel_dim), len(mels)
