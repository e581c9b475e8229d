"""A small Sphinx extension for the website's HTML: a fix, and the links to the printed editions.

1. sphinx-thebe (loaded by Jupyter Book) adds its inline configuration script twice, which makes the
   browser throw "Identifier 'THEBE_JS_URL' has already been declared" on every page. This keeps the
   first copy of each script. Seen with sphinx-thebe 0.3.1 (the version jupyter-book 1.0.4 installs);
   delete it once a release of sphinx-thebe no longer adds the script twice (the browser test,
   `make test-site`, fails on the console error if it comes back).
2. The PDF editions. When `make pdf` has written `_build/pdf/scratchbook.pdf` and
   `scratchbook-student.pdf`, the website carries them (`pdf/` at its root), every page's download
   menu links them, and the ``{book-editions}`` directive (on the landing page) lists them; without
   them the directive says how to build them and the menu has no such entry, so no link is broken.
3. The theme's sidebar folds each part's chapters under a ``<summary>`` that holds only an icon, so a
   screen reader announces nothing; each gets an ``aria-label`` (pydata-sphinx-theme 0.17.1). And
   docutils marks the bibliography's entries with ``role="doc-biblioentry"``, a role ARIA 1.2
   deprecated, inside a ``role="list"`` that then has no list item: they become list items.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

from docutils import nodes
from sphinx.util.docutils import SphinxDirective

EDITIONS = {"scratchbook.pdf": "the instructor edition", "scratchbook-student.pdf": "the student edition"}


def _dedupe_scripts(app, pagename, templatename, context, doctree):
    scripts = context.get("script_files")
    if not scripts:
        return
    seen, unique = set(), []
    for js in scripts:
        attrs = getattr(js, "attributes", {}) or {}
        body = attrs.get("body")
        key = ("body", body) if body else ("file", getattr(js, "filename", str(js)))
        if key not in seen:
            seen.add(key)
            unique.append(js)
    context["script_files"] = unique


def _pdf_folder(app) -> Path:
    return Path(app.srcdir) / "_build" / "pdf"


def _find_pdfs(app, config) -> None:
    """Which editions exist; a config value, so that a change rewrites every page."""
    config.book_pdfs = [name for name in EDITIONS if (_pdf_folder(app) / name).is_file()]


def _download_menu(app, pagename, templatename, context, doctree):
    if not app.config.book_pdfs:
        return
    for group in context.get("header_buttons", []):
        if group.get("label") == "download-buttons":
            for name in app.config.book_pdfs:
                group["buttons"].append(
                    {
                        "type": "link",
                        "url": context["pathto"](f"pdf/{name}", 1),
                        "text": "book, student PDF" if "student" in name else "book, PDF",
                        "tooltip": f"Download the whole book, {EDITIONS[name]}",
                        "icon": "fas fa-book",
                        "label": f"download-{name.removesuffix('.pdf')}-button",
                    }
                )


SILENT_SUMMARY = re.compile(r'<summary>(?=<span class="toctree-toggle")')


def _fix_aria(app, exception) -> None:
    if exception is not None or app.builder.format != "html":
        return
    for page in Path(app.outdir).rglob("*.html"):
        html = page.read_text(encoding="utf-8")
        fixed = SILENT_SUMMARY.sub('<summary aria-label="Show or hide the chapters">', html)
        fixed = fixed.replace('role="doc-biblioentry"', 'role="listitem"')
        if fixed != html:
            page.write_text(fixed, encoding="utf-8")


def _copy_pdfs(app, exception) -> None:
    if exception is None and app.builder.format == "html" and app.config.book_pdfs:
        target = Path(app.outdir) / "pdf"
        target.mkdir(exist_ok=True)
        for name in app.config.book_pdfs:
            shutil.copyfile(_pdf_folder(app) / name, target / name)


class BookEditions(SphinxDirective):
    """A paragraph linking the PDF editions, or saying how to build them."""

    def run(self):
        para = nodes.paragraph()
        if not self.config.book_pdfs:
            para += nodes.Text(
                "The book also prints as two PDF editions, for instructors (with the solutions) "
                "and for students (without): "
            )
            para += nodes.literal(text="make pdf")
            para += nodes.Text(" builds them.")
            return [para]
        depth = "../" * self.env.docname.count("/")
        para += nodes.Text("The whole book as a PDF: ")
        for i, name in enumerate(self.config.book_pdfs):
            if i:
                para += nodes.Text(", and ")
            para += nodes.reference("", EDITIONS[name], refuri=f"{depth}pdf/{name}")
            para += nodes.Text(" (with the solutions)" if "student" not in name else " (without them)")
        para += nodes.Text(".")
        return [para]


def setup(app):
    app.add_config_value("book_pdfs", [], "html")
    app.connect("config-inited", _find_pdfs)
    app.connect("html-page-context", _dedupe_scripts, priority=900)
    app.connect("html-page-context", _download_menu, priority=900)
    app.connect("build-finished", _copy_pdfs)
    app.connect("build-finished", _fix_aria)
    app.add_directive("book-editions", BookEditions)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
