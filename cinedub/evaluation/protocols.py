"""What each reported number is, and how it was measured: the one table report and figures read."""

from __future__ import annotations

import importlib.metadata
from dataclasses import dataclass

from cinedub.asr import ASR_NAME


def _version(package: str) -> str:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return "?"


SPEAKER_MODEL = f"resemblyzer {_version('resemblyzer')} GE2E d-vector (256-d)"
MCD_PROTOCOL = (f"pymcd {_version('pymcd')} (22.05 kHz, WORLD, mcep order 13, alpha 0.65, fastdtw over c1-c13; "
                "reference = ground-truth audio)")  # fmt: skip
EMO_PROTOCOL = ("prosody-based (F0 mean and range, energy, rate vs a neutral take of the same line): no "
                "speech-emotion-recognition weights exist offline, so no EMO-ACC / EMO-SIM")  # fmt: skip
SYNC_PROTOCOL = ("speech-window agreement: the take's speech activity vs the main speaker's mouth activity "
                 "(perception); not SyncNet, so no LSE-C / LSE-D")  # fmt: skip
WER_PROTOCOL = (f"{ASR_NAME}; lowercase, punctuation stripped (apostrophes kept), digits to words; "
                "jiwer.wer(reference, hypothesis); mean of per-utterance WER x100")  # fmt: skip


@dataclass(frozen=True)
class Metric:
    key: str
    label: str  # as the field's tables print it
    unit: str
    protocol: str
    better: str  # "lower" | "higher" | "closer to 0" | "-"
    model: str = ""  # the short name of the model / protocol, for the Markdown table


_PYMCD = f"pymcd {_version('pymcd')}"
_DETECTOR = "energy speech detector"
_SYNC = "speech-window agreement (not SyncNet)"
_PROSODY = "prosody (no SER weights offline)"
_MEASURE = EMO_PROTOCOL + "; speech.measure.measure_prosody"

METRICS: tuple[Metric, ...] = (
    Metric("wer", "WER", "%", WER_PROTOCOL, "lower", ASR_NAME),
    Metric("secs", "SECS", "cos x100", f"{SPEAKER_MODEL}, cosine of generated vs reference voice x100", "higher",
           SPEAKER_MODEL),
    Metric("mcd_dtw", "MCD-DTW", "dB", MCD_PROTOCOL, "lower", _PYMCD),
    Metric("mcd_dtw_sl", "MCD-DTW-SL", "dB", MCD_PROTOCOL + "; x max(N,M)/min(N,M) frames", "lower", _PYMCD),
    Metric("duration_error_ms", "duration error", "ms",
           "|speech span - target window| (speech span: the actor's energy detector, speech.measure)", "lower",
           _DETECTOR),
    Metric("onset_error_ms", "onset error", "ms", "speech start - window start", "closer to 0", _DETECTOR),
    Metric("sync_iou", "speech/mouth IoU", "", SYNC_PROTOCOL, "higher", _SYNC),
    Metric("sync_offset_ms", "speech/mouth offset", "ms",
           SYNC_PROTOCOL + "; lag of best correlation, + = speech after mouth", "closer to 0", _SYNC),
    Metric("sync_corr", "speech/mouth correlation", "r", SYNC_PROTOCOL + "; normalised cross-correlation at the best "
           "offset (a low value means the offset says little)", "higher", _SYNC),
    Metric("f0_mean_hz", "F0 mean", "Hz", _MEASURE, "-", _PROSODY),
    Metric("f0_median_hz", "F0 median", "Hz", _MEASURE, "-", _PROSODY),
    Metric("f0_range_st", "F0 range", "st", _MEASURE + "; 5th-95th percentile", "-", _PROSODY),
    Metric("energy_db", "energy", "dBFS", _MEASURE + "; active-speech RMS", "-", _PROSODY),
    Metric("rate_wps", "rate", "words/s", EMO_PROTOCOL + "; words of the line / speech span", "-", _PROSODY),
    Metric("articulation_sps", "articulation rate", "syll/s",
           EMO_PROTOCOL + "; syllables of the line / Silero VAD speech seconds (pauses left out)", "-", _PROSODY),
    Metric("f0_shift_st", "F0 vs neutral", "st", EMO_PROTOCOL + "; 12 log2 of the F0 medians' ratio", "-", _PROSODY),
    Metric("f0_range_delta_st", "F0 range vs neutral", "st", EMO_PROTOCOL, "-", _PROSODY),
    Metric("energy_delta_db", "energy vs neutral", "dB", EMO_PROTOCOL, "-", _PROSODY),
    Metric("rate_ratio", "rate vs neutral", "x", EMO_PROTOCOL, "-", _PROSODY),
    Metric("articulation_ratio", "articulation vs neutral", "x", EMO_PROTOCOL, "-", _PROSODY),
)  # fmt: skip
METRIC = {m.key: m for m in METRICS}
SCENE_PROTOCOL = "exact match of the scene type (A dialogue, B monologue, C narration); Ave.Acc, Ave.Recall x100"


def models() -> dict[str, str]:
    """The models and protocols behind a run's numbers (the summary and the Markdown name them)."""
    return {"asr": ASR_NAME, "speaker": SPEAKER_MODEL, "mcd": MCD_PROTOCOL, "emotion": EMO_PROTOCOL,
            "sync": SYNC_PROTOCOL, "wer": WER_PROTOCOL, "scene_type": SCENE_PROTOCOL}  # fmt: skip
