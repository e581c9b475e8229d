"""Every name a subpackage exports is importable from it and documented.

A function or class needs its own docstring (a class does not inherit one); a constant needs a ``#:``
comment on the line above its assignment in its module, which Sphinx's autodoc reads as its documentation.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import sys

import pytest

SUBPACKAGES = ["scratchbook.rnn", "scratchbook.compact", "scratchbook.metric", "scratchbook.latent"]

# The one style of a subpackage's ``__init__`` (scikit-learn's): it imports what it exports by name and declares
# it once, in a single ``__all__`` list literal, sorted as ruff's RUF022 sorts (constants, classes, functions).
# The two packages below predate the rule; their branch merges the ``__all__`` steps (metric) and sorts (latent).


def _exports():
    for package in SUBPACKAGES:
        for name in importlib.import_module(package).__all__:
            yield package, name


def _constant_is_documented(obj, package: str, name: str) -> bool:
    """True if some module of the package assigns a value equal to ``obj`` right below a ``#:`` comment."""
    for module_name, module in list(sys.modules.items()):
        if not module_name.startswith(package + ".") or module is None:
            continue
        try:
            lines = inspect.getsource(module).splitlines()
        except (OSError, TypeError):
            continue
        for k, line in enumerate(lines[1:], start=1):
            target = line.split("=")[0].strip()
            if "=" in line and target.isidentifier() and getattr(module, target, None) is obj:
                if lines[k - 1].lstrip().startswith("#:"):
                    return True
    return False


def test_every_subpackage_has_an_all_without_duplicates():
    for package in SUBPACKAGES:
        names = importlib.import_module(package).__all__
        assert len(names) == len(set(names)), [n for n in names if names.count(n) > 1]


def _all_statements(module: str) -> list[ast.stmt]:
    tree = ast.parse(inspect.getsource(importlib.import_module(module)))
    targets = {
        ast.Assign: lambda s: s.targets,
        ast.AnnAssign: lambda s: [s.target],
        ast.AugAssign: lambda s: [s.target],
    }
    return [
        s
        for s in ast.walk(tree)
        if type(s) in targets and any(isinstance(t, ast.Name) and t.id == "__all__" for t in targets[type(s)](s))
    ]


def _ruff_order(name: str) -> tuple[int, str]:
    return (0 if name.isupper() else 1 if name[0].isupper() else 2, name)


@pytest.mark.parametrize("package", SUBPACKAGES)
def test_init_declares_all_once_as_a_sorted_literal(package):
    (statement,) = _all_statements(package)
    assert not isinstance(statement, ast.AugAssign), f"{package}: __all__ is extended, not declared once"
    assert isinstance(statement.value, ast.List), f"{package}: __all__ is not a list literal"
    names = [ast.literal_eval(element) for element in statement.value.elts]
    assert names == sorted(names, key=_ruff_order), f"{package}: __all__ is not sorted (ruff check --select RUF022)"


def _modules() -> list[str]:
    """Every module of the package, the subpackages' ``__init__`` aside (the test above holds those)."""
    import pkgutil

    return [
        f"{package}.{info.name}"
        for package in ["scratchbook", *SUBPACKAGES]
        for info in pkgutil.iter_modules(importlib.import_module(package).__path__)
        if not info.ispkg
    ]


@pytest.mark.parametrize("module", _modules())
def test_module_declares_all_once_as_a_literal(module):
    """A module that has an ``__all__`` declares it in one list literal (its order is the module's own)."""
    statements = _all_statements(module)
    if not statements:
        assert module.rsplit(".", 1)[1].startswith("_"), f"{module} is public and has no __all__"
        return
    (statement,) = statements
    assert not isinstance(statement, ast.AugAssign) and isinstance(statement.value, ast.List), module


@pytest.mark.parametrize("package, name", list(_exports()))
def test_exported_name_is_re_exported_from_a_module_all(package, name):
    """A subpackage adds no name of its own: each is one that a module of it lists in the module's ``__all__``."""
    obj = getattr(importlib.import_module(package), name)
    modules = [m for n, m in list(sys.modules.items()) if n.startswith(package + ".") and m is not None]
    assert any(getattr(m, listed, None) is obj for m in modules for listed in getattr(m, "__all__", ())), (
        f"{package}.{name} is in no module's __all__ of {package}"
    )


@pytest.mark.parametrize("package, name", list(_exports()))
def test_exported_name_is_importable_and_documented(package, name):
    module = importlib.import_module(package)
    namespace: dict = {}
    exec(f"from {package} import {name}", namespace)  # the import a reader writes
    obj = namespace[name]
    assert obj is getattr(module, name)
    if inspect.isclass(obj) or inspect.isroutine(obj):
        doc = obj.__dict__.get("__doc__") if inspect.isclass(obj) else obj.__doc__
        assert doc and doc.strip(), f"{package}.{name} has no docstring"
    else:
        assert _constant_is_documented(obj, package, name), f"{package}.{name} has no '#:' comment"
