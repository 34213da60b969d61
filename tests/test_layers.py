"""No import cycle between cinedub's modules (cinedub, .agents, .speech, .retrieval, .training, .ui).

The module-level imports of every source file (those that run when the module is imported: not the ones
inside functions, nor under `if TYPE_CHECKING:`) are read with `ast`, resolved to cinedub module names
through pyproject's package mapping, and the graph is searched for a cycle. Importing `a.b.c` runs the
packages `a` and `a.b` first, so those are edges too, except from a module inside that package (Python
has started a package before any of its modules, so importing it from them is no cycle).
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

REPO = Path(__file__).resolve().parents[1]


def modules_of(package_dirs: dict[str, Path]) -> dict[str, Path]:
    """Module name -> source file, for every .py under each package's folder."""
    found: dict[str, Path] = {}
    for package, folder in package_dirs.items():
        for path in sorted(folder.rglob("*.py")):
            parts = list(path.relative_to(folder).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            found.setdefault(".".join([package, *parts]), path)
    return found


def _module_level(tree: ast.Module) -> list[ast.Import | ast.ImportFrom]:
    """Import statements run at import time: module and class bodies, if/try/with blocks; not functions,
    not `if TYPE_CHECKING:`."""
    found: list[ast.Import | ast.ImportFrom] = []
    pending: list[ast.stmt] = list(tree.body)
    while pending:
        node = pending.pop()
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            found.append(node)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        elif isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            pending.extend(node.orelse)
        else:
            for field in ("body", "orelse", "finalbody", "handlers"):
                for child in getattr(node, field, []) or []:
                    pending.extend(child.body if isinstance(child, ast.ExceptHandler) else [child])
    return found


def import_graph(package_dirs: dict[str, Path]) -> dict[str, set[str]]:
    """Module -> the cinedub modules its module-level imports run."""
    modules = modules_of(package_dirs)
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        is_package = path.name == "__init__.py"
        targets: set[str] = set()
        for node in _module_level(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                bases = [alias.name for alias in node.names]
                names: list[str] = []
            else:
                if node.level:
                    anchor = name.split(".") if is_package else name.split(".")[:-1]
                    anchor = anchor[: len(anchor) - (node.level - 1)]
                    base = ".".join(anchor + ([node.module] if node.module else []))
                else:
                    base = node.module or ""
                bases, names = [base], [f"{base}.{alias.name}" for alias in node.names]
            for target in bases + [n for n in names if n in modules]:
                parts = target.split(".")
                for depth in range(1, len(parts) + 1):
                    module = ".".join(parts[:depth])
                    if module not in modules or module == name:
                        continue
                    if name.startswith(module + "."):
                        continue  # a module's own enclosing package: already running
                    targets.add(module)
        graph[name] = targets
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle (its modules, the first repeated at the end), or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for target in sorted(graph.get(node, ())):
            if state.get(target) == 1:
                return path[path.index(target) :] + [target]
            if target not in state and (cycle := visit(target)):
                return cycle
        path.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def cinedub_packages() -> dict[str, Path]:
    mapping = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]["package-dir"]
    return {package: REPO / folder for package, folder in mapping.items()}


def test_the_source_tree_has_no_import_cycle():
    graph = import_graph(cinedub_packages())
    assert {"cinedub.types", "cinedub.agents.nodes", "cinedub.speech.actor", "cinedub.retrieval.library",
            "cinedub.training", "cinedub.ui.app"} <= set(graph)  # fmt: skip
    assert "cinedub.types" in graph["cinedub.agents.nodes"]  # the walk sees real imports
    cycle = find_cycle(graph)
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_a_cycle_is_found(tmp_path):
    """The check can fail: a two-package cycle (relative and absolute imports, one in a class body) and a
    cycle through a package's __init__ are found; an import inside a function or under TYPE_CHECKING is not
    an edge."""
    (tmp_path / "top").mkdir()
    (tmp_path / "lower").mkdir()
    (tmp_path / "top" / "__init__.py").write_text("")
    (tmp_path / "top" / "a.py").write_text("from .b import thing\n")
    (tmp_path / "top" / "b.py").write_text("class B:\n    from pkg.lower.c import other\nthing = 1\n")
    (tmp_path / "lower" / "__init__.py").write_text("")
    (tmp_path / "lower" / "c.py").write_text("import pkg.top.a\nother = 2\n")
    packages = {"pkg": tmp_path, "pkg.top": tmp_path / "top", "pkg.lower": tmp_path / "lower"}
    assert find_cycle(import_graph(packages)) == ["pkg.lower.c", "pkg.top.a", "pkg.top.b", "pkg.lower.c"]

    (tmp_path / "lower" / "c.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import pkg.top.a\n"
        "def later():\n    import pkg.top.a\nother = 2\n"
    )
    assert find_cycle(import_graph(packages)) is None
    # A package whose __init__ imports a module that imports it back through another package.
    (tmp_path / "lower" / "__init__.py").write_text("from pkg.top import a\n")
    (tmp_path / "top" / "b.py").write_text("import pkg.lower\nthing = 1\n")
    assert find_cycle(import_graph(packages)) == ["pkg.lower", "pkg.top.a", "pkg.top.b", "pkg.lower"]
