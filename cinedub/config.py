"""Configuration: where sessions live, and the environment every run needs (offline, no telemetry)."""

from __future__ import annotations

import os
from pathlib import Path

# Nothing may phone home or reach a model hub (MODELS.md): set before those libraries import.
OFFLINE_ENV = {
    "HF_HUB_OFFLINE": "1",
    "HF_HUB_DISABLE_TELEMETRY": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "GRADIO_ANALYTICS_ENABLED": "False",
    "ANONYMIZED_TELEMETRY": "False",
    "FORCE_QWENVL_VIDEO_READER": "decord",
}

DEFAULT_REASONER = "rules"
DEFAULT_ACTOR = "parametric"


def apply_offline_env() -> None:
    for key, value in OFFLINE_ENV.items():
        os.environ.setdefault(key, value)


def home() -> Path:
    """Where sessions are kept: $CINEDUB_HOME, else ~/.cinedub."""
    return Path(os.environ.get("CINEDUB_HOME") or Path.home() / ".cinedub")
