"""The table of actor backends (`--actor parametric`, `--actor f5:CHECKPOINT`). Each factory imports its
backend when it is chosen, so a parametric run never imports torch (the f5 actor's)."""

from __future__ import annotations

from collections.abc import Callable

from cinedub.errors import CinedubError

from .protocol import Actor


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
