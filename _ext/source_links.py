"""The package reference's [source] links point at the code in the book's repository.

`sphinx.ext.linkcode` asks a resolver for each documented object's URL; this one finds the object's
file and lines with `inspect` and builds the repository's address for them from the repository URL and
branch that `_config.yml` gives (`repository.url`, `repository.branch`). Unlike `sphinx.ext.viewcode`,
it writes no page per module into the website: the code a chapter teaches is shown in the chapter.
"""

from __future__ import annotations

import importlib
import inspect
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"


def _source_url(base: str, module: str, fullname: str) -> str | None:
    try:
        obj = importlib.import_module(module)
        for part in fullname.split("."):
            obj = getattr(obj, part)
        obj = inspect.unwrap(obj)
        path = Path(inspect.getsourcefile(obj)).resolve()
        lines, start = inspect.getsourcelines(obj)
    except (AttributeError, ImportError, OSError, TypeError):
        return None  # a data attribute, a property or a re-export without source: no link
    if not path.is_relative_to(SRC):
        return None  # defined outside the package (an inherited library method)
    return f"{base}/src/{path.relative_to(SRC).as_posix()}#L{start}-L{start + len(lines) - 1}"


def _set_resolver(app, config):
    options = config.html_theme_options or {}
    url = str(options.get("repository_url", "")).rstrip("/")
    branch = options.get("repository_branch", "main")
    base = f"{url}/blob/{branch}"

    def linkcode_resolve(domain, info):
        if domain != "py" or not info.get("module") or not url:
            return None
        return _source_url(base, info["module"], info["fullname"])

    config.linkcode_resolve = linkcode_resolve


def setup(app):
    app.setup_extension("sphinx.ext.linkcode")
    app.connect("config-inited", _set_resolver, priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
