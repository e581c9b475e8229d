"""The course kit: student versions of the notebooks and the outline read by the instructor guide."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import nbformat
import pytest

from scratchbook.book import call_or_none, chapter_outline

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("make_student", ROOT / "scripts" / "make_student.py")
make_student = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(make_student)

SOLUTION_CODE = '''import math

def area(r: float) -> float:
    """Area of a disc of radius r."""
    return math.pi * r ** 2

def double(x):
    y = 2 * x
    return y

RESULT = "kept"
'''


def test_stubbed_functions_raise_and_keep_their_docstrings():
    namespace: dict = {}
    exec(make_student.stub_functions(SOLUTION_CODE), namespace)
    for name in ("area", "double"):
        with pytest.raises(NotImplementedError):
            namespace[name](1.0)
    assert namespace["area"].__doc__ == "Area of a disc of radius r."
    assert namespace["RESULT"] == "kept"
    assert call_or_none(namespace["area"], 1.0) is None


def test_studentize_removes_solutions_and_stubs_tagged_cells():
    nb = nbformat.v4.new_notebook()
    exercise = "```{exercise}\n:label: e1\nCompute it.\n```\n"
    solution = "````{solution} e1\n:class: dropdown\n\n```python\nprint(1)\n```\n````\n"
    nb.cells = [
        nbformat.v4.new_markdown_cell(exercise + "\n" + solution + "\nAfter."),
        nbformat.v4.new_code_cell(SOLUTION_CODE, metadata={"tags": ["solution"]}),
        nbformat.v4.new_code_cell("def untouched():\n    return 3\n"),
    ]
    out = make_student.studentize(nb)
    assert "{solution}" not in out.cells[0].source and "print(1)" not in out.cells[0].source
    assert "{exercise}" in out.cells[0].source and "After." in out.cells[0].source
    assert "NotImplementedError" in out.cells[1].source and "math.pi" not in out.cells[1].source
    assert out.cells[2].source == "def untouched():\n    return 3\n"


def test_chapter_outline_reads_title_objectives_and_time(tmp_path):
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_markdown_cell("# A chapter\n\nWhy it matters."),
        nbformat.v4.new_markdown_cell(
            "## Learning objectives\n\n- derive one thing\n- code another\n  over two lines\n\n"
            "**Prerequisites:** none. **Time:** about 45 minutes."
        ),
    ]
    path = tmp_path / "c.ipynb"
    nbformat.write(nb, path)
    assert chapter_outline(path) == {
        "title": "A chapter",
        "objectives": ["derive one thing", "code another over two lines"],
        "minutes": 45,
    }
    with pytest.raises(ValueError, match="path"):
        chapter_outline(tmp_path / "missing.ipynb")


def test_toc_entries_in_reading_order(tmp_path):
    from scratchbook.book import toc_entries

    toc = tmp_path / "_toc.yml"
    toc.write_text(
        "format: jb-book\nroot: intro\nparts:\n"
        "  - caption: One\n    chapters:\n      - file: a/index\n        sections:\n"
        "          - file: a/01\n          - file: a/02\n"
        "  - caption: Two\n    chapters:\n      - file: b/index\n      - file: b/extra\n"
    )
    assert toc_entries(toc) == [
        ("intro", None),
        ("a/index", "One"),
        ("a/01", "One"),
        ("a/02", "One"),
        ("b/index", "Two"),
        ("b/extra", "Two"),
    ]
    with pytest.raises(ValueError, match="toc_path"):
        toc_entries(tmp_path / "missing.yml")


def test_student_versions_carry_the_data_the_chapters_load(tmp_path):
    assert make_student.main(["--out", str(tmp_path)]) == 0
    shipped = sorted(p.relative_to(ROOT) for p in (ROOT / "chapters").glob("*/data/*") if p.is_file())
    assert shipped, "expected shipped data files under chapters/<topic>/data/"
    for rel in shipped:
        assert (tmp_path / rel).read_bytes() == (ROOT / rel).read_bytes(), f"{rel} not copied"
    assert (tmp_path / "chapters" / "compact" / "01_knowledge_distillation.ipynb").is_file()
    assert not (tmp_path / "chapters" / "appendix").exists(), "the instructor guide is not for students"


def test_toc_entries_match_sphinx_external_toc_on_the_book():
    """The book's own _toc.yml read by the parser Jupyter Book uses: the same pages, in the same order (a glob,
    such as the generated pages of the package reference, names no page of its own)."""
    from sphinx_external_toc.api import GlobItem
    from sphinx_external_toc.parsing import parse_toc_yaml

    from scratchbook.book import toc_entries

    site = parse_toc_yaml(ROOT / "_toc.yml")
    expected = []

    def walk(doc, caption):
        expected.append((doc, caption))
        for subtree in site[doc].subtrees:
            for item in subtree.items:
                if not isinstance(item, GlobItem):
                    walk(item, subtree.caption if doc == site.root.docname else caption)

    walk(site.root.docname, None)
    assert toc_entries(ROOT / "_toc.yml") == expected
