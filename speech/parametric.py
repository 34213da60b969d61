"""The embedded actor: a reader speaks (for English, Piper joe or Festival's slt, whichever the audition
found nearer the reference voice: audition.py; espeak-ng for other languages: reader.py), WORLD re-performs
(emotion, retrieved references, timing, timbre)."""

from __future__ import annotations

import time
from dataclasses import replace
from typing import Any

import numpy as np

from cinedub.errors import CinedubError
from cinedub.stems import split_dialogue
from cinedub.types import Direction, Line, Take, Voice, Window

from .actor import Shot
from .audio import (
    F0_METHOD,
    LENGTH_SCALE_LIMITS,
    LIMIT_THRESHOLD,
    REFERENCE_LEVEL_DBFS,
    SAMPLE_RATE,
    active_rms_db,
    edge_fades,
    soft_limit,
    speech_bounds,
)
from .audition import AUDITION_TEXT, Audition, audition, cached_audition
from .frontend import MAX_SQUEEZE, check_speakable, count_syllables, estimate_speech_seconds
from .learned import ContentCache, OnDisk, content_key
from .measure import energy_slope_db_per_s, measure_prosody
from .prosody import (
    REFERENCE_RANGE_FACTOR_LIMITS,
    blend_toward,
    blended_rate,
    energy_ramp,
    prosody_targets,
    reference_blend,
    render_f0,
    tilt_gain,
)
from .reader import ENGLISH, check_reader, choose_reader, default_reader, english_readers, read, reader_report
from .timbre import (
    SpeechAnalysis,
    TimbreMatch,
    VoiceProfile,
    actor_profile,
    analyse_speech,
    apply_envelope,
    match_timbre,
    profile_of,
    reader_tempo,
)
from .voice import check_voice
from .voice_map import VoiceMap, cached_voice_map, learn_voice_map, reference_words
from .world import PAUSE_ELASTICITY, analyse, fit_duration, synthesise

PROFILE_CACHE_SIZE = 16
PROFILE_CACHE_VERSION = 1  # changes with anything that changes a reference's profile
# Reference profiles by content, in memory and under $CINEDUB_HOME/voices: a profile costs a dialogue split
# (DeepFilterNet) and a WORLD analysis.
profiles: ContentCache[VoiceProfile] = ContentCache(
    size=PROFILE_CACHE_SIZE, on_disk=OnDisk(f"profile-v{PROFILE_CACHE_VERSION}.npz", VoiceProfile.load, VoiceProfile.save))


