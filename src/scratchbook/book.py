"""Helpers for the chapter notebooks: show package source, glue numbers into prose, check answers."""

from __future__ import annotations

import ast
import inspect
import re
import textwrap
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "show_source",
    "glue",
    "glue_all",
    "claim",
    "report_check",
    "call_or_none",
    "chapter_outline",
    "toc_entries",
    "stub_functions",
    "leaves_inputs_unchanged",
    "parse_concept_check",
    "concept_check",
    "concept_checks",
]


def show_source(*objects: Any, methods: tuple[str, ...] | None = None) -> None:
    """Display the source of package functions or classes, with a link to their reference.

    The chapter text shows the code it teaches through this helper, so the two can never disagree.
    ``methods`` restricts a class to the listed methods (in that order). On the website each name
    links to the package reference page; in Jupyter it reads as the object's full name.
    """
    from IPython.display import Markdown, display

    blocks, names = [], []
    for obj in objects:
        if methods is not None and inspect.isclass(obj):
            parts = [textwrap.dedent(inspect.getsource(getattr(obj, m))) for m in methods]
            src = f"# {obj.__qualname__}: " + ", ".join(methods) + "\n" + "\n".join(parts)
        else:
            src = textwrap.dedent(inspect.getsource(obj))
        blocks.append(f"```python\n{src.rstrip()}\n```")
        names.append(f"{{py:obj}}`{obj.__module__}.{obj.__qualname__}`")
    blocks.append("Reference: " + ", ".join(names))
    display(Markdown("\n\n".join(blocks)))


def glue(name: str, value: Any, display: bool = False) -> Any:
    """Store ``value`` under ``name`` for the prose (myst-nb ``{glue}``); a no-op outside the book.

    Outside Jupyter Book (Colab, a plain kernel) myst-nb may be missing; the value is returned
    unchanged so a notebook runs the same everywhere. A NumPy scalar is stored as the Python number it
    holds: its text form (``np.float64(4.0)``) is not one a format spec such as ``:.2f`` can read.
    """
    if isinstance(value, np.generic):
        value = value.item()
    try:
        from myst_nb import glue as _glue
    except ImportError:
        return value
    _glue(name, value, display=display)
    return value


def glue_all(prefix_or_values: str | Mapping[str, Any] = "", /, **values: Any) -> dict[str, Any]:
    """:func:`glue` many values at once; return them as stored, by their full names.

    ``glue_all("scr_kd", mean=m, std=s)`` stores ``scr_kd_mean`` and ``scr_kd_std``;
    ``glue_all(n_seeds=15, n_tests=8)`` and ``glue_all({"n_seeds": 15, "n_tests": 8})`` store the names as given.
    """
    if isinstance(prefix_or_values, Mapping):
        named = dict(prefix_or_values)
        if not all(isinstance(k, str) for k in named):
            raise TypeError("prefix_or_values: a mapping's keys must be the glue names, as strings")
        clash = sorted(set(named) & set(values))
        if clash:
            raise ValueError(f"prefix_or_values and the keyword values both give {clash}")
        named |= values
    elif isinstance(prefix_or_values, str):
        prefix = f"{prefix_or_values}_" if prefix_or_values else ""
        named = {prefix + k: v for k, v in values.items()}
    else:
        raise TypeError(f"prefix_or_values must be a str prefix or a mapping, got {type(prefix_or_values).__name__}")
    if not named or not all(named):
        raise ValueError("glue_all needs one or more values, each with a non-empty name")
    return {name: glue(name, value) for name, value in named.items()}


class ClaimError(AssertionError):
    """A statement of the prose that the numbers computed beside it no longer support."""


def claim(statement: str, holds: Any, **values: Any) -> None:
    """Guard a statement of the prose: fail the cell, quoting it and ``values``, when ``holds`` is false.

    Every comparison the text makes ("the GRU beats the LSTM", "below chance") is written once as a
    ``claim`` in the cell that computes its numbers, so that a new seed, library version or code change
    that flips it fails the notebook instead of leaving the text false::

        claim("the GRU solves T = 20 and the LSTM does not", mse["GRU"] < 0.01 < mse["LSTM"], **mse)
    """
    if not isinstance(statement, str) or not statement.strip():
        raise TypeError("statement must be the sentence of the prose that the check guards")
    if not bool(holds):
        shown = ", ".join(
            f"{k} = {v:.4g}" if isinstance(v, (float, np.floating)) else f"{k} = {v!r}" for k, v in values.items()
        )
        raise ClaimError(f"The text says: {statement!r}, which no longer holds" + (f" ({shown})." if shown else "."))


