"""A small Sphinx extension with fixes for the website's HTML.

sphinx-thebe (loaded by Jupyter Book) adds its inline configuration script twice, which makes the
browser throw "Identifier 'THEBE_JS_URL' has already been declared" on every page. This keeps the
first copy of each script. Seen with sphinx-thebe 0.3.1 (the version jupyter-book 1.0.4 installs);
delete this extension once a release of sphinx-thebe no longer adds the script twice (the browser
test, `make test-site`, fails on the console error if it comes back).
"""

from __future__ import annotations


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


def setup(app):
    app.connect("html-page-context", _dedupe_scripts, priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
