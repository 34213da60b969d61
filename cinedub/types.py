"""The data every part of cinedub passes around.

All records are pydantic models so they validate on the way in and serialise to the JSON files a
session writes (direction.json, report.json). Times are seconds from the start of the clip.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from cinedub.labels import SCENE_LETTER, AgeGroup, Emotion, Gender, SceneType, age_group


class Record(BaseModel):
    """Base of the serialisable records: unknown keys are errors, values are checked on assignment."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class Window(Record):
    """A span of the clip, in seconds."""

    start: float = Field(ge=0.0)
    end: float = Field(ge=0.0)

    @model_validator(mode="after")
    def _ordered(self) -> Window:
        if self.end <= self.start:
            raise ValueError(f"window end {self.end:.3f} s is not after its start {self.start:.3f} s")
        return self

    @property
    def duration(self) -> float:
        return self.end - self.start


class Line(Record):
    """One line of the script; `window` is set when the script says where it goes (an SRT cue). A script
    may also say who speaks it (`speaker`: a character of the cast) and how (its own emotion, intensity
    and note, which the director's plan gives this line alone)."""

    text: str
    window: Window | None = None
    speaker: str | None = None
    emotion: Emotion | None = None
    intensity: float | None = Field(default=None, ge=0.0, le=1.0)
    note: str | None = None
    # the language the text is in (ISO 639-1): the actor reads it with a voice for that language
    language: str = Field(default="en", pattern=r"^[a-z]{2}$")

    @field_validator("speaker", "note")
    @classmethod
    def _words_or_none(cls, value: str | None) -> str | None:
        value = " ".join(value.split()) if value is not None else None
        return value or None

    @field_validator("text")
    @classmethod
    def _not_empty(cls, text: str) -> str:
        text = " ".join(text.split())
        if not text:
            raise ValueError("the line is empty")
        return text


class CastMember(Record):
    """A character of the cast: the recording of their voice (an absolute path) and the director's notes
    about them ("older, tired"), which are kept with the session and shown in direction.json."""

    name: str
    voice: str
    notes: str | None = None
    # the voice is the character's own speech cut from the clip's dialogue stem (the automatic cast): clean
    # already, so it is not cleaned again
    from_clip: bool = False


class ClipInfo(Record):
    """What probing a media file tells."""

    path: str
    duration: float
    has_video: bool
    has_audio: bool
    fps: float | None = None
    width: int | None = None
    height: int | None = None
    num_frames: int | None = None
    video_codec: str | None = None
    audio_codec: str | None = None
    sample_rate: int | None = None
    video_duration: float | None = None  # to the end of its last packet
    audio_duration: float | None = None
    warnings: list[str] = []  # the streams disagree (audio longer than the video, a truncated file)


# ---------------------------------------------------------------------------------------------
# Perception: the facts the director's tools read off the clip and the line.


class Person(Record):
    """A face tracked across frames."""

    track_id: int
    first_seen: float
    last_seen: float
    frames_seen: int
    box: tuple[float, float, float, float]  # mean (x, y, w, h), normalised to the frame
    mouth_activity: float  # spread of the mouth-opening series, in units of lip height / face height
    talking: bool
    speaking_windows: list[Window] = []
    age: int | None = None
    gender: Gender = "unknown"
    facial_emotion: Emotion | None = None
    facial_emotion_scores: dict[str, float] = {}


class SceneColour(Record):
    """Colour statistics of the sampled frames."""

    hue: float  # degrees, circular mean weighted by saturation
    saturation: float  # 0..1
    brightness: float  # 0..1
    contrast: float  # std of brightness, 0..1
    motion: float  # mean absolute difference of consecutive grey frames, 0..1


class TextEmotion(Record):
    """The emotion the words of the line carry, from lexicons."""

    emotion: Emotion
    scores: dict[str, float]  # per label, sums to 1
    valence: float  # VADER compound, -1..1


