"""The frame-wise voice map: the reference's own spectral envelopes, chosen for each frame of a take by
what the reader says in it, learned from a parallel reading of the reference's words.

The long-term match (timbre.py: F0 ratio, envelope warp, smooth EQ) moves the reader's average voice to
the reference's; a speaker encoder hears more than the average, namely how each sound is shaped. So:
1. the reference is transcribed (the packaged Whisper tiny.en) and the reader (one map per English reader,
   reader.py) reads the same words at the reference's pace;
2. the reading and the reference are aligned frame by frame (DTW on the Whisper encoder's features, which
   say what is said far more than who says it), which pairs each voiced reading frame with the reference
   frame saying the same sound;
3. a take's voiced frame looks up the MAP_NEIGHBOURS reading frames nearest to it in that space: the
   nearest are found within one voice (the reader's), where spectral distance means phonetic distance,
   which it does not across two voices. The reference envelopes paired with them, averaged, are blended
   into the frame's log envelope (the frame's energy kept): half of it where the first two formants say
   which vowel it is, more above (MAP_BLEND, MAP_BLEND_BAND_HZ), where the voice says whose it is.

A sound the reference never says has nothing to borrow: where a frame's nearest keys are farther than the
same sound said again elsewhere in the reading, the blend fades out (COVERAGE_FADE).

Measured on issue 17's six real voices (bench/voice_identity_bench.py, mean resemblyzer similarity), Piper
joe reading every voice (67.0 for the long-term match alone): the lookup with one blend of 0.5 at every frequency and DTW on mel cepstra
70.5 (71.1 without the coverage fade, which let "then I left" be heard "then I love"), WER unchanged on
neutral lines; aligned on the encoder's features instead, 70.8; with the blend rising to 1.0 over 2-4 kHz,
72.4, the same WER on those lines and the same mean over bench/emotion_wer_bench.py's 42 cells (0.132); rising
over 1.5-3 kHz, 72.8, but more words lost under emotion (0.141) and, on mel-cepstra DTW, "then I left" heard
"then I love" again (the second formant of a front vowel reaches 2 kHz). One blend of 0.6 scores 71.2-71.7
and loses more words; a regression instead (class-wise mean shifts of the log-mel envelope, as in GMM voice
conversion) 70.4; the envelope replaced outright (blend 1.0, no fade) 72.7 at WER 0.02 -> 0.24. Nearest
frames matched across the two voices directly (by Whisper encoder features) scored 69.6 at WER 0.8. With a
map learned for each English reader and the reader chosen by audition (audition.py): 74.7. The reference's
aperiodicity (D4C) looked up and blended the same way, at 0.5 or 1.0: 74.6 (nothing heard).

A reference too short or too unclear to learn from (fewer than MIN_MAP_WORDS words recognised, or
fewer than MIN_MAP_PAIRS voiced pairs) gets no map: the long-term match alone applies.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
from scipy.ndimage import uniform_filter1d

from cinedub.errors import CinedubError
from cinedub.files import atomic_path, write_json

from .audio import FRAME_PERIOD_MS, LENGTH_SCALE_LIMITS, SAMPLE_RATE
from .frontend import check_speakable, estimate_speech_seconds
from .learned import ContentCache, OnDisk
from .reader import ENGLISH, PIPER_JOE, read
from .timbre import SpeechAnalysis, TimbreMatch, analyse_speech, apply_envelope, reader_tempo
from .world import FFT_SIZE

MAP_MEL_BANDS = 40  # lookup features: mel cepstra of this many bands (a speaker encoder's)
MAP_CEPSTRA = 24  # coefficients 1..MAP_CEPSTRA-1 (c0, the level, is left out)
MAP_MEL_RANGE_HZ = (60.0, 8000.0)
MAP_NEIGHBOURS = 8  # reading frames whose reference envelopes a take frame averages
# Share of the reference's log envelope in a mapped frame, by frequency: MAP_BLEND[0] below MAP_BLEND_BAND_HZ[0],
# where the first two formants say which vowel it is (more loses words, see above), rising (log-frequency) to
# MAP_BLEND[1] above MAP_BLEND_BAND_HZ[1], where the higher formants and the voice's quality say whose voice it
# is and the words hardly depend on them.
MAP_BLEND = (0.5, 1.0)
MAP_BLEND_BAND_HZ = (2000.0, 4000.0)
MAP_SMOOTH_FRAMES = 3  # the looked-up envelopes are averaged over this many frames (15 ms): no flutter
SAME_SOUND_FRAMES = 20  # keys closer than this in the reading (100 ms) are the same utterance of a sound
COVERAGE_FADE = 2.0  # a frame this many times farther from the keys than a sound said again is not mapped
MIN_MAP_WORDS = 3
MIN_MAP_PAIRS = 100  # voiced frame pairs (0.5 s of voiced speech at 5 ms)
# Learning costs ~2.5 s for a 10 s reference (language detection, transcription, the reading, encoding,
# DTW), and each CLI run or studio session is a new actor: maps are kept in memory and under
# $CINEDUB_HOME/voices (learned.py), keyed by the reference's content. The version changes with anything that
# changes what is learned.
MAP_CACHE_VERSION = 3
MAP_MEMORY_SIZE = 16
WORDS_CACHE_VERSION = 1  # what reference_words heard, kept beside the maps


@functools.cache
def blend_by_frequency() -> np.ndarray:
    """(FFT_SIZE // 2 + 1,) the reference's share of a mapped frame's log envelope at each bin (MAP_BLEND)."""
    octaves = np.log2(np.maximum(np.arange(FFT_SIZE // 2 + 1) * SAMPLE_RATE / FFT_SIZE, 1.0) / MAP_BLEND_BAND_HZ[0])
    rise = np.clip(octaves / np.log2(MAP_BLEND_BAND_HZ[1] / MAP_BLEND_BAND_HZ[0]), 0.0, 1.0)
    return MAP_BLEND[0] + (MAP_BLEND[1] - MAP_BLEND[0]) * rise


@functools.cache
def _mel_filters() -> np.ndarray:
    """(MAP_MEL_BANDS, FFT_SIZE // 2 + 1) triangular mel filters over WORLD's envelope bins."""
    import librosa

    return librosa.filters.mel(sr=SAMPLE_RATE, n_fft=FFT_SIZE, n_mels=MAP_MEL_BANDS, fmin=MAP_MEL_RANGE_HZ[0],
                               fmax=MAP_MEL_RANGE_HZ[1]).astype(np.float64)  # fmt: skip


def mel_cepstra(sp: np.ndarray) -> np.ndarray:
    """(T, MAP_CEPSTRA - 1) mel cepstra (without c0) of a WORLD power envelope (T, F)."""
    import scipy.fft

    log_mel = np.log(np.maximum(sp @ _mel_filters().T, 1e-12))  # (T, MAP_MEL_BANDS)
    return scipy.fft.dct(log_mel, type=2, norm="ortho", axis=1)[:, 1:MAP_CEPSTRA]


def phonetic_frames(audio: np.ndarray, num_frames: int, frame_period_ms: float) -> np.ndarray:
    """(num_frames, D) the Whisper encoder's features of `audio` (at SAMPLE_RATE) at each WORLD frame."""
    from cinedub.asr import ENCODER_FRAME_S, encoder_features

    features = encoder_features(audio, SAMPLE_RATE)
    at = np.minimum((np.arange(num_frames) * frame_period_ms / 1000.0 / ENCODER_FRAME_S).astype(int),
                    len(features) - 1)  # fmt: skip
    return features[at]


def phonetics(speech: SpeechAnalysis) -> np.ndarray:
    """phonetic_frames of analysed speech, encoded once per content (a reference's, for every reader's map)."""
    features = speech.features
    return encodings.get(speech.key, lambda: phonetic_frames(speech.audio, features.num_frames,
                                                             features.frame_period_ms))  # fmt: skip


def align(source: np.ndarray, target: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Frame pairs (i, j) of the DTW path (cosine distance) between two feature sequences (T1, D) and
    (T2, D), in time order."""
    import librosa

    def unit(x: np.ndarray) -> np.ndarray:
        return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-9)

    # the cost matrix as one product (librosa's cdist takes ~7x as long on 384-d features)
    _, path = librosa.sequence.dtw(C=1.0 - unit(source) @ unit(target).T)
    path = path[::-1]
    return path[:, 0], path[:, 1]


def _squared_distances(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(len(a), len(b)) squared Euclidean distances, without the (A, B, D) tensor: |a|^2 - 2 a.b + |b|^2."""
    return (a**2).sum(1)[:, None] - 2.0 * a @ b.T + (b**2).sum(1)[None, :]


@dataclass(frozen=True)
class VoiceMap:
    """Reading frames (keys, in the reader's voice after the long-term match) paired with the reference's
    log envelopes saying the same sound."""

    keys: np.ndarray  # (N, MAP_CEPSTRA - 1) mel cepstra of the reading's voiced frames, divided by `scale`
    scale: np.ndarray  # (MAP_CEPSTRA - 1,) per-coefficient spread of the keys
    log_envelopes: np.ndarray  # (N, F) natural log of the paired reference frames' power envelopes
    words: int  # words recognised in the reference
    reference_voiced_s: float
    said_again: float  # typical distance from a key to the same sound said elsewhere in the reading

    @classmethod
    def learn(cls, reading: SpeechAnalysis, reference: SpeechAnalysis, *, words: int) -> VoiceMap | None:
        """The map from a reading of the reference's words (its envelope already long-term matched) and
        the reference; None when they hold fewer than MIN_MAP_PAIRS voiced pairs."""
        if min(len(reading.audio), len(reference.audio)) < MIN_MAP_PAIRS * FRAME_PERIOD_MS / 1000.0 * SAMPLE_RATE:
            return None
        i, j = align(phonetics(reading), phonetics(reference))
        reading_frames, reference_frames = reading.features, reference.features
        reading_cepstra = mel_cepstra(reading_frames.sp)
        both = reading_frames.voiced[i] & reference_frames.voiced[j]
        if both.sum() < MIN_MAP_PAIRS:
            return None
        i, j = i[both], j[both]
        scale = reading_cepstra[i].std(axis=0) + 1e-6
        keys = (reading_cepstra[i] / scale).astype(np.float32)
        # How near the same sound comes when said again: each key's MAP_NEIGHBOURS nearest keys from
        # elsewhere in the reading (not its own phone: SAME_SOUND_FRAMES apart or more), typically.
        said_again = np.empty(len(keys))
        for start in range(0, len(keys), 512):  # in blocks: a 30 s reference has ~4000 keys
            block = _squared_distances(keys[start : start + 512], keys)
            block[np.abs(i[start : start + 512, None] - i[None, :]) < SAME_SOUND_FRAMES] = np.inf
            nearest = np.partition(block, MAP_NEIGHBOURS - 1, axis=1)[:, :MAP_NEIGHBOURS]
            said_again[start : start + 512] = np.sqrt(np.maximum(nearest, 0.0).mean(axis=1))
        return cls(keys=keys, scale=scale.astype(np.float32),
                   log_envelopes=np.log(np.maximum(reference_frames.sp[j], 1e-20)).astype(np.float32), words=words,
                   reference_voiced_s=float(reference_frames.voiced.sum() * reference_frames.frame_period_ms / 1000.0),
                   said_again=float(np.median(said_again[np.isfinite(said_again)])))  # fmt: skip

    def lookup(self, sp: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """For each frame of a power envelope (V, F): its MAP_NEIGHBOURS nearest keys (V, k), and how well the
        reference covers its sound (V,), 1 where the nearest keys are as near as the same sound said again,
        fading to 0 at COVERAGE_FADE times that (a sound the reference never says has nothing to lend)."""
        queries = (mel_cepstra(sp) / self.scale).astype(np.float32)  # (V, D)
        distances = _squared_distances(queries, self.keys)  # (V, N)
        nearest = np.argpartition(distances, MAP_NEIGHBOURS - 1, axis=1)[:, :MAP_NEIGHBOURS]
        near = np.sqrt(np.maximum(np.take_along_axis(distances, nearest, axis=1), 0.0).mean(axis=1))
        return nearest, np.clip((COVERAGE_FADE - near / self.said_again) / (COVERAGE_FADE - 1.0), 0.0, 1.0)

    def apply(self, sp: np.ndarray, voiced: np.ndarray) -> np.ndarray:
        """The power envelope (T, F) with each voiced frame moved toward its looked-up reference envelope,
        MAP_BLEND (by frequency) times its coverage (per-frame energy kept); unvoiced frames as they were."""
        if not voiced.any():
            return sp
        nearest, covered = self.lookup(sp[voiced])
        looked_up = np.zeros(sp.shape, np.float64)
        looked_up[voiced] = self.log_envelopes[nearest].mean(axis=1)
        # smooth along time within voiced stretches (a frame's neighbours count only when voiced)
        weight = uniform_filter1d(voiced.astype(np.float64), MAP_SMOOTH_FRAMES, mode="constant")
        smoothed = uniform_filter1d(looked_up, MAP_SMOOTH_FRAMES, axis=0, mode="constant")
        smoothed = smoothed / np.maximum(weight, 1e-9)[:, None]
        own = np.log(np.maximum(sp[voiced], 1e-20))
        blend = blend_by_frequency()[None, :] * uniform_filter1d(covered, MAP_SMOOTH_FRAMES)[:, None]
        blended = (1.0 - blend) * own + blend * smoothed[voiced]
        # keep each frame's energy: the map reshapes the spectrum, the performance sets the level
        blended += (np.log(sp[voiced].mean(axis=1)) - np.log(np.exp(blended).mean(axis=1)))[:, None]
        out = sp.copy()
        out[voiced] = np.exp(blended)
        return out

    def save(self, path: Path) -> None:
        """The map written atomically to `path` (.npz)."""
        with atomic_path(path) as tmp, open(tmp, "wb") as out:
            np.savez(out, keys=self.keys, scale=self.scale, log_envelopes=self.log_envelopes, words=self.words,
                     reference_voiced_s=self.reference_voiced_s, said_again=self.said_again)  # fmt: skip

    @classmethod
    def load(cls, path: Path) -> VoiceMap:
        with np.load(path) as data:
            return cls(keys=data["keys"], scale=data["scale"], log_envelopes=data["log_envelopes"],
                       words=int(data["words"]), reference_voiced_s=float(data["reference_voiced_s"]),
                       said_again=float(data["said_again"]))  # fmt: skip

    def to_dict(self) -> dict[str, object]:
        return {"frames": int(len(self.keys)), "words": self.words,
                "reference_voiced_s": round(self.reference_voiced_s, 2), "blend": list(MAP_BLEND),
                "blend_band_hz": list(MAP_BLEND_BAND_HZ)}  # fmt: skip


def reference_words(key: str, speech: Callable[[], SpeechAnalysis]) -> tuple[str, int] | None:
    """What the reference with content key `key` says (the packaged Whisper tiny.en hearing `speech()`, its
    analysed speech), speakable, and how many words it heard: None when the reference is not English (the
    multilingual Whisper's detection), holds fewer than MIN_MAP_WORDS words, or no recogniser is installed.
    Heard once per reference (kept in memory and under $CINEDUB_HOME/voices; without a recogniser nothing is
    kept): each English reader's map is learned from the same words, and a reference heard before is not
    analysed again to say whether it has any."""
    from cinedub.asr import detect_language, transcribe

    def hear() -> tuple[str, int] | None:
        reference = speech()
        language, _ = detect_language(reference.audio, SAMPLE_RATE)  # a CinedubError without a recogniser
        if language != ENGLISH:
            return None  # the reader of English can't read another language's words for a parallel pair
        text = transcribe(reference.audio, SAMPLE_RATE)
        words = len(text.split())
        try:
            return (check_speakable(text, ENGLISH), words) if words >= MIN_MAP_WORDS else None
        except CinedubError:  # words the reader can't say
            return None

    try:
        return transcripts.get(key, hear)
    except CinedubError:  # no recogniser (the eval extra): no map, and nothing kept
        return None


def _load_words(path: Path) -> tuple[str, int]:
    heard = json.loads(path.read_text())
    return str(heard["text"]), int(heard["words"])


def _save_words(heard: tuple[str, int], path: Path) -> None:
    write_json(path, {"text": heard[0], "words": heard[1]})


def learn_voice_map(reference: SpeechAnalysis, match: TimbreMatch, reader: str = PIPER_JOE, *,
                    key: str | None = None) -> VoiceMap | None:  # fmt: skip
    """The map for English takes read by `reader` (an English reader, reader.py; `match` moves its long-term
    profile to the reference's) from a reference's speech (kept under content key `key`, by default its
    speech's): None when reference_words hears none to learn from."""
    heard = reference_words(key or reference.key, lambda: reference)
    if heard is None:
        return None
    text, words = heard
    # read at the reference's pace, so the two align with little stretching
    pace = len(reference.audio) / SAMPLE_RATE / max(estimate_speech_seconds(text) * reader_tempo(reader), 1e-3)
    reading = read(text, reader, length_scale=float(np.clip(pace, *LENGTH_SCALE_LIMITS)))
    analysed = analyse_speech(reading, SAMPLE_RATE)
    matched = replace(analysed, features=replace(analysed.features, sp=apply_envelope(analysed.features.sp, match)))
    return VoiceMap.learn(matched, reference, words=words)


# what each reference says, by its content key, in memory and under $CINEDUB_HOME/voices (see reference_words)
transcripts: ContentCache[tuple[str, int] | None] = ContentCache(
    size=MAP_MEMORY_SIZE, on_disk=OnDisk(f"words-v{WORDS_CACHE_VERSION}.json", _load_words, _save_words))
# the Whisper encoder's features, by content key (see phonetics): the reference's serve every reader's map
encodings: ContentCache[np.ndarray] = ContentCache(size=4)
# maps by reference content key and reader, in memory and under $CINEDUB_HOME/voices (see cached_voice_map)
memory: ContentCache[VoiceMap | None] = ContentCache(
    size=MAP_MEMORY_SIZE, on_disk=OnDisk(f"v{MAP_CACHE_VERSION}.npz", VoiceMap.load, VoiceMap.save))


def cached_voice_map(key: str, reader: str, learn: Callable[[], VoiceMap | None]) -> VoiceMap | None:
    """The map of the reference with content key `key` for takes read by `reader`: from memory, else from
    $CINEDUB_HOME/voices, else `learn()`ed and kept in both."""
    return memory.get(f"{key}-{reader.replace(' ', '-')}", learn)
