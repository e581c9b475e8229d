"""Write one graded assignment per chapter into _build/assignments/, made from the chapter's exercises.

    python scripts/make_assignments.py [--out _build/assignments] [--only rnn/04_lstm ...] [--no-run-tests]

For every chapter with an exercise that a checker of ``scratchbook.<topic>.checks`` verifies, this
writes ``_build/assignments/<topic>/<chapter>/``:

- ``instructor/<chapter>.ipynb``: the source notebook in otter-grader's format (assignment config,
  one question per function an exercise asks for, with its solution and its tests), kept for the teacher;
- ``dist/autograder/``: otter's solution notebook and ``autograder.zip`` (all the tests, hidden ones
  included), the file that ``otter run`` (on a laptop) or Gradescope grades submissions with;
- ``dist/student/<chapter>.ipynb``: what the students get: the exercise text, the function's signature
  and docstring with ``raise NotImplementedError`` as its body, and ``grader.check`` cells that run the
  public tests.

Each question has two tests. The public one (2 points) is the chapter's checker, the one source of
truth of what is right: ``assert checks.check_lstm_step(my_lstm_step)``. The hidden one (1 point)
runs the checker again and also requires the function to leave its arguments unmodified
(``scratchbook.book.leaves_inputs_unchanged``), a bug the public comparison does not see. A wrong answer
loses the question's 3 points, a right answer that writes into its inputs loses 1.

Otter runs the solutions through the tests while it builds (``--no-run-tests`` skips that), so the
build stops with an error on an assignment whose solution does not pass its own tests.
"""

from __future__ import annotations

import argparse
import ast
import re
import shutil
import sys
from pathlib import Path

import nbformat

from scratchbook.book import chapter_outline

ROOT = Path(__file__).resolve().parents[1]
PUBLIC_POINTS, HIDDEN_POINTS = 2, 1
EXERCISE_BLOCK = re.compile(r"^(`{3,}|:{3,})\{exercise\}[^\n]*\n(.*?)^\1[ \t]*$", re.M | re.S)
ROLE = re.compile(r"\{(\w+)\}`([^`]*)`")


def plain_markdown(text: str) -> str:
    """MyST roles of the book as plain Markdown that reads in Jupyter and on Colab."""

    def role(match: re.Match[str]) -> str:
        kind, target = match.groups()
        if kind == "eq":
            return f"equation ({target}) of the chapter"
        if kind == "cite":
            return f"[{target}]"
        if kind == "numref":
            return "the chapter's figure"
        return target.split("<")[0].strip() or target  # {doc}, {ref}, {glue:text} and the like

    return ROLE.sub(role, text)


def exercise_text(markdown: str) -> tuple[str, str]:
    """The label and body of the last ``{exercise}`` block of a markdown cell."""
    blocks = EXERCISE_BLOCK.findall(markdown)
    if not blocks:
        raise ValueError("a solution cell must follow a markdown cell with an {exercise} block")
    body = blocks[-1][1]
    label = re.search(r"^:label:\s*(\S+)", body, re.M)
    if label is None:
        raise ValueError(f"the exercise before a solution cell has no :label: ({body[:60]!r})")
    body = "\n".join(ln for ln in body.splitlines() if not re.match(r"^:\w+:", ln)).strip()
    return label.group(1), plain_markdown(body)


