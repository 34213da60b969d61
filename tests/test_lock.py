"""The environment is the lock: scripts/setup.sh installs requirements/*.lock exactly (every version and
hash, nothing resolved), the lock satisfies pyproject.toml and the constraints, and a version other than
the lock's fails loudly."""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from packaging.markers import default_environment
from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[1]
LOCKS = ROOT / "requirements"
MAIN_LOCKS = (LOCKS / "cinedub.lock", LOCKS / "no-deps.lock")
INSTALLER_LOCK = LOCKS / "installer.lock"

_spec = importlib.util.spec_from_file_location("check_env", ROOT / "scripts" / "check_env.py")
check_env = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(check_env)


def _run(*command) -> subprocess.CompletedProcess:
    return subprocess.run([str(part) for part in command], capture_output=True, text=True, check=False)


def _locked(*paths: Path) -> dict[str, str]:
    locked: dict[str, str] = {}
    for path in paths:
        locked.update(check_env.read_lock(path))
    return locked


def _requirements_of_the_test_extra() -> list[Requirement]:
    """pyproject's dependencies and every extra the `test` extra pulls in, self-references expanded."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    requirements, extras, seen = [Requirement(r) for r in project["dependencies"]], ["test"], set()
    while extras:
        extra = extras.pop()
        if extra in seen:
            continue
        seen.add(extra)
        for requirement in map(Requirement, project["optional-dependencies"][extra]):
            if requirement.name == project["name"]:
                extras.extend(requirement.extras)
            else:
                requirements.append(requirement)
    return requirements


def _requirement_lines(path: Path) -> list[Requirement]:
    lines = (line.split("#")[0].strip() for line in path.read_text().splitlines())
    return [Requirement(line) for line in lines if line and not line.startswith("-")]


def _unsatisfied(requirements: list[Requirement], locked: dict[str, str]) -> list[str]:
    environment = {**default_environment(), "extra": ""}
    problems = []
    for requirement in requirements:
        if requirement.marker and not requirement.marker.evaluate(environment):
            continue
        version = locked.get(check_env.canonical(requirement.name))
        if version is None:
            problems.append(f"{requirement} is not in the lock")
        elif not requirement.specifier.contains(version, prereleases=True):
            problems.append(f"{requirement}: the lock has {version}")
    return problems


def test_the_lock_satisfies_pyproject_and_the_constraints():
    """What pyproject.toml, constraints.txt and requirements/*.in ask for is what the locks pin: a
    requirement added or moved without `bash scripts/lock.sh` fails here."""
    main = _locked(*MAIN_LOCKS)
    assert len(main) > 200
    assert _unsatisfied(_requirements_of_the_test_extra(), main) == []
    assert _unsatisfied(_requirement_lines(ROOT / "constraints.txt"), main) == []
    assert _unsatisfied(_requirement_lines(LOCKS / "tools.in"), main) == []
    assert _unsatisfied(_requirement_lines(LOCKS / "no-deps.in"), main) == []
    assert _unsatisfied(_requirement_lines(LOCKS / "vllm.in"), _locked(LOCKS / "vllm.lock")) == []
    assert _unsatisfied(_requirement_lines(LOCKS / "installer.in"), _locked(INSTALLER_LOCK)) == []
    # The locks of one venv are installed together: a package in two would be two versions at once.
    venv_locks = [set(check_env.read_lock(lock)) for lock in (*MAIN_LOCKS, INSTALLER_LOCK)]
    assert sum(map(len, venv_locks)) == len(set().union(*venv_locks))
    assert not set(check_env.read_lock(LOCKS / "vllm.lock")) & venv_locks[2]
    # The CPU torch on disk, never PyPI's CUDA build; torchcodec (a CUDA build) left out.
    assert main["torch"].endswith("+cpu") and "torchcodec" not in main
    # Every pin carries its hashes, which is what lets pip install it with --require-hashes.
    for lock in (*MAIN_LOCKS, LOCKS / "vllm.lock", INSTALLER_LOCK):
        entries = re.split(r"\n(?=[a-z0-9])", lock.read_text())
        pins = [entry for entry in entries if check_env.PIN.match(entry)]
        assert pins and all("--hash=sha256:" in entry for entry in pins), lock.name


def test_setup_installs_the_locks():
    setup = (ROOT / "scripts" / "setup.sh").read_text()
    assert "scripts/install_lock.sh .venv requirements/cinedub.lock requirements/no-deps.lock" in setup
    setup_vllm = (ROOT / "scripts" / "setup_vllm.sh").read_text()
    assert 'scripts/install_lock.sh "$VENV" requirements/vllm.lock' in setup_vllm
    # Nothing else is resolved: the one other pip install is cinedub itself, without its dependencies.
    (editable,) = [line for line in setup.splitlines() if "pip install" in line]
    assert "--no-deps" in editable and editable.endswith("-e .")


def test_the_environment_starts_from_bytecode():
    """Installed packages and cinedub's own modules come with their .pyc: a process (a batch worker, each
    CLI call) imports them without compiling, also where PYTHONDONTWRITEBYTECODE keeps Python from writing
    them (this machine sets it; compiling torch's, scipy's and mediapipe's imports took ~5 s a start)."""
    import mediapipe
    import scipy.signal
    import torch

    import cinedub.agents.perception
    import cinedub.batch

    modules = (torch, scipy.signal, mediapipe, cinedub.batch, cinedub.agents.perception)
    missing = [m.__name__ for m in modules if not Path(importlib.util.cache_from_source(m.__file__)).is_file()]
    assert not missing, f"no bytecode for {missing}: scripts/setup.sh compiles it"


def test_the_environment_is_the_lock():
    result = _run(sys.executable, ROOT / "scripts" / "check_env.py", INSTALLER_LOCK, *MAIN_LOCKS)
    assert result.returncode == 0, result.stderr
    assert re.search(r"all \d+ locked packages at their locked versions", result.stdout)


def test_a_version_other_than_the_locks_fails_loudly(tmp_path):
    installed = check_env.read_lock(MAIN_LOCKS[0])["srt"]
    lock = tmp_path / "other.lock"
    lock.write_text(f"srt==3.5.0 \\\n    --hash=sha256:{'0' * 64}\n"
                    f"not-a-package-here==1.0 \\\n    --hash=sha256:{'1' * 64}\n")  # fmt: skip
    result = _run(sys.executable, ROOT / "scripts" / "check_env.py", lock)
    assert result.returncode == 1
    assert f"srt {installed} is installed; the lock says 3.5.0" in result.stderr
    assert "not-a-package-here is not installed; the lock says 1.0" in result.stderr
    assert "2 of 2 locked packages differ" in result.stderr


def _lock_entry(name: str) -> str:
    """The lines of one package in cinedub.lock: its pin and hashes (annotations dropped)."""
    text = MAIN_LOCKS[0].read_text()
    entry = re.search(rf"^{name}==.*?(?=^\S)", text, re.M | re.S).group(0)
    return "".join(line + "\n" for line in entry.splitlines() if not line.strip().startswith("#"))


def test_install_lock_takes_exactly_the_locked_file(tmp_path):
    """scripts/install_lock.sh (what setup.sh runs) in a new venv: the locked version goes in; the same
    hashes under another version are refused by uv before anything is installed. Needs PyPI (or uv's
    cache)."""
    subprocess.run([sys.executable, "-m", "venv", tmp_path / "venv"], check=True)
    venv_python = tmp_path / "venv" / "bin" / "python"
    entry = _lock_entry("six")
    locked_version = check_env.read_lock(MAIN_LOCKS[0])["six"]
    good = tmp_path / "good.lock"
    good.write_text(entry)
    result = _run("bash", ROOT / "scripts" / "install_lock.sh", tmp_path / "venv", good)
    if result.returncode != 0 and re.search(r"Could not fetch|connection|No matching", result.stderr, re.I):
        pytest.skip(f"PyPI is out of reach from here: {result.stderr.strip().splitlines()[-1]}")
    assert result.returncode == 0, result.stderr
    version = subprocess.run([venv_python, "-c", "import importlib.metadata as m; print(m.version('six'))"],
                             capture_output=True, text=True, check=True).stdout.strip()  # fmt: skip
    assert version == locked_version

    other = "1.16.0" if locked_version != "1.16.0" else "1.15.0"
    tampered = tmp_path / "tampered.lock"
    tampered.write_text(entry.replace(f"six=={locked_version}", f"six=={other}"))
    subprocess.run([venv_python, "-m", "pip", "uninstall", "-q", "-y", "six"], check=True)
    result = _run("bash", ROOT / "scripts" / "install_lock.sh", tmp_path / "venv", tampered)
    assert result.returncode != 0
    assert re.search(r"hash mismatch", result.stderr, re.I), result.stderr
    assert _run(venv_python, "-c", "import six").returncode != 0  # nothing was installed
