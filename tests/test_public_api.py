"""Every name a subpackage exports is importable from it and documented.

A function or class needs its own docstring (a class does not inherit one); a constant needs a ``#:``
comment on the line above its assignment in its module, which Sphinx's autodoc reads as its documentation.
"""

from __future__ import annotations

import importlib
import inspect
import sys

import pytest

SUBPACKAGES = ["scratchbook.rnn", "scratchbook.compact", "scratchbook.metric", "scratchbook.latent"]


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