def _values(x: Any) -> Any:
    """A torch tensor as a NumPy array of its values (detached, on the CPU); anything else as it is."""
    return x.detach().cpu().numpy() if type(x).__module__.startswith("torch") and hasattr(x, "detach") else x


def report_check(what: str, got: Any, expected: Any, *, rtol: float = 1e-6, atol: float = 1e-8, hint: str = "") -> bool:
    """Compare a reader's answer with the package's, print a verdict, and return whether it matched.

    Either may be a torch tensor (on any device, with or without a gradient): it is compared as its values.
    """
    try:
        got_arr = np.asarray(_values(got), dtype=float)
    except (TypeError, ValueError):
        print(f"✗ {what}: expected numbers, got {type(got).__name__}.")
        return False
    exp_arr = np.asarray(_values(expected), dtype=float)
    if got_arr.shape != exp_arr.shape:
        print(f"✗ {what}: expected shape {exp_arr.shape}, got {got_arr.shape}. {hint}".rstrip())
        return False
    if np.allclose(got_arr, exp_arr, rtol=rtol, atol=atol):
        print(f"✓ {what}: correct.")
        return True
    err = float(np.max(np.abs(got_arr - exp_arr)))
    print(f"✗ {what}: largest difference {err:.3g}. {hint}".rstrip())
    return False


NOT_DONE = "Not implemented yet: replace `raise NotImplementedError` with your code and run the cell again."


def call_or_none(fn: Callable[..., Any], *args: Any) -> Any:
    """Call a reader's function; if it still raises ``NotImplementedError``, say so and return ``None``.

    Every exercise checker calls the reader's function through this, so a student version of a
    notebook (see ``make student``) runs top to bottom with the exercises not yet done.
    """
    try:
        return fn(*args)
    except NotImplementedError:
        print(NOT_DONE)
        return None


def chapter_outline(path: str | Path) -> dict[str, Any]:
    """Read a chapter notebook's title, learning objectives and time estimate (in minutes).

    The objectives are the bullets right under the "Learning objectives" heading; the time estimate
    is the first "N minutes" in that cell (``None`` when the chapter gives none).
    """
    import nbformat

    path = Path(path)
    if path.suffix != ".ipynb" or not path.is_file():
        raise ValueError(f"path must be an existing .ipynb file, got {str(path)!r}")
    cells = [c.source for c in nbformat.read(path, as_version=4).cells if c.cell_type == "markdown"]
    title = next((ln[2:].strip() for c in cells for ln in c.splitlines() if ln.startswith("# ")), path.stem)
    objectives: list[str] = []
    minutes = None
    for text in cells:
        match = re.search(r"^#+ *Learning objectives.*$", text, re.M | re.I)
        if not match:
            continue
        for line in text[match.end() :].splitlines():
            if re.match(r"^\s*[-*] ", line):
                objectives.append(re.sub(r"^\s*[-*] +", "", line).strip())
            elif objectives and line.startswith(" ") and line.strip():
                objectives[-1] += " " + line.strip()  # a bullet continued on the next line
            elif line.strip() and objectives:
                break
        found = re.search(r"(\d+)\s*min", text)
        minutes = int(found.group(1)) if found else None
        break
    return {"title": title, "objectives": objectives, "minutes": minutes}


def toc_entries(toc_path: str | Path) -> list[tuple[str, str | None]]:
    """Every page of a Jupyter Book ``_toc.yml`` in reading order, as ``(file, part caption)``.

    The root page comes first with caption ``None``; a chapter's sections follow the chapter.
    """
    import yaml

    toc_path = Path(toc_path)
    if not toc_path.is_file():
        raise ValueError(f"toc_path must be an existing _toc.yml, got {str(toc_path)!r}")
    toc = yaml.safe_load(toc_path.read_text())
    entries: list[tuple[str, str | None]] = [(toc["root"], None)]

    def walk(items: list | None, caption: str | None) -> None:
        for item in items or []:
            if "file" in item:
                entries.append((item["file"], caption))
            walk(item.get("sections"), caption)
            walk(item.get("chapters"), caption)

    for part in toc.get("parts", []):
        walk(part.get("chapters"), part.get("caption"))
    walk(toc.get("chapters"), None)
    return entries


