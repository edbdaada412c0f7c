"""The installed package ships _core.pyi and py.typed, and the stub matches the built module:
it names every public attribute of _core (and of each of its classes) and nothing the module
lacks. Read from the installed package, so a wheel that leaves them out fails here."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import a3c_native
from a3c_native import _core

PACKAGE = Path(a3c_native.__file__).parent
STUB = PACKAGE / "_core.pyi"


def _public(names) -> set[str]:
    return {n for n in names if not n.startswith("_")}


def _defined(body: list[ast.stmt]) -> set[str]:
    """Names a module or class body of the stub defines (not imports)."""
    out = set()
    for node in body:
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            out.add(node.name)
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            out.add(node.target.id)
        elif isinstance(node, ast.Assign):
            out.update(t.id for t in node.targets if isinstance(t, ast.Name))
    return out


def _stub() -> ast.Module:
    return ast.parse(STUB.read_text(), filename=str(STUB))


def _stub_classes() -> dict[str, ast.ClassDef]:
    return {n.name: n for n in _stub().body if isinstance(n, ast.ClassDef)}


def test_core_stub_and_py_typed_are_installed():
    assert STUB.is_file(), f"{STUB} missing: the wheel must ship the stub"
    assert (PACKAGE / "py.typed").is_file(), "py.typed missing: the wheel must ship the marker"


def test_core_stub_names_every_module_attribute_and_nothing_else():
    stub = _defined(_stub().body)
    module = _public(dir(_core)) | {"__version__"}
    assert stub - {"__version__"} == _public(stub - {"__version__"}), "private names in the stub"
    assert not module - stub, f"_core attributes missing from _core.pyi: {sorted(module - stub)}"
    assert not stub - module, f"_core.pyi names what _core lacks: {sorted(stub - module)}"


@pytest.mark.parametrize("name", sorted(_stub_classes()))
def test_core_stub_class_matches_the_bound_class(name):
    cls = getattr(_core, name)
    stub = _defined(_stub_classes()[name].body)
    missing = _public(dir(cls)) - stub
    extra = {n for n in stub if not hasattr(cls, n)}
    assert not missing, f"_core.{name} attributes missing from _core.pyi: {sorted(missing)}"
    assert not extra, f"_core.pyi's {name} names what _core.{name} lacks: {sorted(extra)}"
