"""The package's import structure: no import cycles between its modules, and every module
importable on its own in a fresh interpreter.

The graph is read from the source (`ast`) of the installed package, so a cycle is reported
even when the current import order happens to work. It counts imports inside functions too:
a function-level import only postpones a cycle to the first call (and learning <-> plotting,
the circle issue 18 names, went through one); it ignores those under ``if TYPE_CHECKING:``,
which never run. An edge to the package itself (``from . import __version__``) counts as an
edge to ``__init__``, which imports most modules: the classic hidden cycle.
"""

from __future__ import annotations

import ast
import importlib.machinery
import subprocess
import sys
from pathlib import Path

import a3c_native
import pytest

PACKAGE = "a3c_native"
PACKAGE_DIR = Path(a3c_native.__file__).parent


def package_modules(package_dir: Path = PACKAGE_DIR) -> dict[str, Path | None]:
    """Dotted name -> source file of every module of the package (None: an extension)."""
    mods: dict[str, Path | None] = {}
    for path in sorted(package_dir.rglob("*.py")):  # subpackages too (cluster/)
        parts = [PACKAGE, *path.relative_to(package_dir).with_suffix("").parts]
        mods[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    for suffix in [*importlib.machinery.EXTENSION_SUFFIXES, ".pyi"]:  # _core (or its stub)
        for path in package_dir.glob(f"*{suffix}"):
            mods.setdefault(f"{PACKAGE}.{path.name.split('.')[0]}", None)  # _core.cpython-3..so
    return mods


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _import_nodes(tree: ast.AST) -> list[tuple[ast.Import | ast.ImportFrom, bool]]:
    """Every import statement that can run, with whether it sits inside a function."""
    found: list[tuple[ast.Import | ast.ImportFrom, bool]] = []

    def visit(node: ast.AST, in_function: bool) -> None:
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            found.append((node, in_function))
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            children: list[ast.AST] = list(node.orelse)  # the body runs for type checkers only
        else:
            children = list(ast.iter_child_nodes(node))
        inner = in_function or isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
        for child in children:
            visit(child, inner)

    visit(tree, False)
    return found


def import_graph(package_dir: Path = PACKAGE_DIR) -> dict[str, dict[str, str]]:
    """module -> {imported package module: "line N" (+ ", in a function")}."""
    mods = package_modules(package_dir)
    graph: dict[str, dict[str, str]] = {m: {} for m in mods}
    for mod, path in mods.items():
        if path is None:
            continue
        # a module's relative imports resolve against its package (for __init__: itself)
        parent = mod if path.stem == "__init__" else mod.rpartition(".")[0]
        for node, in_function in _import_nodes(ast.parse(path.read_text(), str(path))):
            where = f"line {node.lineno}" + (", in a function" if in_function else "")
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            else:
                base = node.module or ""
                if node.level:
                    anchor = parent.split(".")[: len(parent.split(".")) - (node.level - 1)]
                    base = ".".join([*anchor, *([base] if base else [])])
                # `from pkg import name` imports the submodule pkg.name if there is one
                targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in mods else base
                           for a in node.names]  # fmt: skip
            for target in targets:
                while target and target not in mods:  # import a3c_native.x.y -> a3c_native.x
                    target = target.rpartition(".")[0]
                if target and target != mod:
                    graph[mod].setdefault(target, where)
    return graph


def find_cycle(graph: dict[str, dict[str, str]]) -> list[str] | None:
    """One cycle of the graph as [m0, m1, ..., m0], or None (depth-first search)."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(m: str) -> list[str] | None:
        state[m] = 1
        path.append(m)
        for n in sorted(graph[m]):
            if state.get(n) == 1:
                return [*path[path.index(n) :], n]
            if n not in state and (cycle := visit(n)):
                return cycle
        path.pop()
        state[m] = 2
        return None

    for m in sorted(graph):
        if m not in state and (cycle := visit(m)):
            return cycle
    return None


def test_imports_graph_sees_relative_absolute_and_function_level_imports():
    g = import_graph()
    assert g["a3c_native.learning"]["a3c_native.plotting"].startswith("line ")
    assert "a3c_native.presets" in g["a3c_native.config"]  # inside A3CConfig.from_preset
    assert g["a3c_native.config"]["a3c_native.presets"].endswith("in a function")
    assert "a3c_native.config" not in g["a3c_native.envs"]  # under `if TYPE_CHECKING:` only
    assert "a3c_native._core" in g["a3c_native.networks"]  # the extension is a node too
    assert set(g["a3c_native.__main__"]) == {"a3c_native.cli"}


def test_imports_find_cycle_reports_the_circle():
    assert find_cycle({"a": {"b": ""}, "b": {"c": ""}, "c": {}}) is None
    assert find_cycle({"a": {"b": ""}, "b": {"c": ""}, "c": {"a": ""}}) == ["a", "b", "c", "a"]


def test_imports_package_has_no_import_cycles():
    g = import_graph()
    cycle = find_cycle(g)
    if cycle is not None:
        hops = [f"{a} imports {b} ({g[a][b]})" for a, b in zip(cycle, cycle[1:])]
        pytest.fail("import cycle: " + "; ".join(hops))


@pytest.mark.parametrize(
    "module", sorted(m for m in package_modules() if m != "a3c_native.__main__")
)
def test_imports_each_module_imports_first_in_a_fresh_interpreter(module):
    p = subprocess.run([sys.executable, "-c", f"import {module}"], capture_output=True, text=True,
                       timeout=120, check=False)  # fmt: skip
    assert p.returncode == 0, p.stderr