def split_solution(source: str) -> list[tuple[str, str, str]]:
    """One ``(function, checker, source)`` per checker call of a solution cell, the body between otter's markers.

    Each function the cell's checkers verify becomes a question of its own, so that a wrong function
    loses its own points only; helper functions and other statements go with the first one. In the
    student version otter drops the body and the prompt markers, leaving the signature, the docstring
    and ``raise NotImplementedError``, as in the student edition of the book.
    """
    tree = ast.parse(source)
    lines = source.splitlines()
    marked: dict[str, str] = {}
    extras: list[str] = []
    calls: list[tuple[str, str]] = []
    for node in tree.body:
        if isinstance(node, ast.FunctionDef):
            first = node.body[0]
            has_doc = ast.get_docstring(node, clean=False) is not None
            start = first.end_lineno if has_doc else first.lineno - 1
            indent = " " * first.col_offset
            head = node.decorator_list[0].lineno - 1 if node.decorator_list else node.lineno - 1
            marked[node.name] = "\n".join(
                lines[head:start]
                + [f"{indent}# BEGIN SOLUTION NO PROMPT"]
                + lines[start : node.end_lineno]
                + [
                    f"{indent}# END SOLUTION",
                    f'{indent}""" # BEGIN PROMPT',
                    f'{indent}raise NotImplementedError("Exercise: write this function")',
                    f'{indent}""" # END PROMPT',
                ]
            )
            continue
        if isinstance(node, ast.Expr) and isinstance(node.value, ast.Call):
            name = ast.unparse(node.value.func)
            args = node.value.args
            if name.startswith("checks.check_") and len(args) == 1 and isinstance(args[0], ast.Name):
                calls.append((args[0].id, name.removeprefix("checks.")))
                continue
        extras.append(ast.get_source_segment(source, node))
    if not calls:
        raise ValueError(f"a solution cell must call a checker of the chapter: {source[:60]!r}")
    checked = [fn for fn, _ in calls]
    helpers = [text for name, text in marked.items() if name not in checked]
    pieces = []
    for k, (fn, checker) in enumerate(calls):
        parts = ([*helpers, *extras] if k == 0 else []) + [marked[fn], f"checks.{checker}({fn});"]
        pieces.append((fn, checker, "\n\n\n".join(parts) + "\n"))
    return pieces


def raw(source: str) -> nbformat.NotebookNode:
    return nbformat.v4.new_raw_cell(source)


def test_cell(points: int, hidden: bool, checker: str, fn: str, topic: str) -> nbformat.NotebookNode:
    """An exception-based otter test: a function of the answer, then its call."""
    config = f'""" # BEGIN TEST CONFIG\npoints: {points}\nhidden: {str(hidden).lower()}\n""" # END TEST CONFIG\n'
    if hidden:
        body = (
            f"def test_{fn}_hidden({fn}):\n"
            f"    from scratchbook.book import leaves_inputs_unchanged\n"
            f"    from scratchbook.{topic} import checks\n\n"
            f"    assert leaves_inputs_unchanged(checks.{checker}, {fn}), (\n"
            f'        "wrong on the checker\'s data, or it modifies its arguments in place"\n'
            f"    )\n\n\n"
            f"test_{fn}_hidden({fn})"
        )
    else:
        body = (  # the checker's verdicts and hints become the failure message a student reads
            f"def test_{fn}({fn}):\n"
            f"    import contextlib\n"
            f"    import io\n\n"
            f"    from scratchbook.{topic} import checks\n\n"
            f"    verdicts = io.StringIO()\n"
            f"    with contextlib.redirect_stdout(verdicts):\n"
            f"        passed = checks.{checker}({fn})\n"
            f"    assert passed, verdicts.getvalue()\n\n\n"
            f"test_{fn}({fn})"
        )
    return nbformat.v4.new_code_cell(config + body)


