"""Concept checks: the shared format, the kernel's widgets and the website's directive."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import nbformat
import pytest

from scratchbook.book import CONCEPT_CHECK_BLOCK, concept_check, concept_checks, parse_concept_check

ROOT = Path(__file__).resolve().parents[1]
CHAPTERS = sorted(p for p in (ROOT / "chapters").glob("*/*.ipynb") if p.parent.name != "appendix")

BLOCK = """```{concept-check} Which option is the second?
:answer: 2
:label: demo-cc-1

- the first
- the second, written on
  two lines
- the third

Counting from one, as readers do: $2$ is the second.
```"""


def _blocks(text: str):
    return [parse_concept_check(q, body) for _, q, body in CONCEPT_CHECK_BLOCK.findall(text)]


def test_parse_reads_question_options_answer_and_explanation():
    (check,) = _blocks(BLOCK)
    assert check["question"] == "Which option is the second?"
    assert check["options"] == ["the first", "the second, written on two lines", "the third"]
    assert check["answer"] == 1 and check["label"] == "demo-cc-1"
    assert check["explanation"].startswith("Counting from one")


@pytest.mark.parametrize(
    "body, message",
    [
        (":answer: 4\n\n- a\n- b\n\nWhy.", "option number"),
        (":answer: 1\n\n- a\n\nWhy.", "at least two options"),
        (":answer: 1\n\n- a\n- b\n", "explain"),
    ],
)
def test_parse_rejects_malformed_checks(body, message):
    with pytest.raises(ValueError, match=message):
        parse_concept_check("Q?", body)


def test_widget_says_whether_a_pick_is_right_and_explains(monkeypatch):
    pytest.importorskip("ipywidgets")
    import IPython.display

    shown = []
    monkeypatch.setattr(IPython.display, "display", shown.append)
    box = concept_check("Q?", ["a", "b"], 1, "Because.")
    buttons = box.children[1]
    buttons.index = 0
    assert shown[-1].data.startswith("**Not quite**") and "«b»" in shown[-1].data and "Because." in shown[-1].data
    buttons.index = 1
    assert shown[-1].data.startswith("**Right.**") and "Because." in shown[-1].data
    with pytest.raises(ValueError, match="answer"):
        concept_check("Q?", ["a", "b"], 2, "Because.")
    with pytest.raises(ValueError, match="options"):
        concept_check("Q?", ["a"], 0, "Because.")


@pytest.mark.parametrize("path", CHAPTERS, ids=[f"{p.parent.name}/{p.stem}" for p in CHAPTERS])
def test_every_chapter_has_checks_in_their_own_cell_before_the_exercises(path):
    cells = nbformat.read(path, as_version=4).cells
    if not any(c.cell_type == "markdown" and c.source.startswith("## Exercises") for c in cells):
        pytest.skip("the Exercises heading shares a cell with the text before it: no separate cell can precede it")
    found = [i for i, c in enumerate(cells) if c.cell_type == "markdown" and "{concept-check}" in c.source]
    assert len(found) == 1, "one cell of concept checks per chapter"
    (i,) = found
    assert re.match(r"^## Check your understanding", cells[i].source)
    following = next(c for c in cells[i + 1 :] if c.cell_type == "markdown")
    assert re.search(r"^## Exercises", following.source, re.M)
    checks = concept_checks(path)
    assert len(checks) >= 2
    assert len({c["label"] for c in checks}) == len(checks) and all(c["label"] for c in checks)


def _build_demo(tmp_path: Path, builder: str, conf: str) -> Path:
    """Build a one-page Sphinx project holding BLOCK with ``builder``; ``conf`` is its conf.py (after the
    line that puts _ext on the path). Returns the output folder."""
    pytest.importorskip("myst_parser")
    from sphinx.application import Sphinx

    src = tmp_path / "src"
    src.mkdir()
    (src / "conf.py").write_text(f"import sys\nsys.path.insert(0, {str(ROOT / '_ext')!r})\n" + conf)
    (src / "index.md").write_text("# Demo\n\n" + BLOCK + "\n")
    out = tmp_path / builder
    Sphinx(str(src), str(src), str(out), str(tmp_path / "doctrees"), builder, status=None).build()
    return out


def test_directive_renders_the_options_and_the_answer(tmp_path):
    out = _build_demo(
        tmp_path,
        "html",
        "extensions = ['myst_parser', 'concept_check']\nmyst_enable_extensions = ['dollarmath']\n"
        f"html_static_path = [{str(ROOT / '_static')!r}]\n",
    )
    html = (out / "index.html").read_text()
    assert 'data-answer="1"' in html and 'id="demo-cc-1"' in html
    assert "the second, written on two lines" in html and "cc-explanation" in html
    assert "concept_check.js" in html and (out / "_static" / "concept_check.js").is_file()
    assert sys.modules.get("concept_check") is not None


def test_concept_checks_finds_the_running_notebook(monkeypatch):
    chapter = ROOT / "chapters" / "rnn" / "04_lstm.ipynb"
    monkeypatch.setenv("JPY_SESSION_NAME", str(chapter))  # what JupyterLab tells the kernel
    labels = [c["label"] for c in concept_checks()]
    cells = nbformat.read(chapter, as_version=4).cells
    expected = [c["label"] for cell in cells if cell.cell_type == "markdown" for c in _blocks(cell.source)]
    assert labels and labels == expected
    monkeypatch.delenv("JPY_SESSION_NAME")
    with pytest.raises(ValueError, match="notebook"):
        concept_checks()


@pytest.mark.parametrize("edition", ["instructor", "student"])
def test_pdf_numbers_the_options_and_prints_the_answer_for_instructors_only(tmp_path, edition):
    out = _build_demo(
        tmp_path,
        "latex",
        "extensions = ['myst_parser', 'concept_check', 'book_pdf']\nmyst_enable_extensions = ['dollarmath']\n"
        f"book_edition = {edition!r}\nlatex_documents = [('index', 'demo.tex', 'Demo', 'A', 'manual')]\n",
    )
    tex = (out / "demo.tex").read_text()
    assert r"\begin{enumerate}" in tex and "the second, written on two lines" in tex
    assert ("Answer: option 2." in tex) == (edition == "instructor")
    assert ("Counting from one" in tex) == (edition == "instructor")
