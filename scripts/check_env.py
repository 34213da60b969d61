"""Check that the running Python's environment holds exactly what the given lock files pin.

    .venv/bin/python scripts/check_env.py requirements/cinedub.lock requirements/no-deps.lock

Exit 0 when every locked package is installed at its locked version; otherwise one line per difference
and exit 1. Standard library only, so it runs in any venv (.venv-vllm too).
"""

from __future__ import annotations

import importlib.metadata
import re
import sys
from pathlib import Path

PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^ \\;]+)")


def canonical(name: str) -> str:
    """PEP 503 name: lowercase, runs of -_. as one -."""
    return re.sub(r"[-_.]+", "-", name).lower()


def read_lock(path: Path) -> dict[str, str]:
    """{canonical name: version} of a pip-style lock (`name==version \\` lines, hashes below them)."""
    return {canonical(m[1]): m[2] for line in path.read_text().splitlines() if (m := PIN.match(line))}


def differences(locked: dict[str, str]) -> list[str]:
    installed = {canonical(d.metadata["Name"]): d.version for d in importlib.metadata.distributions()}
    problems = []
    for name, version in sorted(locked.items()):
        have = installed.get(name)
        if have is None:
            problems.append(f"{name} is not installed; the lock says {version}")
        elif have != version:
            problems.append(f"{name} {have} is installed; the lock says {version}")
    return problems


def main(argv: list[str]) -> int:
    if not argv:
        print("usage: check_env.py LOCK [LOCK ...]", file=sys.stderr)
        return 2
    locked: dict[str, str] = {}
    for path in map(Path, argv):
        locked.update(read_lock(path))
    problems = differences(locked)
    for line in problems:
        print(f"environment differs from the lock: {line}", file=sys.stderr)
    if problems:
        print(f"{sys.prefix}: {len(problems)} of {len(locked)} locked packages differ; "
              f"run `bash scripts/setup.sh` (or refresh the lock: `bash scripts/lock.sh`)", file=sys.stderr)
        return 1
    print(f"{sys.prefix}: all {len(locked)} locked packages at their locked versions")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
