"""The timbre step: move the voice's F0 median and spectral envelope toward a reference recording.

A long-term voice profile (median F0, mean log spectral envelope of voiced speech) is taken from the
reference and from the actor's own voice. The envelope is matched in two parts:
1. a vocal-tract-length warp, f -> warp * f, from the two voices' F0 ratio (WARP_F0_EXPONENT: formant
   positions scale with vocal tract length, which follows body size as F0 does), and
2. what remains, smoothed over third octaves and clamped, as a fixed EQ (voice quality, and the
   reference's channel, which a speaker encoder hears too).
Both are deterministic functions of the two recordings.

The warp was first fitted to the envelopes' shape; on real voices that fit chose ~1.0 for every woman
(the long-term envelope of a high voice resolves its formants poorly) and the takes scored 54-58 in
resemblyzer similarity to them; from the F0 ratio they score 65-75 (bench/voice_identity_bench.py).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from cinedub.files import atomic_path
from cinedub.media import resample

from .audio import (
    SAMPLE_RATE,
    TIMBRE_BAND_HZ,
    TIMBRE_EQ_SMOOTH_OCT,
    TIMBRE_MAX_EQ_DB,
    TIMBRE_WARP_RANGE,
    WARP_F0_EXPONENT,
    speech_bounds,
)
from .learned import content_key
from .world import FFT_SIZE, WorldFeatures, analyse

EQ_FADE_OCT = 0.5
LOUD_FRAMES_DB = 25.0  # profile only voiced frames within this of the loud frames (skip onsets, creak)

# Sentences the actor's own voice profile is taken from (phonetically varied, ~12 s together).
CALIBRATION_TEXT = (
    "He was not an ill disposed young man. The weather tomorrow will be cold and windy, with rain in "
    "the afternoon. Please put the box on the table, and bring me the blue cup. Nobody knows what "
    "happened to the ship after it left the harbour at night."
)
# The same sentences in each language another reader (espeak-ng) speaks: that reader's own profile is
# taken from speech in its language, as the takes it reshapes are.
CALIBRATION_TEXTS = {
    "en": CALIBRATION_TEXT,
    "es": ("No era un joven mal dispuesto. Mañana el tiempo será frío y ventoso, con lluvia por la tarde. "
           "Por favor, pon la caja en la mesa y tráeme la taza azul. Nadie sabe qué le pasó al barco "
           "después de salir del puerto por la noche."),
    "pt": ("Ele não era um jovem mal intencionado. Amanhã o tempo vai estar frio e com vento, com chuva à "
           "tarde. Por favor, põe a caixa na mesa e traz o copo azul. Ninguém sabe o que aconteceu ao "
           "navio depois de sair do porto à noite."),
    "fr": ("Ce n'était pas un jeune homme mal intentionné. Demain, le temps sera froid et venteux, avec de "
           "la pluie l'après-midi. Pose la boîte sur la table, s'il te plaît, et apporte-moi la tasse "
           "bleue. Personne ne sait ce qui est arrivé au navire après son départ du port, la nuit."),
    "it": ("Non era un giovane mal disposto. Domani il tempo sarà freddo e ventoso, con pioggia nel "
           "pomeriggio. Per favore, metti la scatola sul tavolo e portami la tazza blu. Nessuno sa cosa "
           "sia successo alla nave dopo che ha lasciato il porto di notte."),
    "de": ("Er war kein übel gesinnter junger Mann. Das Wetter wird morgen kalt und windig, mit Regen am "
           "Nachmittag. Bitte stell die Kiste auf den Tisch und bring mir die blaue Tasse. Niemand weiß, "
           "was mit dem Schiff geschah, nachdem es nachts den Hafen verlassen hatte."),
    "ca": ("No era un jove mal intencionat. Demà farà fred i vent, amb pluja a la tarda. Si us plau, posa "
           "la caixa damunt la taula i porta'm la tassa blava. Ningú no sap què li va passar al vaixell "
           "després de sortir del port de nit."),
    "gl": ("Non era un mozo mal intencionado. Mañá o tempo será frío e ventoso, con chuvia pola tarde. Por "
           "favor, pon a caixa na mesa e tráeme a cunca azul. Ninguén sabe que lle pasou ao barco despois "
           "de saír do porto pola noite."),
}


@dataclass(frozen=True)
class VoiceProfile:
    """Long-term description of a voice, at SAMPLE_RATE with WORLD's envelope bins."""

    f0_median_hz: float
    envelope_db: np.ndarray  # (FFT_SIZE // 2 + 1,) mean log power envelope of loud voiced frames
    bandwidth_hz: float  # highest frequency the recording carries
    voiced_seconds: float

    def save(self, path: Path) -> None:
        """The profile written atomically to `path` (.npz)."""
        with atomic_path(path) as tmp, open(tmp, "wb") as out:
            np.savez(out, f0_median_hz=self.f0_median_hz, envelope_db=self.envelope_db,
                     bandwidth_hz=self.bandwidth_hz, voiced_seconds=self.voiced_seconds)  # fmt: skip

    @classmethod
    def load(cls, path: Path) -> VoiceProfile:
        with np.load(path) as data:
            return cls(f0_median_hz=float(data["f0_median_hz"]), envelope_db=data["envelope_db"],
                       bandwidth_hz=float(data["bandwidth_hz"]), voiced_seconds=float(data["voiced_seconds"]))  # fmt: skip


