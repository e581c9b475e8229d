"""Build the two printed editions of the book with Jupyter Book's LaTeX builder (XeLaTeX), offline.

    python scripts/make_pdf.py [--edition instructor|student|both]      # `make pdf`

Writes ``_build/pdf/scratchbook.pdf`` (the instructor edition: every solution) and
``_build/pdf/scratchbook-student.pdf`` (no solution: sphinx-exercise's ``hide_solutions`` and the
code cells tagged ``solution`` removed, see ``_ext/book_pdf.py``). Each edition is built from
``_config.yml`` plus the few settings below, written to ``_build/pdf/<edition>.yml``, and ``_toc.yml``
without the package reference, which stays on the website; the notebooks'
outputs come from the book's jupyter-cache (``make notebooks`` fills it), so nothing is executed twice.
Needs TeX Live with XeLaTeX and latexmk (``make pdf`` installs Debian's packages when run as root).
About a minute per edition on two cores.
"""

from __future__ import annotations

import argparse
import copy
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "_build" / "pdf"
NAMES = {"instructor": "scratchbook", "student": "scratchbook-student"}
TITLES = {"instructor": "instructor edition", "student": "student edition"}

# Equations, figures and tables numbered within each chapter, "(3.4.2)" and "Figure 3.4.1" as on the
# website: the book's parts are LaTeX parts, its chapters LaTeX sections (after sphinx.sty's own
# numbering, which it sets at \begin{document}). A monospaced font that has the characters the code
# uses (ᵀ, ², →, ✓; upright in comments too), FreeMono for the one it lacks (ℓ), and long code lines
# wrapped instead of cut at the margin.
PREAMBLE = r"""
\setmonofont{DejaVu Sans Mono}[Scale=0.82, ItalicFont={DejaVu Sans Mono}, BoldItalicFont={DejaVu Sans Mono Bold}]
\newfontfamily\fallbackmono{FreeMono}[Scale=0.82]
\usepackage{newunicodechar}
\makeatletter
\newunicodechar{ℓ}{\ifmmode\ell\else\ifx\f@family\ttdefault{\fallbackmono\symbol{"2113}}\else\symbol{"2113}\fi\fi}
\makeatother
\sphinxsetup{verbatimwrapslines=true, verbatimforcewraps=true}
\AtBeginDocument{\numberwithin{equation}{section}\numberwithin{figure}{section}\numberwithin{table}{section}}
"""


# The package reference (api.md and the module pages its autosummary writes into api/) stays on the
# website: the printed editions hold the chapters.
REFERENCE = "api"


def _without_reference(entries: list) -> list:
    """The entries of a _toc.yml list, the package reference and its sections left out, at any depth."""
    kept = []
    for entry in entries:
        if isinstance(entry, dict) and entry.get("file") == REFERENCE:
            continue
        if isinstance(entry, dict):
            entry = {
                k: _without_reference(v) if k in ("parts", "chapters", "sections") else v for k, v in entry.items()
            }
        kept.append(entry)
    return kept


def edition_toc() -> dict:
    """_toc.yml without the package reference."""
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    return {k: _without_reference(v) if k in ("parts", "chapters", "sections") else v for k, v in toc.items()}


def edition_config(edition: str) -> dict:
    """_config.yml with what the printed edition needs."""
    config = copy.deepcopy(yaml.safe_load((ROOT / "_config.yml").read_text()))
    config["exclude_patterns"] = [*config.get("exclude_patterns", []), f"{REFERENCE}.md", f"{REFERENCE}/*"]
    config["title"] = f"{config['title']}: {TITLES[edition]}"
    config.setdefault("execute", {})["cache"] = str(ROOT / "_build" / ".jupyter_cache")
    config["latex"] = {
        "latex_engine": "xelatex",
        "use_jupyterbook_latex": True,
        "latex_documents": {"targetname": f"{NAMES[edition]}.tex"},
    }
    sphinx = config.setdefault("sphinx", {})
    sphinx["local_extensions"] = {
        name: str(ROOT / path) for name, path in {**sphinx.get("local_extensions", {}), "book_pdf": "_ext"}.items()
    }
    settings = sphinx.setdefault("config", {})
    settings.update(
        book_edition=edition,
        hide_solutions=edition == "student",
        latex_elements={"preamble": PREAMBLE, "papersize": "a4paper"},
        latex_use_xindy=False,  # makeindex, which TeX Live has; xindy is a separate package
    )
    return config


def build(edition: str) -> Path:
    """Build one edition; return the path of its PDF."""
    OUT.mkdir(parents=True, exist_ok=True)
    config = OUT / f"{edition}.yml"
    config.write_text(yaml.safe_dump(edition_config(edition), sort_keys=False, allow_unicode=True))
    toc = OUT / f"{edition}_toc.yml"
    toc.write_text(yaml.safe_dump(edition_toc(), sort_keys=False, allow_unicode=True))
    work = OUT / edition
    cmd = [
        str(Path(sys.executable).with_name("jupyter-book")),
        "build",
        str(ROOT),
        "--builder",
        "pdflatex",
        "--config",
        str(config),
        "--toc",
        str(toc),
        "--path-output",
        str(work),
    ]
    print("$", " ".join(cmd), flush=True)
    subprocess.run(cmd, check=True)
    pdf = work / "_build" / "latex" / f"{NAMES[edition]}.pdf"
    if not pdf.is_file():
        sys.exit(f"no PDF was written for the {edition} edition (see the LaTeX log in {pdf.parent})")
    target = OUT / pdf.name
    shutil.copyfile(pdf, target)
    print(f"wrote {target.relative_to(ROOT)}")
    return target


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--edition", choices=["instructor", "student", "both"], default="both")
    args = parser.parse_args(argv)
    for edition in ("instructor", "student") if args.edition == "both" else (args.edition,):
        build(edition)


if __name__ == "__main__":
    main()
