"""The two printed editions of the book: what the LaTeX build keeps of the exercise solutions.

``book_edition = "instructor"`` (the default) prints every solution, including the code cells tagged
``solution``, whose input the website folds away (``hide-input``) and the LaTeX build would otherwise
drop. ``book_edition = "student"`` prints those cells as the student notebooks have them (each
function's body replaced by ``raise NotImplementedError``, no output); sphinx-exercise's
``hide_solutions = True`` removes the written solutions. ``make pdf`` builds both.
"""

from __future__ import annotations

from docutils import nodes
from sphinx.transforms.post_transforms import SphinxPostTransform

from scratchbook.book import stub_functions

EDITIONS = ("instructor", "student")


class SolutionCells(SphinxPostTransform):
    """Show (instructor) or stub (student) the code cells tagged ``solution``, in LaTeX only."""

    default_priority = 300  # before sphinx-jupyterbook-latex hides the inputs of hide-input cells (400)
    formats = ("latex",)

    def run(self, **kwargs) -> None:
        edition = self.config.book_edition
        if edition not in EDITIONS:
            raise ValueError(f"book_edition must be one of {EDITIONS}, got {edition!r}")
        for cell in list(self.document.findall(nodes.container)):
            if "tag_solution" not in cell.get("classes", []):
                continue
            cell["classes"] = [c for c in cell["classes"] if c not in ("tag_hide-input", "tag_hide-cell")]
            if edition == "student":
                for part in list(cell.children):
                    if "cell_output" in part.get("classes", []):
                        cell.remove(part)
                for block in cell.findall(nodes.literal_block):
                    stub = stub_functions(block.astext())
                    block.rawsource = stub
                    block.children = [nodes.Text(stub)]


def setup(app):
    app.add_config_value("book_edition", "instructor", "env")
    app.add_post_transform(SolutionCells)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