@dataclass(frozen=True)
class TimbreMatch:
    """How to move the actor's voice toward a reference."""

    f0_ratio: float  # reference median F0 / actor median F0
    warp: float  # envelope frequency warp: the actor's formant at f moves to warp * f
    eq_db: np.ndarray  # (F,) smooth residual correction, dB
    band_hz: tuple[float, float]

    def to_dict(self) -> dict[str, object]:
        freqs = np.arange(len(self.eq_db)) * SAMPLE_RATE / FFT_SIZE
        bands = (250, 500, 1000, 2000, 4000, 8000)
        return {
            "f0_ratio": round(self.f0_ratio, 4),
            "f0_shift_st": round(12.0 * float(np.log2(self.f0_ratio)), 2),
            "envelope_warp": round(self.warp, 4),
            "eq_db": {str(b): round(float(np.interp(b, freqs, self.eq_db)), 2) for b in bands},
        }


@dataclass(frozen=True)
class SpeechAnalysis:
    """A recording's speech at SAMPLE_RATE (silence at its edges trimmed) and its WORLD features."""

    audio: np.ndarray  # (N,) float32
    features: WorldFeatures
    bandwidth_hz: float  # highest frequency the recording carries

    @functools.cached_property
    def key(self) -> str:
        """The speech's content key (learned.py), hashed once: what is learned from it is kept under it."""
        return content_key(self.audio, SAMPLE_RATE)


def analyse_speech(audio: np.ndarray, sample_rate: int) -> SpeechAnalysis:
    """A mono recording (any rate) resampled to SAMPLE_RATE, trimmed to its speech and analysed."""
    x = resample(np.asarray(audio, np.float32), sample_rate, SAMPLE_RATE)
    bounds = speech_bounds(x, SAMPLE_RATE)
    if bounds is not None:
        x = x[bounds[0] : bounds[1]]
    return SpeechAnalysis(audio=x, features=analyse(x, SAMPLE_RATE),
                          bandwidth_hz=min(sample_rate, SAMPLE_RATE) / 2.0 * 0.95)  # fmt: skip


def profile_of(speech: SpeechAnalysis) -> VoiceProfile:
    """The long-term profile of analysed speech."""
    features = speech.features
    log_sp = 10.0 * np.log10(np.maximum(features.sp, 1e-20))  # (T, F)
    frame_db = 10.0 * np.log10(np.maximum(features.sp.mean(axis=1), 1e-20))
    voiced = features.voiced
    loud = voiced & (frame_db > np.percentile(frame_db[voiced], 90) - LOUD_FRAMES_DB) if voiced.any() else voiced
    if loud.sum() < 10:
        loud = voiced if voiced.sum() >= 10 else np.ones_like(voiced)
    f0 = features.f0[voiced]
    return VoiceProfile(
        f0_median_hz=float(np.median(f0)) if len(f0) else 0.0,
        envelope_db=log_sp[loud].mean(axis=0),
        bandwidth_hz=speech.bandwidth_hz,
        voiced_seconds=float(voiced.sum() * features.frame_period_ms / 1000.0),
    )


def voice_profile(audio: np.ndarray, sample_rate: int) -> VoiceProfile:
    """Profile of a mono recording (any rate; resampled to SAMPLE_RATE)."""
    return profile_of(analyse_speech(audio, sample_rate))


@functools.lru_cache(maxsize=len(CALIBRATION_TEXTS) + 1)
def calibration_reading(reader: str = "piper joe") -> np.ndarray:
    """`reader`'s reading (reader.py: "piper joe", "festival slt", "espeak-ng es") of CALIBRATION_TEXTS in
    its language, at SAMPLE_RATE, made once per process and reader."""
    from .frontend import spoken_language
    from .reader import read, reader_language

    language = reader_language(reader)
    if language not in CALIBRATION_TEXTS:
        spoken_language(language)  # the front end's one-line error names the languages it reads
    return read(CALIBRATION_TEXTS[language], reader)