# The face-mesh descriptors perception keeps per face and frame (`Perception.face_series`), in this order;
# measured in agents/perception/mesh.py.
MESH_DESCRIPTORS = ("mouth_opening", "mouth_width", "corner_lift", "eye_opening", "brow_raise", "brow_gap",
                    "jaw_open", "lip_pucker", "head_yaw", "head_pitch")  # fmt: skip


class Perception(Record):
    """Everything `watch` learns about a clip."""

    duration: float
    sample_fps: float
    num_frames: int
    frame_times: list[float] = []
    people: list[Person] = []
    num_people: int = 0
    num_speaking: int = 0
    speaker_id: int | None = None  # track_id of the main speaker, if anyone talks
    speaking_windows: list[Window] = []  # the main speaker's
    mouth_series: dict[int, list[float | None]] = {}  # track_id -> opening per sampled frame
    # track_id -> MESH_DESCRIPTORS per sampled frame (None where the person is unseen or the mesh missed)
    face_series: dict[int, list[list[float] | None]] = {}
    scene: SceneColour | None = None
    text: TextEmotion | None = None
    timings: dict[str, float] = {}

    @property
    def speaker(self) -> Person | None:
        return next((p for p in self.people if p.track_id == self.speaker_id), None)


# ---------------------------------------------------------------------------------------------
# The director's decision and its instruction to the actor.


class Conclusion(Record):
    """The validated end of the director's chain of thought.

    Speaker attributes are None when the reasoning did not state them (DeepDubber's own answers give
    only the scene type and the counts).
    """

    scene_type: SceneType
    num_people: int | None = Field(default=None, ge=0)
    num_speaking: int | None = Field(default=None, ge=0)
    gender: Gender | None = None
    age: int | None = Field(default=None, ge=0, le=120)
    age_group: AgeGroup | None = None
    emotion: Emotion | None = None
    intensity: float | None = Field(default=None, ge=0.0, le=1.0)

    @model_validator(mode="after")
    def _consistent(self) -> Conclusion:
        if self.num_people is not None and self.num_speaking is not None:
            if self.num_speaking > self.num_people:
                raise ValueError(
                    f"{self.num_speaking} people speaking but only {self.num_people} on screen"
                )
        if self.age is not None and self.age_group is None:
            object.__setattr__(self, "age_group", age_group(self.age))
        return self

    @property
    def letter(self) -> str:
        return SCENE_LETTER[self.scene_type]


class Reference(Record):
    """A retrieved reference clip whose audio guides the performance."""

    clip_id: str
    audio: str
    score: float
    emotion: Emotion | None = None
    prosody: dict[str, float] = {}
    path: Literal["scene", "face", "text", "audio"] | None = None  # the retrieval path that found it
    text: str | None = None  # the reference's line
    speaker: str | None = None


class Direction(Record):
    """What the director asks of the actor for one take."""

    emotion: Emotion = "neutral"
    intensity: float = Field(default=0.5, ge=0.0, le=1.0)
    pace: float = Field(default=1.0, ge=0.5, le=2.0)  # speaking-rate factor inside the window
    pitch_shift: float = Field(default=0.0, ge=-12.0, le=12.0)  # semitones
    loudness: float = Field(default=0.0, ge=-20.0, le=20.0)  # dB
    window: Window  # where the speech must sit in the clip
    voice: str  # path of the reference recording
    references: list[Reference] = []
    seed: int = 0
    speaker: str | None = None  # the character who says the line (None: not yet told apart)

    def changed(self, other: Direction) -> dict[str, tuple[Any, Any]]:
        """Fields that differ from `other`, as (other's value, this value)."""
        mine, theirs = self.model_dump(), other.model_dump()
        return {k: (theirs[k], mine[k]) for k in mine if mine[k] != theirs[k]}


def field_bounds(model: type[BaseModel], name: str) -> tuple[float, float]:
    """The (ge, le) bounds a model's field declares: the one source of a control's range."""
    metadata = model.model_fields[name].metadata
    low = next(m.ge for m in metadata if hasattr(m, "ge"))
    high = next(m.le for m in metadata if hasattr(m, "le"))
    return float(low), float(high)


