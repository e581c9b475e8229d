"""Write student versions of the chapter notebooks into _build/student/.

    python scripts/make_student.py [--out _build/student]

In a student version
- every code cell tagged ``solution`` keeps its function signatures and docstrings, but each body
  becomes ``raise NotImplementedError`` — the reader writes it; other statements are kept;
- every ``{solution}`` block disappears from the markdown, so the exercise stands alone;
- the checkers in ``scratchbook.<topic>.checks`` are untouched: calling one on an unfinished
  function says "not done yet" instead of failing, so the notebook still runs top to bottom.
The appendix (the instructor guide) has no student version. The files the chapters read
(``chapters/<topic>/data/``: shipped curves, seeds and checkpoints) are copied next to the student
notebooks.
"""

from __future__ import annotations

import argparse
import re
import shutil
import sys
from pathlib import Path

import nbformat

from scratchbook.book import stub_functions

ROOT = Path(__file__).resolve().parents[1]
SOLUTION_BLOCK = re.compile(r"^(`{3,}|:{3,})\{solution\}.*?^\1[ \t]*$\n?", re.M | re.S)


def studentize(nb):
    """Return the notebook with solution code stubbed and solution blocks removed."""
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            cell.source = SOLUTION_BLOCK.sub("", cell.source)
        elif cell.cell_type == "code" and "solution" in cell.metadata.get("tags", []):
            cell.source = stub_functions(cell.source)
            cell.outputs = []
    return nb


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=ROOT / "_build" / "student")
    args = parser.parse_args(argv)
    notebooks = sorted((ROOT / "chapters").rglob("*.ipynb"))
    for path in notebooks:
        if ".ipynb_checkpoints" in path.parts or path.parent.name == "appendix":
            continue
        target = args.out / path.relative_to(ROOT)
        target.parent.mkdir(parents=True, exist_ok=True)
        nbformat.write(studentize(nbformat.read(path, as_version=4)), target)
        print(f"wrote {target.relative_to(args.out.parent) if args.out.is_relative_to(ROOT) else target}")
    for data in sorted((ROOT / "chapters").glob("*/data")):  # what the notebooks load, as it is
        shutil.copytree(data, args.out / data.relative_to(ROOT), dirs_exist_ok=True)
        print(f"copied {data.relative_to(ROOT)}/")
    return 0


if __name__ == "__main__":
    sys.exit(main())