@functools.lru_cache(maxsize=len(CALIBRATION_TEXTS) + 1)
def actor_profile(reader: str = "piper joe") -> VoiceProfile:
    """The long-term profile of `reader`, from its calibration reading."""
    return voice_profile(calibration_reading(reader), SAMPLE_RATE)


@functools.lru_cache(maxsize=len(CALIBRATION_TEXTS) + 1)
def reader_tempo(reader: str = "piper joe") -> float:
    """How much longer an English `reader` takes over a line than Piper joe, on whose reading
    frontend.estimate_speech_seconds is calibrated: its calibration speech's length over joe's (1.0 for
    joe, and for espeak-ng, whose words per minute are set from that estimate already)."""
    from .reader import ENGLISH, PIPER_JOE, reader_language

    if reader == PIPER_JOE or reader_language(reader) != ENGLISH:
        return 1.0

    def speech_seconds(audio: np.ndarray) -> float:
        start, end = speech_bounds(audio, SAMPLE_RATE) or (0, len(audio))
        return (end - start) / SAMPLE_RATE

    return speech_seconds(calibration_reading(reader)) / speech_seconds(calibration_reading(PIPER_JOE))


def warp_envelope(envelope: np.ndarray, warp: float) -> np.ndarray:
    """Resample envelope(s) (..., F) along frequency so a feature at bin b moves to warp * b."""
    n = envelope.shape[-1]
    source = np.minimum(np.arange(n) / warp, n - 1)  # read the source at f / warp
    lo = np.floor(source).astype(int)
    hi = np.minimum(lo + 1, n - 1)
    w = source - lo
    return envelope[..., lo] * (1.0 - w) + envelope[..., hi] * w


def _smooth_log_frequency(values: np.ndarray, freqs: np.ndarray, octaves: float) -> np.ndarray:
    """Average over a band `octaves` wide around each bin (wider in Hz as frequency rises)."""
    csum = np.concatenate([[0.0], np.cumsum(values)])
    half = 2.0 ** (octaves / 2.0)
    step = freqs[1] - freqs[0]
    lo = np.clip(np.floor(np.maximum(freqs / half, freqs - step) / step).astype(int), 0, len(values) - 1)
    hi = np.clip(np.ceil(np.maximum(freqs * half, freqs + step) / step).astype(int), lo + 1, len(values))
    return (csum[hi] - csum[lo]) / (hi - lo)


def match_timbre(actor: VoiceProfile, reference: VoiceProfile) -> TimbreMatch:
    """The F0 ratio, envelope warp and residual EQ that bring `actor` toward `reference`."""
    freqs = np.arange(len(actor.envelope_db)) * SAMPLE_RATE / FFT_SIZE
    band = (TIMBRE_BAND_HZ[0], min(TIMBRE_BAND_HZ[1], reference.bandwidth_hz))
    in_band = (freqs >= band[0]) & (freqs <= band[1])
    ratio = reference.f0_median_hz / actor.f0_median_hz if actor.f0_median_hz > 0 and reference.f0_median_hz > 0 else 1.0
    warp = float(np.clip(ratio**WARP_F0_EXPONENT, *TIMBRE_WARP_RANGE))
    residual = reference.envelope_db - warp_envelope(actor.envelope_db, warp)
    residual = residual - residual[in_band].mean()
    # Outside the band the reference says nothing: hold the low edge's value, and above the top edge
    # fade the correction out over EQ_FADE_OCT (keep the actor's own air, no shelf at the band edge).
    edge_lo, edge_hi = np.flatnonzero(in_band)[[0, -1]]
    residual[:edge_lo] = residual[edge_lo]
    residual[edge_hi + 1 :] = residual[edge_hi]
    eq = np.clip(_smooth_log_frequency(residual, freqs, TIMBRE_EQ_SMOOTH_OCT), -TIMBRE_MAX_EQ_DB, TIMBRE_MAX_EQ_DB)
    above = np.log2(np.maximum(freqs, 1.0) / freqs[edge_hi])
    eq = eq * np.clip(1.0 - above / EQ_FADE_OCT, 0.0, 1.0)
    return TimbreMatch(f0_ratio=float(ratio), warp=warp, eq_db=eq, band_hz=band)


def apply_envelope(sp: np.ndarray, match: TimbreMatch) -> np.ndarray:
    """Warp and EQ a WORLD power envelope (T, F)."""
    return warp_envelope(sp, match.warp) * (10.0 ** (match.eq_db / 10.0))[None, :]
