"""Where a recording holds speech, by a trained voice-activity model: Silero VAD (`silero-vad`, its ONNX
model, run by onnxruntime; the weights ship inside the wheel, nothing is downloaded, no torchaudio).

An energy detector calls a quiet film line under music or room tone "noise", and music "speech";
Silero is trained on speech in noise and music, so a reference cut from a soundtrack keeps its words.
"""

from __future__ import annotations

import functools
import threading

import numpy as np

from cinedub.media import resample

VAD_SAMPLE_RATE = 16000  # Hz, the rate the model runs at
SPEECH_THRESHOLD = 0.5  # speech probability of a 32 ms window
MIN_SPEECH_MS = 120  # a shorter burst is not a word
MIN_SILENCE_MS = 100  # a pause shorter than this stays inside its speech span
SPEECH_PAD_MS = 30  # each span widened by this much (the model's windows start late on onsets)
PEAK_LEVEL = 0.5  # quiet recordings are scaled to this peak first (the model's scores depend on level)

_lock = threading.Lock()  # the model keeps its recurrent state between windows: one caller at a time


@functools.cache
def _model():
    from silero_vad import load_silero_vad

    return load_silero_vad(onnx=True)


def speech_spans(audio: np.ndarray, sample_rate: int) -> list[tuple[float, float]]:
    """(start, end) seconds of each stretch of speech in mono float `audio`."""
    import torch
    from silero_vad import get_speech_timestamps

    x = resample(np.asarray(audio, np.float32), sample_rate, VAD_SAMPLE_RATE)
    peak = float(np.max(np.abs(x))) if len(x) else 0.0
    if peak <= 0.0:
        return []
    with _lock:
        spans = get_speech_timestamps(torch.from_numpy(x * (PEAK_LEVEL / peak)), _model(),
                                      threshold=SPEECH_THRESHOLD, sampling_rate=VAD_SAMPLE_RATE,
                                      min_speech_duration_ms=MIN_SPEECH_MS, min_silence_duration_ms=MIN_SILENCE_MS,
                                      speech_pad_ms=SPEECH_PAD_MS)  # fmt: skip
    return [(span["start"] / VAD_SAMPLE_RATE, span["end"] / VAD_SAMPLE_RATE) for span in spans]


def spans_mask(spans: list[tuple[float, float]], frames: int, hop_s: float) -> np.ndarray:
    """(frames,) bool: which frames of `hop_s` seconds (frame i starts at i * hop_s) fall in a span."""
    times = np.arange(frames) * hop_s
    mask = np.zeros(frames, bool)
    for start, end in spans:
        mask |= (times >= start) & (times < end)
    return mask
