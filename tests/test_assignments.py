"""Graded assignments (make assignments): otter-grader grades submissions of one chapter offline.

One assignment is built (metric/01_distances: two questions, NumPy only, so the kernel starts fast)
without otter's own solution run; the full-marks submission below is that check. The submissions are
the student notebook with its answer cells filled in from the chapter's own solution cells, the
oracle independent of the generated tests.
"""

from __future__ import annotations

import ast
import importlib.util
import json
from pathlib import Path

import nbformat
import pytest

pytest.importorskip("otter", reason="the grading extra (otter-grader) is not installed")

pytestmark = [
    pytest.mark.grading,
    pytest.mark.filterwarnings("ignore:The inplace keyword in DataFrame.drop"),  # inside otter's summary table
]

ROOT = Path(__file__).resolve().parents[1]
CHAPTER = ROOT / "chapters" / "metric" / "01_distances.ipynb"
_spec = importlib.util.spec_from_file_location("make_assignments", ROOT / "scripts" / "make_assignments.py")
make_assignments = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(make_assignments)


def _defined(source: str) -> set[str]:
    return {n.name for n in ast.parse(source).body if isinstance(n, ast.FunctionDef)}


def _definitions(source: str) -> dict[str, str]:
    """The source of each top-level function of a cell."""
    tree = ast.parse(source)
    return {n.name: ast.get_source_segment(source, n) for n in tree.body if isinstance(n, ast.FunctionDef)}


@pytest.fixture(scope="module")
def assignment(tmp_path_factory):
    out = tmp_path_factory.mktemp("assignments")
    folder = make_assignments.build(CHAPTER, out, run_tests=False)
    student = nbformat.read(folder / "dist" / "student" / CHAPTER.name, as_version=4)
    chapter = nbformat.read(CHAPTER, as_version=4)
    solutions = {
        name: text
        for c in chapter.cells
        if "solution" in c.metadata.get("tags", [])
        for name, text in _definitions(c.source).items()
    }
    return folder, student, solutions


def _submission(student, solutions, tmp_path: Path, name: str, change=None) -> Path:
    """The student notebook with every answer cell replaced by the chapter's solution (then ``change``)."""
    nb = nbformat.from_dict(student)
    answered = []
    for cell in nb.cells:
        if cell.cell_type == "code" and "otter_answer_cell" in cell.metadata.get("tags", []):
            (fn,) = _defined(cell.source)
            cell.source = solutions[fn]
            if change is not None:
                cell.source = change(fn, cell.source)
            answered.append(fn)
    assert sorted(answered) == sorted(solutions)  # every exercise of the chapter is a question
    path = tmp_path / f"{name}.ipynb"
    nbformat.write(nb, path)
    return path


def _grade(folder: Path, submission: Path, tmp_path: Path):
    from otter.run import main as otter_run

    return otter_run(
        str(submission),
        autograder=str(folder / "dist" / "autograder" / "autograder.zip"),
        output_dir=str(tmp_path),
        no_logo=True,
    )


def _question_of(student, fn: str) -> str:
    """The otter question whose answer cell defines ``fn`` (the grader.check cell right after it)."""
    cells = student.cells
    for i, cell in enumerate(cells):
        if "otter_answer_cell" in cell.metadata.get("tags", []) and fn in _defined(cell.source):
            check = next(c for c in cells[i + 1 :] if c.cell_type == "code" and "grader.check(" in c.source)
            return ast.literal_eval(check.source.split("grader.check(")[1].split(")")[0])
    raise AssertionError(f"no answer cell defines {fn}")


def test_grading_full_marks_zero_and_one_question_wrong(assignment, tmp_path):
    folder, student, solutions = assignment
    points = make_assignments.PUBLIC_POINTS + make_assignments.HIDDEN_POINTS
    possible = points * len(solutions)

    solved = _grade(folder, _submission(student, solutions, tmp_path, "solved"), tmp_path)
    assert (solved.total, solved.possible) == (possible, possible)

    untouched = tmp_path / "untouched.ipynb"
    nbformat.write(student, untouched)
    assert _grade(folder, untouched, tmp_path).total == 0

    wrong_fn = sorted(solutions)[0]

    def doubled(fn, source):  # the right function, its answer doubled: wrong everywhere
        if fn != wrong_fn:
            return source
        return f"{source}\n_right = {fn}\n\n\ndef {fn}(*args):\n    return 2 * _right(*args)\n"

    one_wrong = _grade(folder, _submission(student, solutions, tmp_path, "one_wrong", doubled), tmp_path)
    question = _question_of(student, wrong_fn)
    assert one_wrong.get_score(question) == 0
    assert one_wrong.total == possible - points
    feedback = {t["name"]: t["output"] for t in json.loads((tmp_path / "results.json").read_text())["tests"]}
    assert "✗" in feedback[question] and "largest difference" in feedback[question]  # the checker's own verdict
    print(one_wrong.summary())


def test_hidden_test_catches_an_answer_that_writes_into_its_input(assignment, tmp_path):
    folder, student, solutions = assignment
    fn = "my_project_psd"  # right values, but the caller's matrix is overwritten with them

    def in_place(name, source):
        if name != fn:
            return source
        return f"{source}\n_right = {fn}\n\n\ndef {fn}(M):\n    M[...] = _right(M.copy())\n    return M\n"

    graded = _grade(folder, _submission(student, solutions, tmp_path, "in_place", in_place), tmp_path)
    possible = (make_assignments.PUBLIC_POINTS + make_assignments.HIDDEN_POINTS) * len(solutions)
    assert graded.total == possible - make_assignments.HIDDEN_POINTS
