"""Helpers for the chapter notebooks: show package source, glue numbers into prose, check answers."""

from __future__ import annotations

import inspect
import textwrap
from typing import Any, Callable

import numpy as np

__all__ = ["show_source", "glue", "report_check"]


def show_source(*objects: Any, methods: tuple[str, ...] | None = None) -> None:
    """Display the source of package functions or classes as a highlighted code block.

    The chapter text shows the code it teaches through this helper, so the two can never disagree.
    ``methods`` restricts a class to the listed methods (in that order).
    """
    from IPython.display import Markdown, display

    blocks = []
    for obj in objects:
        if methods is not None and inspect.isclass(obj):
            parts = [textwrap.dedent(inspect.getsource(getattr(obj, m))) for m in methods]
            src = "\n".join(parts)
            header = f"# {obj.__module__}.{obj.__qualname__}: " + ", ".join(methods)
            src = header + "\n" + src
        else:
            src = textwrap.dedent(inspect.getsource(obj))
        blocks.append(f"```python\n{src.rstrip()}\n```")
    display(Markdown("\n\n".join(blocks)))


def glue(name: str, value: Any, display: bool = False) -> Any:
    """Store ``value`` under ``name`` for the prose (myst-nb ``{glue}``); a no-op outside the book.

    Outside Jupyter Book (Colab, a plain kernel) myst-nb may be missing; the value is returned
    unchanged so a notebook runs the same everywhere.
    """
    try:
        from myst_nb import glue as _glue
    except ImportError:
        return value
    _glue(name, value, display=display)
    return value


def report_check(
    what: str, got: Any, expected: Any, *, rtol: float = 1e-6, atol: float = 1e-8, hint: str = ""
) -> bool:
    """Compare a reader's answer with the package's, print a verdict, and return whether it matched."""
    try:
        got_arr = np.asarray(got, dtype=float)
    except (TypeError, ValueError):
        print(f"✗ {what}: expected numbers, got {type(got).__name__}.")
        return False
    exp_arr = np.asarray(expected, dtype=float)
    if got_arr.shape != exp_arr.shape:
        print(f"✗ {what}: expected shape {exp_arr.shape}, got {got_arr.shape}. {hint}".rstrip())
        return False
    if np.allclose(got_arr, exp_arr, rtol=rtol, atol=atol):
        print(f"✓ {what}: correct.")
        return True
    err = float(np.max(np.abs(got_arr - exp_arr)))
    print(f"✗ {what}: largest difference {err:.3g}. {hint}".rstrip())
    return False


def call_or_none(fn: Callable[..., Any], *args: Any) -> Any:
    """Call a reader's function and turn ``NotImplementedError`` into ``None`` (exercise not done)."""
    try:
        return fn(*args)
    except NotImplementedError:
        return None
