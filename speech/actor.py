"""The actor, in one import: its interface (protocol.py), what it knows of the shot (shot.py) and the table
of backends (backends.py). The names stay importable from here."""

from __future__ import annotations

from .backends import ACTORS, load_actor
from .protocol import Actor
from .shot import VISUAL_FEATURES, Shot, visual_features

__all__ = ["ACTORS", "VISUAL_FEATURES", "Actor", "Shot", "load_actor", "visual_features"]
