"""Packaging: one import namespace, and `--help` on every command."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tests.conftest import run_cinedub

ROOT = Path(__file__).resolve().parents[1]


def test_the_wheel_installs_only_the_cinedub_namespace(tmp_path):
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(tmp_path),
                    str(ROOT)], check=True, capture_output=True)  # fmt: skip
    (wheel,) = tmp_path.glob("cinedub-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    top_level = {name.split("/")[0] for name in names if not name.split("/")[0].endswith(".dist-info")}
    assert top_level == {"cinedub"}
    for package in ("agents", "agents/perception", "speech", "speech/f5", "retrieval", "training", "ui", "evaluation"):
        assert f"cinedub/{package}/__init__.py" in names


@pytest.mark.parametrize("command", [[], ["dub"], ["classify"], ["cot"], ["cot", "check"], ["sessions"], ["takes"],
                                     ["eval"]])  # fmt: skip
def test_every_command_has_help(command):
    result = run_cinedub(*command, "--help")
    assert result.returncode == 0 and result.stdout.startswith("usage: cinedub"), result.stderr
