"""The actor: speaks a line in a reference voice, timed to the window, with the emotion asked for."""

from .actor import ACTORS, Actor, load_actor
from .frontend import check_speakable, estimate_speech_seconds, normalize_text
from .measure import measure_prosody, speech_span
from .parametric import ParametricActor
from .prosody import EMOTION_PROSODY, ProsodyTargets, prosody_targets
from .voice import check_voice, load_voice

__all__ = [
    "ACTORS", "Actor", "EMOTION_PROSODY", "ParametricActor", "ProsodyTargets", "check_speakable", "check_voice",
    "estimate_speech_seconds", "load_actor", "load_voice", "measure_prosody", "normalize_text", "prosody_targets",
    "speech_span",
]  # fmt: skip