class ParametricActor:
    """A reader (reader.py: for English, Piper joe-medium or Festival's slt, whichever the audition found
    nearer the reference voice; for another language, espeak-ng's voice for it) + WORLD:
    emotion as prosody, blended toward the direction's retrieved references
    (F0 range, energy contour, speaking rate; see prosody.py), exact window fit, timbre moved to the
    reference voice.

    timbre: choose the English reader for the reference voice (reader_for), and move F0 median and
    spectral envelope toward it (False: the reader's own timbre, Piper joe's for English; only the prosody
    and timing are performed).
    voice_map: for English takes, also reshape each voiced frame with the reference's own envelopes for
    that sound, learned from a parallel reading of the reference's words (voice_map.py; False: the
    long-term match alone).
    f0_method: WORLD F0 analysis, 'dio' (fast, default) or 'harvest'.
    """

    def __init__(self, *, timbre: bool = True, voice_map: bool = True, f0_method: str = F0_METHOD,
                 pause_elasticity: float = PAUSE_ELASTICITY):  # fmt: skip
        self.timbre = timbre
        self.voice_map = voice_map
        self.f0_method = f0_method
        self.pause_elasticity = pause_elasticity
        self._last_speech: tuple[str, SpeechAnalysis] | None = None

    @staticmethod
    def reference_key(voice: Voice) -> str:
        """The content key what is learned from `voice` is kept under (a cleaned stem is analysed as is)."""
        return content_key(voice.audio, voice.sample_rate) + ("-cleaned" if voice.cleaned else "")

    def _speech(self, voice: Voice, key: str) -> SpeechAnalysis:
        """The reference's speech, analysed (the last one kept: its profile and its map both start here)."""
        if self._last_speech is None or self._last_speech[0] != key:
            # the voice alone: a reference cut from a film carries its room and music
            if voice.cleaned:
                speech = analyse_speech(voice.audio, voice.sample_rate)
            else:
                split = split_dialogue(voice.audio, voice.sample_rate)
                speech = analyse_speech(split.dialogue, split.sample_rate)
            self._last_speech = (key, speech)
        return self._last_speech[1]

    def reference_profile(self, voice: Voice, key: str) -> VoiceProfile:
        """The profile of `voice` (content key `key`), made once (the voice is checked then: the check runs Silero
        over the whole reference, a third of a warm take's time) and kept in memory and under
        $CINEDUB_HOME/voices (learned.py): a reference used before is not split and analysed again."""

        def profile() -> VoiceProfile:
            check_voice(voice)
            return profile_of(self._speech(voice, key))

        return profiles.get(key, profile)

    def reference_map(self, voice: Voice, key: str, match: TimbreMatch, reader: str) -> VoiceMap | None:
        """The frame-wise voice map of `voice` (content key `key`) for English takes read by `reader`
        (voice_map.py), learned once per reference and reader and kept (None when it can't be learned: the
        long-term match alone applies)."""
        return cached_voice_map(key, reader, lambda: learn_voice_map(self._speech(voice, key), match, reader, key=key))

    def reader_for(self, voice: Voice, key: str, reference: VoiceProfile) -> tuple[str, Audition | None]:
        """The English reader that plays `voice` (content key `key`). With a voice map to learn (its words
        heard, voice_map.reference_words): the reader nearest its pitch, unless the speaker encoder hears
        another's performance of AUDITION_TEXT clearly nearer (audition.py), auditioned once per reference.
        Without one, Piper joe: the long-term match alone brings joe nearer than slt even to women (measured
        on issue 17's voices: 65.0 / 65.4 / 75.5 against 59.7 / 57.7 / 73.6)."""
        readers = english_readers()
        if len(readers) == 1 or not self.voice_map or reference_words(key, lambda: self._speech(voice, key)) is None:
            return default_reader(ENGLISH), None

        def nearest_in_pitch() -> str:  # (the readers' own profiles: only when no audition is kept)
            return choose_reader(ENGLISH, reference.f0_median_hz)

        def perform_as(reader: str) -> np.ndarray:
            window = Window(start=0.0, end=estimate_speech_seconds(AUDITION_TEXT))
            direction = Direction(window=window, voice=str(voice.path))
            return self._perform(Line(text=AUDITION_TEXT), direction, voice, reader).audio

        def hold() -> Audition:
            return audition(readers, perform_as, self._speech(voice, key).audio, SAMPLE_RATE,
                            nearest_in_pitch=nearest_in_pitch())  # fmt: skip

        try:
            chosen = cached_audition(key, readers, hold)
        except CinedubError:  # no speaker encoder (the eval extra): the reader nearest in pitch
            return nearest_in_pitch(), None
        return chosen.reader, chosen

    def perform(self, line: Line, direction: Direction, voice: Voice, *, shot: Shot | None = None) -> Take:
        # `shot` is ignored: the parametric actor performs the Direction only.
        return self._perform(line, direction, voice, None)

    def _perform(self, line: Line, direction: Direction, voice: Voice, reader: str | None) -> Take:
        """The take, read by `reader` (None: the reader chosen for the voice, reader_for)."""
        timings: dict[str, float] = {}
        clock = time.perf_counter()

        def lap(stage: str) -> None:
            nonlocal clock
            now = time.perf_counter()
            timings[stage] = timings.get(stage, 0.0) + round(now - clock, 4)
            clock = now

        window_s = direction.window.duration
        num_samples = int(round(window_s * SAMPLE_RATE))
        targets = prosody_targets(direction)
        language = line.language
        text = check_speakable(line.text, language)  # what the voice says (and what the report shows)
        check_reader(language)
        blend = reference_blend(direction.references)
        lent: dict[str, tuple[float, float]] = {}  # measure -> (own, target): what the references changed
        if blend is not None and blend.speaking_rate_sps is not None:
            # The window imposes syllables / window; the references ask for their own rate. Blending the
            # emotion's articulation-rate factor toward theirs moves time between phones and pauses
            # (the reader reads faster or slower, the warp gives the difference mostly to the pauses).
            imposed_sps = count_syllables(text, language) / window_s
            rate = blended_rate(targets.rate, blend.speaking_rate_sps / imposed_sps)
            lent["speaking_rate_sps"] = (imposed_sps * targets.rate, imposed_sps * rate)
            targets = replace(targets, rate=rate)
        reference: VoiceProfile | None = None
        match: TimbreMatch | None = None
        voice_map: VoiceMap | None = None
        chosen: Audition | None = None
        if self.timbre:
            key = self.reference_key(voice)
            reference = self.reference_profile(voice, key)
            if reader is None and language == ENGLISH:
                reader, chosen = self.reader_for(voice, key, reference)
            reader = reader or default_reader(language)
            match = match_timbre(actor_profile(reader), reference)
            if language == ENGLISH and self.voice_map:
                voice_map = self.reference_map(voice, key, match, reader)
            lap("voice_profile")
        reader = reader or default_reader(language)

        # 1. Synthesis: the reader reads at the tempo that brings its natural duration
        # to the window (the director's pace is already in the window), articulating the emotion's `rate`
        # faster; the warp below keeps that articulation and gives the difference to the pauses.
        natural_s = estimate_speech_seconds(text, language=language) * reader_tempo(reader)
        neutral_scale = float(np.clip(window_s / max(natural_s, 1e-3), *LENGTH_SCALE_LIMITS))
        length_scale = float(np.clip(neutral_scale / targets.rate, *LENGTH_SCALE_LIMITS))
        spoken = read(text, reader, length_scale=length_scale)
        lap("synthesis")

        # 2. Analysis of the speech only (silence trimmed by the same detector measure.py uses).
        bounds = speech_bounds(spoken, SAMPLE_RATE) or (0, len(spoken))
        speech = spoken[bounds[0] : bounds[1]]
        features = analyse(speech, SAMPLE_RATE, self.f0_method)
        lap("analysis")

        # Never faster than MAX_SQUEEZE times the reader's natural reading (its reading at length_scale 1 lasts
        # about len(speech) / length_scale): a line that needs more runs past its window, and says so.
        natural_reading_s = len(speech) / SAMPLE_RATE / length_scale
        speech_samples = max(num_samples, int(np.ceil(natural_reading_s / MAX_SQUEEZE * SAMPLE_RATE)))
        speed_limited = speech_samples > num_samples

        # 3. Transform: warp to the window (the emotion's articulation kept, the pauses taking the rest), then
        # pitch, spectrum (timbre, effort) on the output frames.
        articulation = neutral_scale / length_scale  # how much faster than its neutral reading the reader read
        features = fit_duration(features, len(speech), speech_samples, self.pause_elasticity, articulation)
        voiced = features.f0[features.f0 > 0]
        source_hz = float(np.median(voiced)) if len(voiced) else 100.0
        target_hz = reference.f0_median_hz if reference is not None and reference.f0_median_hz > 0 else source_hz
        f0 = render_f0(
            features.f0, targets, source_hz=source_hz, target_hz=target_hz,
            frame_period_ms=features.frame_period_ms, seed=direction.seed,
        )  # fmt: skip
        if blend is not None and blend.f0_range_semitones is not None:
            # Like with like: the references' spread was measured by measure_prosody, so the reading's
            # is too; the rendered spread scales with the range factor (0.5 -> 2.0 measured near-linear).
            own_st = measure_prosody(speech, SAMPLE_RATE)["f0_range_semitones"] * targets.f0_range
            if own_st > 0:
                goal_st = blend_toward(own_st, blend.f0_range_semitones)
                factor = np.clip(goal_st / own_st, *REFERENCE_RANGE_FACTOR_LIMITS)
                targets = replace(targets, f0_range=float(targets.f0_range * factor))
                f0 = render_f0(
                    features.f0, targets, source_hz=source_hz, target_hz=target_hz,
                    frame_period_ms=features.frame_period_ms, seed=direction.seed,
                )  # fmt: skip
                lent["f0_range_semitones"] = (own_st, own_st * factor)
        sp = apply_envelope(features.sp, match) if match is not None else features.sp
        if voice_map is not None:
            sp = voice_map.apply(sp, features.voiced)
        sp = sp * tilt_gain(features.freqs, targets.tilt_db_per_oct)[None, :]
        features = replace(features, f0=f0, sp=sp)
        lap("transform")

        # 4. Resynthesis at the window's length (longer only past the speed limit); level set relative to
        # the reference level.
        audio = synthesise(features, speech_samples)
        if blend is not None and blend.energy_slope_db_per_s is not None:
            own_slope = energy_slope_db_per_s(audio, SAMPLE_RATE)
            wanted = blend_toward(own_slope, blend.energy_slope_db_per_s) - own_slope
            gain, added = energy_ramp(speech_samples, SAMPLE_RATE, wanted)
            audio = audio * gain
            lent["energy_slope_db_per_s"] = (own_slope, own_slope + added)
        level = REFERENCE_LEVEL_DBFS + targets.energy_db
        audio = audio * np.float32(10.0 ** ((level - active_rms_db(audio, SAMPLE_RATE)) / 20.0))
        peak_before = float(np.max(np.abs(audio))) if len(audio) else 0.0
        audio = edge_fades(soft_limit(audio), SAMPLE_RATE).astype(np.float32)
        lap("resynthesis")

        applied: dict[str, Any] = {
            "actor": "parametric",
            "text": text,
            "written": line.text,
            "emotion": direction.emotion,
            "intensity": direction.intensity,
            "seed": direction.seed,
            "prosody": targets.to_dict(),
            "language": language,
            # "reader", its settings and, off English, that it is the offline fallback
            **reader_report(reader, length_scale),
            "audition": chosen.to_dict() if chosen is not None else None,
            # how many times faster than its neutral reading the line was articulated (the pauses took the rest)
            "articulation": round(articulation, 4),
            "natural_speech_s": round(len(speech) / SAMPLE_RATE, 4),
            "window_s": round(window_s, 4),
            "time_stretch": round(speech_samples / max(len(speech), 1), 4),
            # speed: natural reading time / time given (the director's squeeze), at most MAX_SQUEEZE
            "speed": round(natural_reading_s * SAMPLE_RATE / speech_samples, 4),
            "max_speed": MAX_SQUEEZE,
            "speed_limited": speed_limited,
            "overrun_s": round((speech_samples - num_samples) / SAMPLE_RATE, 4),
            "f0_method": self.f0_method,
            "f0_source_median_hz": round(source_hz, 2),
            "f0_target_median_hz": round(target_hz * 2.0 ** (targets.f0_shift_st / 12.0), 2),
            "level_dbfs": round(level, 2),
            "peak_limited": peak_before > LIMIT_THRESHOLD,  # the soft limiter acted on the peaks
            "timbre": match.to_dict() if match is not None else None,
            "voice_map": voice_map.to_dict() if voice_map is not None else None,
            "reference_voice": voice.excerpt(),
        }
        if blend is not None:
            applied["references"] = blend.record(**lent)
        return Take(audio=audio, sample_rate=SAMPLE_RATE, timings=timings, applied=applied)