def stub_functions(source: str) -> str:
    """Replace the body of every top-level function by its docstring and ``raise NotImplementedError``.

    How an exercise's solution cell reads in the student versions of the book (``make student``, the
    student PDF): the signature and the docstring stay, the reader writes the body; other statements
    (the call to the checker) are kept.
    """
    tree = ast.parse(source)
    lines = source.splitlines()
    out, cursor = [], 0
    for node in tree.body:
        if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        body_start = node.body[0].lineno - 1
        doc = ast.get_docstring(node, clean=False)
        first = node.body[0]
        keep_until = first.end_lineno if doc is not None else body_start
        indent = " " * (first.col_offset)
        out.extend(lines[cursor:keep_until])
        out.append(f'{indent}raise NotImplementedError("Exercise: write this function")')
        cursor = node.end_lineno
    out.extend(lines[cursor:])
    return "\n".join(out) + ("\n" if source.endswith("\n") else "")


def _snapshot(value: Any) -> Any:
    """A copy of the array data inside ``value`` (arrays, tensors, modules, dicts, sequences); ``None`` for the rest."""
    if isinstance(value, np.ndarray):
        return value.copy()
    if isinstance(value, dict):
        return {k: _snapshot(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_snapshot(v) for v in value]
    try:
        import torch
    except ImportError:  # pragma: no cover - torch is a dependency of the book
        return None
    if isinstance(value, torch.Tensor):
        return value.detach().clone()
    if isinstance(value, torch.nn.Module):
        return {k: v.detach().clone() for k, v in value.state_dict().items()}
    return None


def _same(before: Any, value: Any) -> bool:
    """Whether ``value`` still holds the data recorded by :func:`_snapshot` as ``before``."""
    now = _snapshot(value)
    if isinstance(before, dict):
        return isinstance(now, dict) and before.keys() == now.keys() and all(_same(before[k], now[k]) for k in before)
    if isinstance(before, list):
        return isinstance(now, list) and len(before) == len(now) and all(_same(b, n) for b, n in zip(before, now))
    if before is None:
        return True
    return bool(np.array_equal(np.asarray(before), np.asarray(now), equal_nan=True))


def leaves_inputs_unchanged(checker: Callable[[Callable[..., Any]], bool], fn: Callable[..., Any]) -> bool:
    """Run an exercise ``checker`` on ``fn`` silently; true when it passes and ``fn`` modified none of its arguments.

    A hidden test of the graded assignments (``make assignments``): a function that returns the right
    answer but writes into the caller's arrays, tensors or module weights is a bug the checker's
    comparison alone does not see.
    """
    import contextlib
    import io

    if not callable(checker) or not callable(fn):
        raise TypeError("checker and fn must be callables: a checker of scratchbook.<topic>.checks and the answer")
    modified: list[int] = []

    def watched(*args: Any) -> Any:
        before = [_snapshot(a) for a in args]
        result = fn(*args)
        modified.extend(i for i, (b, a) in enumerate(zip(before, args)) if not _same(b, a))
        return result

    with contextlib.redirect_stdout(io.StringIO()):
        passed = bool(checker(watched))
    return passed and not modified


CONCEPT_CHECK_BLOCK = re.compile(r"^(`{3,}|:{3,})\{concept-check\}[ \t]*(.*?)\n(.*?)^\1[ \t]*$", re.M | re.S)


def parse_concept_check(question: str, body: str) -> dict[str, Any]:
    """Read one ``{concept-check}`` block: its question, options, answer (0-based), explanation, label.

    The format, shared by the website's directive (``_ext/concept_check.py``) and the kernel's widget::

        ```{concept-check} Which gate decides how much of the old cell state is kept?
        :answer: 2
        :label: lstm-cc-1

        - the input gate
        - the forget gate

        The explanation, shown once the reader has answered.
        ```

    ``:answer:`` counts the options from 1, as a reader does.
    """
    question = question.strip()
    if not question:
        raise ValueError("a concept check needs its question as the directive's argument")
    options_text: dict[str, str] = {}
    lines = body.splitlines()
    i = 0
    while i < len(lines) and re.match(r"^:(\w+):", lines[i]):
        key, value = re.match(r"^:(\w+):\s*(.*)$", lines[i]).groups()
        options_text[key] = value.strip()
        i += 1
    choices: list[str] = []
    explanation: list[str] = []
    for line in lines[i:]:
        if explanation or (choices and line.strip() and not line.startswith(("- ", "  "))):
            explanation.append(line)
        elif line.startswith("- "):
            choices.append(line[2:].strip())
        elif line.startswith("  ") and choices:
            choices[-1] += " " + line.strip()  # an option continued on the next line
    if len(choices) < 2:
        raise ValueError(f"concept check {question[:50]!r}: give at least two options as a '- ' list")
    answer = options_text.get("answer", "")
    if not answer.isdigit() or not 1 <= int(answer) <= len(choices):
        raise ValueError(f"concept check {question[:50]!r}: :answer: must be an option number 1–{len(choices)}")
    text = "\n".join(explanation).strip()
    if not text:
        raise ValueError(f"concept check {question[:50]!r}: explain the answer after the options")
    return {
        "question": question,
        "options": choices,
        "answer": int(answer) - 1,
        "explanation": text,
        "label": options_text.get("label"),
    }


def concept_check(question: str, options: list[str], answer: int, explanation: str) -> Any:
    """A multiple-choice self-check for a kernel (JupyterLab, Colab): pick an option, see whether it is right and why.

    ``answer`` is the index of the right option (from 0). Works offline, with no server beyond the kernel.
    """
    import ipywidgets as widgets
    from IPython.display import Markdown, display

    if not isinstance(options, (list, tuple)) or len(options) < 2:
        raise ValueError("options must be a list of at least two answers")
    if not isinstance(answer, (int, np.integer)) or not 0 <= answer < len(options):
        raise ValueError(f"answer must be the index of the right option, 0 to {len(options) - 1}, got {answer!r}")
    buttons = widgets.RadioButtons(options=list(options), index=None, layout={"width": "max-content"})
    feedback = widgets.Output()

    def on_pick(change: dict) -> None:
        if change["new"] is None:
            return
        feedback.clear_output()
        with feedback:
            verdict = "**Right.**" if buttons.index == answer else f"**Not quite**: the answer is «{options[answer]}»."
            display(Markdown(f"{verdict} {explanation}"))

    buttons.observe(on_pick, names="index")
    box = widgets.VBox([widgets.HTML(f"<b>{question}</b>"), buttons, feedback])
    display(box)
    return box


def _current_notebook() -> Path | None:
    """The notebook this kernel runs, when the front end says so (JupyterLab, Notebook 7, VS Code)."""
    import os

    try:
        from IPython import get_ipython

        shell = get_ipython()
    except ImportError:  # pragma: no cover
        shell = None
    user_ns = getattr(shell, "user_ns", {}) or {}
    named = (user_ns.get("__vsc_ipynb_file__"), user_ns.get("__session__"), os.environ.get("JPY_SESSION_NAME"))
    for candidate in named:
        if candidate and str(candidate).endswith(".ipynb"):
            path = Path(candidate)
            for p in (path, Path.cwd() / path.name):
                if p.is_file():
                    return p
    return None


def concept_checks(notebook: str | Path | None = None) -> list[dict[str, Any]]:
    """Show the concept checks of a chapter notebook as widgets in the kernel; return them as dicts.

    In JupyterLab or on Colab, where the book's directives do not render, a reader runs
    ``concept_checks()`` in a new cell of the chapter to answer its checks interactively. Without an
    argument the notebook is the one the kernel runs, when the front end tells the kernel (JupyterLab
    and VS Code do); otherwise pass its file name, e.g. ``concept_checks("04_lstm.ipynb")``.
    """
    import nbformat

    path = Path(notebook) if notebook is not None else _current_notebook()
    if path is None:
        raise ValueError("notebook: this front end does not name the notebook; pass its file name")
    if path.suffix != ".ipynb" or not path.is_file():
        raise ValueError(f"notebook must be an existing .ipynb file, got {str(path)!r}")
    found = []
    for cell in nbformat.read(path, as_version=4).cells:
        if cell.cell_type == "markdown":
            for _, question, body in CONCEPT_CHECK_BLOCK.findall(cell.source):
                found.append(parse_concept_check(question, body))
    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover
        return found
    if get_ipython() is not None:
        for check in found:
            concept_check(check["question"], check["options"], check["answer"], check["explanation"])
    return found
