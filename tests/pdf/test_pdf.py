"""The two printed editions (`make pdf`): both build offline, the student edition holds no solution,
both hold every chapter and number equations and exercises by chapter, as the website does."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts"))

from make_pdf import OUT, build  # noqa: E402

from scratchbook.book import chapter_outline, stub_functions, toc_entries  # noqa: E402


def _text(pdf: Path) -> str:
    """The PDF's text with every run of white space made one space and typographic quotes plain."""
    out = subprocess.run(["pdftotext", str(pdf), "-"], capture_output=True, text=True, check=True).stdout
    return _plain(out)


def _plain(text: str) -> str:
    return re.sub(r"\s+", " ", text.replace("\u2019", "'").replace("\u2018", "'"))


def _squeezed(text: str) -> str:
    """Code as it can be searched in a PDF: no white space, no marks of a wrapped line (␣, ↪)."""
    return re.sub(r"\s+", "", text).replace("\u21aa", "").replace("\u2423", "")


@pytest.fixture(scope="module")
def editions() -> dict[str, str]:
    return {edition: _text(build(edition)) for edition in ("instructor", "student")}


def _chapters() -> list[Path]:
    pages = [ROOT / f"{file}.ipynb" for file, _ in toc_entries(ROOT / "_toc.yml")]
    return [p for p in pages if p.is_file()]


def _solution_lines() -> list[str]:
    """Lines of solution code that the student edition replaces (long enough to be unambiguous)."""
    lines = []
    for path in _chapters():
        for cell in nbformat.read(path, as_version=4).cells:
            if cell.cell_type == "code" and "solution" in cell.metadata.get("tags", []):
                kept = set(stub_functions(cell.source).splitlines())
                lines += [ln.strip() for ln in cell.source.splitlines() if ln not in kept and len(ln.strip()) >= 30]
    return lines


def test_both_editions_are_named_after_the_book(editions):
    assert sorted(p.name for p in OUT.glob("*.pdf")) == ["scratchbook-student.pdf", "scratchbook.pdf"]


def test_the_student_edition_holds_no_solution(editions):
    n_solutions = sum(
        len(re.findall(r"```\{solution\}", "\n".join(c.source for c in nbformat.read(p, as_version=4).cells)))
        for p in _chapters()
    )
    assert editions["instructor"].count("Solution to Exercise") == n_solutions > 0
    assert "Solution to Exercise" not in editions["student"]
    code = [_squeezed(ln) for ln in _solution_lines()]
    instructor, student = _squeezed(editions["instructor"]), _squeezed(editions["student"])
    lacking = [ln for ln in code if ln not in instructor]
    assert code and not lacking, f"the instructor edition lacks solution code: {lacking[:3]}"
    # A line of a solution may also be printed elsewhere (the package's code shown in the chapter):
    # the student edition prints it at least as many times fewer as the solution cells hold it.
    leaked = [ln for ln in set(code) if student.count(ln) > instructor.count(ln) - code.count(ln)]
    assert not leaked, f"solution code in the student edition: {leaked[:3]}"
    assert "raise NotImplementedError" in editions["student"]


@pytest.mark.parametrize("edition", ["instructor", "student"])
def test_every_chapter_is_there_numbered_by_chapter(editions, edition):
    text = editions[edition]
    missing = [p.stem for p in _chapters() if _plain(chapter_outline(p)["title"]) not in text]
    assert not missing, f"chapters missing from the {edition} edition: {missing}"
    assert "(3.4.1)" in text and "Exercise 3.4.1" in text, "equations and exercises are not numbered by chapter"
