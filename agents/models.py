"""The one model loader: a reasoner spec -> the chat model (VLM) behind it, or None for `rules`.

The director's context holds what it returns (`DirectorContext.model`); the VLM reasoner, the note
interpreter and the library's scene describer all use that one model (a `local:` checkpoint is
loaded once).
"""

from __future__ import annotations

from cinedub.agents.local_model import TransformersChat
from cinedub.agents.openai_model import openai_chat
from cinedub.agents.vlm import ChatModel
from cinedub.errors import CinedubError

# Reasoner kinds: those with a chat model, and the one without.
MODEL_KINDS = ("local", "openai")
RULES = "rules"


def model_kind(spec: str) -> str:
    """The kind of a reasoner spec ('rules', 'local' or 'openai'), or a one-line error."""
    kind = spec.partition(":")[0]
    if kind != RULES and kind not in MODEL_KINDS:
        raise CinedubError(f"unknown reasoner {spec!r}; choose rules, local:PATH or openai:URL")
    return kind


def load_model(spec: str) -> ChatModel | None:
    """`local:PATH` (a VLM checkpoint folder run in-process, agents/local_model.py), `openai:URL[#model]`
    (an OpenAI-compatible server, e.g. vLLM, agents/openai_model.py); None for `rules`."""
    kind, _, arg = spec.partition(":")
    if model_kind(spec) == "local":
        if not arg:
            raise CinedubError("reasoner local: needs a model folder: local:PATH")
        return TransformersChat(arg)
    if kind == "openai":
        return openai_chat(arg)
    return None
