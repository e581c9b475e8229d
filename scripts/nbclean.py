"""Strip notebooks for committing: no outputs, no execution counts, except NBVAL_CHECK_OUTPUT cells.

Checked cells keep their outputs with execution count 1, which nbval needs to compare them.

    python scripts/nbclean.py chapters/latent/*.ipynb          # strip
    python scripts/nbclean.py --fill chapters/latent/01_*.ipynb  # execute, keep the checked outputs

``--fill`` runs the notebook top to bottom in a fresh kernel (in its own folder) and stores the
outputs of the cells marked ``# NBVAL_CHECK_OUTPUT``, which nbval then compares on every test run.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import nbformat

MARK = "NBVAL_CHECK_OUTPUT"


def is_checked(cell) -> bool:
    """A code cell whose outputs nbval compares."""
    tags = cell.get("metadata", {}).get("tags", [])
    return cell.cell_type == "code" and (MARK in cell.source or "nbval-check-output" in tags)


def strip(nb, keep_checked: bool = True):
    """Remove outputs and execution counts, keeping the outputs of checked cells.

    A checked cell keeps execution count 1 (nbval treats a cell with outputs and no count as unrun),
    so the stored notebook is the same whatever order it was last run in.
    """
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        cell.metadata.pop("execution", None)
        if keep_checked and is_checked(cell) and cell.outputs:
            cell.execution_count = 1
            for out in cell.outputs:
                if "execution_count" in out:
                    out["execution_count"] = 1
        else:
            cell.execution_count = None
            cell.outputs = []
    nb.metadata.pop("widgets", None)
    return nb


def fill(path: Path, timeout: int = 300):
    """Execute the notebook and return it with the checked cells' outputs kept."""
    from nbclient import NotebookClient

    nb = nbformat.read(path, as_version=4)
    NotebookClient(
        nb, timeout=timeout, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}}
    ).execute()
    return strip(nb)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("paths", nargs="+", type=Path)
    parser.add_argument("--fill", action="store_true", help="execute and keep NBVAL_CHECK_OUTPUT outputs")
    args = parser.parse_args(argv)
    for path in args.paths:
        nb = fill(path) if args.fill else strip(nbformat.read(path, as_version=4))
        nbformat.write(nb, path)
        print(f"{'filled' if args.fill else 'stripped'} {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