def instructor_notebook(chapter: Path) -> tuple[nbformat.NotebookNode, int] | None:
    """The otter-format notebook of one chapter and its total points; ``None`` without a checked exercise."""
    nb = nbformat.read(chapter, as_version=4)
    topic = chapter.parent.name
    title = chapter_outline(chapter)["title"]
    questions = []
    for i, cell in enumerate(nb.cells):
        if cell.cell_type != "code" or "solution" not in cell.metadata.get("tags", []):
            continue
        if "checks.check_" not in cell.source:  # a solution computed for the reader, with nothing to grade
            continue
        previous = next(c for c in reversed(nb.cells[:i]) if c.cell_type == "markdown")
        label, text = exercise_text(previous.source)
        pieces = split_solution(cell.source)
        for k, (fn, checker, source) in enumerate(pieces):
            qname = label.replace("-", "_") + (f"_{fn.removeprefix('my_')}" if len(pieces) > 1 else "")
            shown = text if k == 0 else f"Exercise `{label}` above, continued: `{fn}`."
            questions.append((qname, label, shown, fn, checker, source))
    if not questions:
        return None
    name = chapter.stem.split("_", 1)[1]
    total = (PUBLIC_POINTS + HIDDEN_POINTS) * len(questions)
    uses_torch = any("torch" in q[5] for q in questions)
    config = (
        "# ASSIGNMENT CONFIG\n"
        f"name: {name}\n"
        "init_cell: true\n"
        "check_all_cell: false\n"
        "export_cell: false\n"
        "solutions_pdf: false\n"
        "run_tests: true\n"
        "requirements: requirements.txt\n"
        "show_question_points: true\n"
        "tests:\n"
        "  ok_format: false\n"
        "generate:\n"
        "  show_stdout: true\n"
        "  show_hidden: true\n"
        "  pdf: false\n"
    )
    cells = [
        raw(config),
        nbformat.v4.new_markdown_cell(
            f"# Assignment: {title}\n\n"
            f"The graded exercises of the chapter `chapters/{topic}/{chapter.name}`, {total} points. Write each "
            "function, run its cell (the chapter's checker prints what is right and what is not), then the "
            "`grader.check` cell below it, which runs the public tests. The teacher's grader also runs hidden "
            "tests. Submit this notebook, run from top to bottom."
        ),
        nbformat.v4.new_code_cell(
            "import numpy as np\n"
            + ("import torch\n" if uses_torch else "")
            + f"\nfrom scratchbook.{topic} import checks"
        ),
    ]
    for qname, label, text, fn, checker, source in questions:
        points = PUBLIC_POINTS + HIDDEN_POINTS
        cells += [
            raw(f"# BEGIN QUESTION\nname: {qname}\npoints: {points}"),
            nbformat.v4.new_markdown_cell(f"**Exercise `{label}`**\n\n{text}"),
            raw("# BEGIN SOLUTION"),
            nbformat.v4.new_code_cell(source),
            raw("# END SOLUTION"),
            raw("# BEGIN TESTS"),
            test_cell(PUBLIC_POINTS, False, checker, fn, topic),
            test_cell(HIDDEN_POINTS, True, checker, fn, topic),
            raw("# END TESTS"),
            raw("# END QUESTION"),
        ]
    out = nbformat.v4.new_notebook(cells=cells)
    out.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    return out, total


def repository_url() -> str:
    """The book's repository, from _config.yml (the one place it is written)."""
    import yaml

    return yaml.safe_load((ROOT / "_config.yml").read_text())["repository"]["url"]


def chapters(only: list[str] | None) -> list[Path]:
    found = sorted(p for p in (ROOT / "chapters").glob("*/*.ipynb") if p.parent.name != "appendix")
    if only:
        wanted = {o.removesuffix(".ipynb") for o in only}
        found = [p for p in found if f"{p.parent.name}/{p.stem}" in wanted]
        if len(found) != len(wanted):
            raise SystemExit(f"--only: unknown chapter among {sorted(wanted)} (write e.g. rnn/04_lstm)")
    return found


def build(chapter: Path, out: Path, run_tests: bool = True) -> Path | None:
    """Build one chapter's assignment under ``out``; returns its folder (``None`` without checked exercises)."""
    from otter.assign import main as otter_assign

    made = instructor_notebook(chapter)
    if made is None:
        return None
    nb, _ = made
    folder = out / chapter.parent.name / chapter.stem
    if folder.exists():
        shutil.rmtree(folder)
    (folder / "instructor").mkdir(parents=True)
    master = folder / "instructor" / chapter.name
    nbformat.write(nb, master)
    requirements = folder / "instructor" / "requirements.txt"
    # what a grading image (Gradescope) installs; otter run on a laptop uses the current environment
    requirements.write_text(f"scratchbook[book] @ git+{repository_url()}\n")
    otter_assign(str(master), str(folder / "dist"), no_pdfs=True, no_run_tests=not run_tests)
    (zipped,) = (folder / "dist" / "autograder").glob("*-autograder_*.zip")  # otter stamps the time in the name
    zipped.rename(zipped.with_name("autograder.zip"))
    return folder


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=ROOT / "_build" / "assignments")
    parser.add_argument("--only", nargs="*", help="chapters as topic/stem, e.g. rnn/04_lstm (default: all)")
    parser.add_argument("--no-run-tests", action="store_true", help="do not run the solutions through the tests")
    args = parser.parse_args(argv)
    for chapter in chapters(args.only):
        folder = build(chapter, args.out.resolve(), run_tests=not args.no_run_tests)
        if folder is not None:
            print(f"wrote {folder}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
