"""Carry the repository URL (``_config.yml``) and the version (``scratchbook.__version__``) everywhere.

    python scripts/sync_repository.py          # rewrite the chapters' install cells and CITATION.cff
    python scripts/sync_repository.py --check  # exit 1, listing the files that are out of step

A fork edits ``repository.url`` in ``_config.yml`` (and a release edits ``__version__``), then runs this
script: every chapter's first code cell then installs ``scratchbook[book] @ git+<url>@v<version>``, the
tag that ``make release`` creates, and CITATION.cff names the same version and repository.
``tests/test_book.py`` fails while anything is out of step.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

import nbformat
import yaml

ROOT = Path(__file__).resolve().parents[1]
INSTALL = re.compile(r"scratchbook\[book\] @ git\+[^\"'\s]+")


def settings() -> tuple[str, str]:
    """The repository URL from ``_config.yml`` and the package's version."""
    url = yaml.safe_load((ROOT / "_config.yml").read_text())["repository"]["url"].rstrip("/")
    init = (ROOT / "src" / "scratchbook" / "__init__.py").read_text()
    version = re.search(r'^__version__ = "([^"]+)"', init, re.M).group(1)
    return url, version


def install_requirement(url: str, version: str) -> str:
    """The requirement the chapters' install cell passes to pip."""
    return f"scratchbook[book] @ git+{url}@v{version}"


def notebooks() -> list[Path]:
    return sorted((ROOT / "chapters").rglob("*.ipynb"))


def sync(check: bool = False) -> list[str]:
    """Rewrite (or, with ``check``, only list) the files whose URL or version is out of step."""
    url, version = settings()
    requirement = install_requirement(url, version)
    stale = []
    for path in notebooks():
        text = path.read_text()
        nb = nbformat.reads(text, as_version=4)
        first = next((c for c in nb.cells if c.cell_type == "code"), None)
        if first is None or not INSTALL.search(first.source):
            continue
        new = INSTALL.sub(requirement, first.source)
        if new != first.source:
            stale.append(str(path.relative_to(ROOT)))
            if not check:
                first.source = new
                path.write_text(nbformat.writes(nb) + "\n")
    citation = ROOT / "CITATION.cff"
    text = citation.read_text()
    new = re.sub(r"^version: .*$", f"version: {version}", text, flags=re.M)
    new = re.sub(r"^repository-code: .*$", f'repository-code: "{url}"', new, flags=re.M)
    if new != text:
        stale.append("CITATION.cff")
        if not check:
            citation.write_text(new)
    return stale


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only list what is out of step")
    args = parser.parse_args()
    stale = sync(check=args.check)
    for name in stale:
        print(("out of step: " if args.check else "updated: ") + name)
    return 1 if args.check and stale else 0


if __name__ == "__main__":
    sys.exit(main())
