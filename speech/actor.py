"""The actor interface and the table of backends (`--actor parametric`, `--actor f5:CHECKPOINT`)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np

from cinedub.errors import CinedubError
from cinedub.types import Conclusion, Direction, Line, Perception, Take, Voice

# What each column of the per-frame visual features holds (the F5 ControlNet's ModelDims.visual_dim of
# them, zero-padded).
VISUAL_FEATURES = ("mouth_open", "mouth_open_velocity", "mouth_width", "jaw_open", "lip_pucker", "face_present",
                   "head_yaw", "head_pitch")  # fmt: skip


@dataclass(frozen=True)
class Shot:
    """What the director knows about the shot beyond the Direction, for actors that can use it."""

    conclusion: Conclusion | None = None
    visual: np.ndarray | None = None  # (num_video_frames, num_features) of the whole clip, from 0 s
    visual_fps: float | None = None

    @classmethod
    def from_perception(cls, perception: Perception, conclusion: Conclusion | None = None) -> Shot:
        visual = visual_features(perception)
        return cls(conclusion=conclusion, visual=visual[0] if visual else None, visual_fps=visual[1] if visual else None)


def visual_features(perception: Perception) -> tuple[np.ndarray, float] | None:
    """The main speaker's per-video-frame features (T, len(VISUAL_FEATURES)) and their fps, from perception.

    Filled from what perception measures: mouth_open (lip gap / face height), its velocity per second and
    face_present; the other columns stay 0 until perception measures them (the model sees 0 for them in
    training too, when rows come from the same perception). None when nobody speaks on screen.
    """
    if perception.speaker_id is None or perception.speaker_id not in perception.mouth_series:
        return None
    series = np.array([np.nan if v is None else v for v in perception.mouth_series[perception.speaker_id]], np.float64)
    fps = perception.sample_fps
    features = np.zeros((len(series), len(VISUAL_FEATURES)), np.float32)
    seen = ~np.isnan(series)
    opening = np.where(seen, series, 0.0)
    features[:, VISUAL_FEATURES.index("mouth_open")] = opening
    features[:, VISUAL_FEATURES.index("mouth_open_velocity")] = np.gradient(opening) * fps if len(series) > 1 else 0.0
    features[:, VISUAL_FEATURES.index("face_present")] = seen
    return features, fps


@runtime_checkable
class Actor(Protocol):
    """Speaks one line in a reference voice, with the direction's emotion, timed to its window."""

    def perform(self, line: Line, direction: Direction, voice: Voice, *, shot: Shot | None = None) -> Take:
        """The take: audio exactly `direction.window.duration` long (longer only when the line cannot be
        said in it at frontend.MAX_SQUEEZE times the natural rate: `applied` then says so), with timings
        and what was applied.
        `shot` is optional context (the conclusion, the speaker's visual features); an actor may ignore it."""
        ...


def _parametric(argument: str) -> Actor:
    from .parametric import ParametricActor

    options = {"": {}, "notimbre": {"timbre": False}}
    if argument not in options:
        raise CinedubError(f"unknown parametric actor option {argument!r} (known: notimbre)")
    return ParametricActor(**options[argument])


def _f5(argument: str) -> Actor:
    if not argument:
        raise CinedubError("the f5 actor needs a checkpoint: --actor f5:PATH[,nfe=16,cfg=2,...]")
    from .f5.actor import from_spec

    return from_spec(argument)


# spec prefix -> factory(argument after the first ':')
ACTORS: dict[str, Callable[[str], Actor]] = {"parametric": _parametric, "f5": _f5}


def load_actor(spec: str) -> Actor:
    """An actor from its spec: 'parametric', 'parametric:notimbre', 'f5:CHECKPOINT'."""
    name, _, argument = spec.strip().partition(":")
    factory = ACTORS.get(name.lower())
    if factory is None:
        raise CinedubError(f"unknown actor {spec!r} (known: {', '.join(ACTORS)})")
    return factory(argument)