# The range of each control a note or the studio moves, as Direction declares it.
DIRECTION_BOUNDS: dict[str, tuple[float, float]] = {
    name: field_bounds(Direction, name) for name in ("intensity", "pace", "pitch_shift", "loudness")
}


class Plan(Record):
    """The director's plan for a take: one Direction per line (its `window`: where the line's speech
    belongs before its pace is applied), and the scene-wide defaults a note to every line also moves."""

    scene: Direction
    lines: list[Direction]


class SceneSound(Record):
    """A clip's own sound split (cinedub.stems): where its two stems lie, and its dialogue's loudness."""

    dialogue_path: str
    ambience_path: str
    speech: list[Window]  # where Silero VAD finds speech in the clip's sound
    dialogue_lufs: float | None  # ITU-R BS.1770 integrated loudness of the dialogue; None: it has none

    @property
    def speech_s(self) -> float:
        return sum(w.duration for w in self.speech)

    @property
    def has_dialogue(self) -> bool:
        return self.dialogue_lufs is not None


class LineRendering(Record):
    """One line of a take as the actor rendered it: its own audio file (at the take's sample rate, placed
    at `start` in the soundtrack) and what the actor was asked and applied."""

    line: int  # 1-based
    text: str
    path: str
    start: float  # where the audio sits in the soundtrack, seconds
    window: Window  # the window the line's speech must fill (its direction's window after pace)
    direction: Direction  # what the actor was asked (window: the window given to the actor)
    applied: dict[str, Any] = {}
    timings: dict[str, float] = {}
    rendered_in: int  # the take whose `act` rendered this audio (earlier: kept unchanged from that take)


class TakeRecord(Record):
    """A kept take, as the session stores it (the audio lives in `path`)."""

    index: int
    name: str
    path: str
    sample_rate: int
    duration: float  # length of the rendered speech, seconds
    window: Window
    direction: Direction
    note: str | None = None
    applied: dict[str, Any] = {}
    measured: dict[str, Any] = {}
    kept: bool = True
    lines: list[LineRendering] = []  # per line (empty in takes made before takes kept their lines)

    @property
    def rerendered(self) -> list[int]:
        """The lines (1-based) this take's actor rendered anew; the others were kept from an earlier take."""
        return [r.line for r in self.lines if r.rendered_in == self.index]


# ---------------------------------------------------------------------------------------------
# In-memory values (hold audio arrays, so not serialised as they are).


@dataclass
class Voice:
    """A reference recording of the voice to use, mono float32 in [-1, 1]."""

    path: Path
    audio: np.ndarray  # (num_samples,)
    sample_rate: int
    offset: float = 0.0  # seconds into the recording where `audio` starts
    recording_duration: float | None = None  # the whole recording's length, when `audio` is an excerpt
    # already the voice alone (the clip's own dialogue stem): the actor does not clean it again, which
    # would only take away some of the voice (measured: resemblyzer 0.568 uncleaned against 0.555 cleaned)
    cleaned: bool = False

    @property
    def duration(self) -> float:
        return len(self.audio) / self.sample_rate

    def excerpt(self) -> dict[str, Any]:
        """What of the recording is used (for reports): all of it, or its best stretch of speech."""
        whole = self.recording_duration if self.recording_duration is not None else self.duration
        return {"path": str(self.path), "recording_s": round(whole, 3), "used_from_s": round(self.offset, 3),
                "used_s": round(self.duration, 3),
                "trimmed": self.recording_duration is not None}  # fmt: skip


@dataclass
class Take:
    """What an actor returns: the speech for one line, exactly as long as the direction's window (longer
    only when the line cannot be said in it at the voice's speed limit; `applied` says so)."""

    audio: np.ndarray  # (num_samples,) float32 in [-1, 1]
    sample_rate: int
    timings: dict[str, float] = field(default_factory=dict)  # stage -> seconds of wall time
    applied: dict[str, Any] = field(default_factory=dict)  # the prosody / timbre changes made

    @property
    def duration(self) -> float:
        return len(self.audio) / self.sample_rate
