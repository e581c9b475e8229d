"""The book's structure: stripped notebooks, a complete table of contents, the shape of a chapter."""

from __future__ import annotations

import ast
import importlib.util
import json
import re
from pathlib import Path

import nbformat
import numpy as np
import pytest
import yaml

import scratchbook
from scratchbook.book import toc_entries

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("sync_repository", ROOT / "scripts" / "sync_repository.py")
sync_repository = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(sync_repository)
NOTEBOOKS = sorted((ROOT / "chapters").rglob("*.ipynb"))
NOTEBOOKS = [p for p in NOTEBOOKS if ".ipynb_checkpoints" not in p.parts]
CHAPTERS = [p for p in NOTEBOOKS if p.parent.name in ("rnn", "metric", "latent", "compact")]
MARK = "NBVAL_CHECK_OUTPUT"


def _ids(paths):
    return [p.relative_to(ROOT).as_posix() for p in paths]


def _checked(cell) -> bool:
    return cell.cell_type == "code" and (MARK in cell.source or "nbval-check-output" in cell.metadata.get("tags", []))


def _toc_files() -> list[str]:
    return [file for file, _ in toc_entries(ROOT / "_toc.yml")]


def _resolve(entry: str) -> Path | None:
    for suffix in ("", ".md", ".ipynb"):
        path = ROOT / f"{entry}{suffix}"
        if path.is_file():
            return path
    return None


def test_there_are_notebooks():
    assert NOTEBOOKS, "no chapter notebooks found under chapters/"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=_ids(NOTEBOOKS))
def test_notebook_is_stripped(path):
    raw = json.loads(Path(path).read_text(encoding="utf-8"))
    if (raw["nbformat"], raw["nbformat_minor"]) >= (4, 5):  # cell ids are required from 4.5 on
        assert all("id" in cell for cell in raw["cells"]), "a cell has no id; run scripts/nbclean.py"
    nb = nbformat.read(path, as_version=4)
    for i, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        if _checked(cell):
            # nbval compares these outputs, and needs a count to treat the cell as run: always 1.
            assert cell.outputs, f"cell {i} is marked {MARK} but has no stored output to compare"
            assert cell.execution_count == 1, f"cell {i}: a checked cell is stored with execution count 1"
        else:
            assert cell.execution_count is None, f"cell {i} has an execution count"
            assert not cell.outputs, f"cell {i} has outputs; strip with scripts/nbclean.py"


def test_toc_lists_every_page_and_every_entry_exists():
    entries = _toc_files()
    missing = [e for e in entries if _resolve(e) is None]
    assert not missing, f"_toc.yml names files that do not exist: {missing}"
    listed = {_resolve(e) for e in entries}
    unlisted = [p.relative_to(ROOT).as_posix() for p in NOTEBOOKS if p not in listed]
    assert not unlisted, f"notebooks missing from _toc.yml: {unlisted}"
    for part in ("rnn", "metric", "latent", "compact"):
        assert f"chapters/{part}/index" in entries, f"part page chapters/{part}/index not in _toc.yml"


@pytest.mark.parametrize("path", CHAPTERS, ids=_ids(CHAPTERS))
def test_chapter_has_the_book_shape(path):
    nb = nbformat.read(path, as_version=4)
    md = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
    code = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
    assert nb.cells[0].cell_type == "markdown" and nb.cells[0].source.lstrip().startswith("# "), "no title"
    for heading in ("Learning objectives", "Exercises", "Summary"):
        assert re.search(rf"^#+ .*{heading}", md, re.M | re.I), f"missing a '{heading}' heading"
    assert len(re.findall(r"```\{exercise\}", md)) >= 3, "fewer than 3 exercises"
    solutions = re.findall(r"```\{solution\}[^\n]*\n((?::[^\n]*\n)*)", md)
    assert len(solutions) >= 3, "fewer than 3 solutions"
    assert all(":class: dropdown" in opts for opts in solutions), "every solution must be a dropdown"
    assert "{cite}" in md or "{cite:" in md, "no citation"
    assert "{glue:" in md, "no number glued into the prose"
    assert "set_seed(" in code, "seeds are not set"
    uses_torch = re.search(r"\btorch\b", code) is not None
    assert ("seed_torch=False" in code) != uses_torch, (
        "a chapter that uses torch seeds it (set_seed(0)); one that does not skips its import (seed_torch=False)"
    )
    assert "show_source(" in code, "the package code is not shown"
    assert "checks." in code or "from scratchbook.latent.checks" in code or ".checks import" in code, (
        "no exercise checkable with a package checker"
    )
    assert any(_checked(c) for c in nb.cells), f"no {MARK} cell"
    first_code = next(c for c in nb.cells if c.cell_type == "code").source
    requirement = sync_repository.install_requirement(*sync_repository.settings())
    assert 'find_spec("scratchbook")' in first_code and f'"{requirement}"' in first_code, (
        f"the first code cell must install {requirement} when the package is missing (Colab): "
        "run scripts/sync_repository.py"
    )
    assert any("solution" in c.metadata.get("tags", []) for c in nb.cells if c.cell_type == "code"), (
        "no exercise code cell tagged 'solution' (make student stubs these)"
    )
    if "interactive(" in code:
        assert "small_multiples(" in code, "a widget without its static twin"


def test_every_citation_is_in_the_bibliography():
    bib = (ROOT / "references.bib").read_text()
    keys = set(re.findall(r"@\w+\{([^,]+),", bib))
    texts = [p.read_text() for p in ROOT.glob("chapters/**/*.md")] + [(ROOT / "intro.md").read_text()]
    texts += ["\n".join(c.source for c in nbformat.read(p, as_version=4).cells) for p in NOTEBOOKS]
    cited = set()
    for text in texts:
        for group in re.findall(r"\{cite(?::\w+)?\}`([^`]+)`", text):
            cited.update(k.strip() for k in group.split(","))
    assert cited, "nothing is cited"
    assert not cited - keys, f"cited but not in references.bib: {sorted(cited - keys)}"


def test_no_backtick_fence_has_a_backtick_in_its_title():
    """A backtick fence's info string cannot hold a backtick (CommonMark): a role in a directive's title,
    such as a concept check asking about {eq}`...`, turns the whole directive into plain text on the page."""
    texts = {p: p.read_text() for p in [*ROOT.glob("chapters/**/*.md"), ROOT / "intro.md"]}
    for p in NOTEBOOKS:
        texts[p] = "\n".join(c.source for c in nbformat.read(p, as_version=4).cells if c.cell_type == "markdown")
    bad = [
        f"{p.relative_to(ROOT)}: {line[:70]}"
        for p, text in texts.items()
        for line in text.splitlines()
        if re.match(r"\s*`{3,}\{", line) and "`" in line.lstrip().lstrip("`")
    ]
    assert not bad, "a role in a directive's title breaks the directive:\n" + "\n".join(bad)


@pytest.mark.parametrize("path", CHAPTERS, ids=_ids(CHAPTERS))
def test_a_named_figure_cell_does_not_end_by_showing_a_value(path):
    """glue() returns its value: as a figure cell's last line without ";" it adds a second output, which
    the figure's name then labels twice (a duplicate target that fails the -W build)."""
    for cell in nbformat.read(path, as_version=4).cells:
        if cell.cell_type == "code" and "figure" in cell.metadata.get("mystnb", {}):
            last = cell.source.rstrip().splitlines()[-1]
            assert not (last.startswith("glue(") and not last.endswith(";")), f"end with ';': {last[:60]}"


def test_dependency_policy_check_of_make_lint_accepts_the_project_and_names_each_breach():
    """scripts/check_requirements.py (run by ``make lint``): upper bounds in pyproject.toml, exact pins only."""
    spec = importlib.util.spec_from_file_location("check_requirements", ROOT / "scripts" / "check_requirements.py")
    check = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(check)
    assert check.main() == 0
    pyproject = (
        '[project]\ndependencies = ["numpy>=1.26,<3", "scipy>=1.11"]\n'
        '[project.optional-dependencies]\nbook = ["nbval"]\n'
    )
    assert check.policy_problems(pyproject, "torch==2.13.0  # pinned\nmatplotlib>=3.8\n") == [
        "no upper bound: scipy>=1.11",
        "no upper bound: nbval",
        "requirements.txt holds exact pins only (ranges go in pyproject.toml): matplotlib>=3.8",
    ]


def test_api_reference_is_generated_with_a_page_for_every_module(tmp_path):
    """api.md runs autosummary over the package (``:recursive:``): Sphinx's own generator, run on api.md,
    writes one page per module of src/scratchbook, each module's page documenting its members."""
    from sphinx.ext.autosummary.generate import main as autogen

    api = (ROOT / "api.md").read_text()
    assert re.search(r"\.\. autosummary::\n   :toctree: api\n   :recursive:\n\n   scratchbook\n", api)
    # the generated pages are not in _toc.yml (autosummary's toctrees nest them), so the build must keep files
    # outside it: with only_build_toc_files, a rebuild would drop every page that the first build wrote
    assert re.search(r"^only_build_toc_files: false", (ROOT / "_config.yml").read_text(), flags=re.M)
    autogen(["-t", str(ROOT / "_templates"), "-o", str(tmp_path), str(ROOT / "api.md")])
    src = ROOT / "src"
    modules = {".".join(p.relative_to(src).with_suffix("").parts).removesuffix(".__init__") for p in src.rglob("*.py")}
    pages = {p.stem: p.read_text() for p in tmp_path.glob("*.rst")}
    assert set(pages) == modules
    packages = {m for m in modules if (src / m.replace(".", "/") / "__init__.py").is_file()}
    assert all((":members:" in text) == (name not in packages) for name, text in pages.items())


# --- no function twice: a notebook calls the package instead of re-implementing it ----------------------


def _body(fn: ast.FunctionDef) -> str:
    """A function's body without its docstring, as a normalized AST: copies match whatever their names."""
    body = fn.body
    if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
        body = body[1:]
    return ast.dump(ast.Module(body=body, type_ignores=[]), annotate_fields=False)


def _package_functions() -> tuple[set[str], dict[str, str]]:
    """Names of the package's module-level public functions, and the body of every function or method."""
    names, bodies = set(), {}
    for path in (ROOT / "src" / "scratchbook").rglob("*.py"):
        module = ".".join(path.relative_to(ROOT / "src").with_suffix("").parts)
        for node in ast.parse(path.read_text()).body:
            methods = [n for n in node.body if isinstance(n, ast.FunctionDef)] if isinstance(node, ast.ClassDef) else []
            if isinstance(node, ast.FunctionDef):
                names.update([node.name] if not node.name.startswith("_") else [])
                methods = [node]
            for fn in methods:
                if len(fn.body) > 1 or not isinstance(fn.body[0], (ast.Expr, ast.Pass, ast.Raise)):
                    bodies[_body(fn)] = f"{module}.{fn.name}"
    return names, bodies


def _notebook_functions(path: Path) -> list[ast.FunctionDef]:
    """Top-level functions of a notebook's code cells, except exercise solutions (the reader's to write)."""
    found = []
    for cell in nbformat.read(path, as_version=4).cells:
        if cell.cell_type == "code" and "solution" not in cell.metadata.get("tags", []):
            found += [n for n in ast.parse(cell.source).body if isinstance(n, ast.FunctionDef)]
    return found


def _same_name(a: str, b: str) -> bool:
    """Whether two function names say the same thing, abbreviations allowed: the same words in the same
    order, each word equal to the other's or a prefix of it of three letters or more (``inv_sqrt`` and
    ``inverse_sqrt``, ``within_class_cov`` and ``within_class_covariance``). A one-word name must be
    equal (``fitted`` is not ``fit``)."""
    wa, wb = a.lower().strip("_").split("_"), b.lower().strip("_").split("_")
    if len(wa) != len(wb) or len(wa) == 1:
        return wa == wb
    return all(x == y or (min(len(x), len(y)) >= 3 and (x.startswith(y) or y.startswith(x))) for x, y in zip(wa, wb))


def _draws_a_panel(fn: ast.FunctionDef) -> bool:
    """A figure callback, ``draw_…(ax, …)``: it draws one panel of its own chapter's figure, so two chapters
    may each have one of the same name."""
    return bool(fn.args.args) and fn.args.args[0].arg == "ax"


def _copy_problems(functions: dict[str, list[ast.FunctionDef]]) -> list[str]:
    """What :func:`test_notebooks_call_the_package_instead_of_copying_it` reports for these notebook functions."""
    names, bodies = _package_functions()
    problems, seen_bodies, seen_names = [], {}, []
    for nb, fns in functions.items():
        for fn in fns:
            body = _body(fn)
            package_name = next((n for n in sorted(names) if _same_name(fn.name, n)), None)
            other = next(((o_nb, o) for o_nb, o in seen_names if o_nb != nb and _same_name(fn.name, o)), None)
            other = None if _draws_a_panel(fn) else other
            if package_name is not None:
                problems.append(f"{nb} defines {fn.name}(), a name the package already has ({package_name})")
            elif body in bodies:
                problems.append(f"{nb} defines {fn.name}(), a copy of {bodies[body]}")
            elif body in seen_bodies and seen_bodies[body][0] != nb:
                problems.append(
                    f"{nb} defines {fn.name}(), a copy of {seen_bodies[body][1]}() in {seen_bodies[body][0]}"
                )
            elif other is not None:
                problems.append(
                    f"{nb} defines {fn.name}(), and {other[0]} defines {other[1]}(): one belongs in the package"
                )
            seen_bodies.setdefault(body, (nb, fn.name))
            seen_names += [] if _draws_a_panel(fn) else [(nb, fn.name)]
    return problems


def test_same_name_allows_abbreviations_only():
    assert _same_name("within_class_cov", "within_class_covariance")
    assert _same_name("inv_sqrt", "inverse_sqrt") and _same_name("_psd", "psd")
    assert not _same_name("within_class_cov", "within_chunklet_covariance")
    assert not _same_name("fit", "fit_transform") and not _same_name("fitted", "fit")
    assert not _same_name("to_list", "top_list")  # two letters are no abbreviation


def test_copy_check_catches_a_renamed_copy_in_another_notebook():
    """The case it once missed: chapters 2.1 and 2.2 each defined the within-class covariance, under two
    names and with two normalisations (so neither the names nor the bodies matched)."""
    first, second = (
        ast.parse(code).body
        for code in (
            "def within_class_covariance(X, y):\n    return X.T @ X / (len(X) - 1)",
            "def within_class_cov(X, y):\n    return X.T @ X / len(X)",
        )
    )
    problems = _copy_problems({"a.ipynb": first, "b.ipynb": second})
    assert problems == [
        "b.ipynb defines within_class_cov(), and a.ipynb defines within_class_covariance(): one belongs in the package"
    ]


# Copies still to be removed (each entry goes when its chapter calls the package); an entry that no longer
# occurs fails the test too, so the list only shrinks.
KNOWN_COPIES: set[str] = set()


def test_notebooks_call_the_package_instead_of_copying_it():
    """No notebook function has a package function's name or body, or the name or body of another
    notebook's function (names compared with abbreviations allowed, :func:`_same_name`)."""
    problems = _copy_problems({path.relative_to(ROOT).as_posix(): _notebook_functions(path) for path in CHAPTERS})
    new, fixed = set(problems) - KNOWN_COPIES, KNOWN_COPIES - set(problems)
    assert not new, "code a second notebook needs lives in the package:\n" + "\n".join(sorted(new))
    assert not fixed, "fixed, so remove from KNOWN_COPIES:\n" + "\n".join(sorted(fixed))


def test_url_and_version_are_in_step_everywhere():
    """The install cells, CITATION.cff and pyproject's dynamic version all follow _config.yml and __version__."""
    assert not sync_repository.sync(check=True), "out of step: run scripts/sync_repository.py"
    url, version = sync_repository.settings()
    assert scratchbook.__version__ == version, "the installed package is not this tree's: reinstall it"
    citation = yaml.safe_load((ROOT / "CITATION.cff").read_text())
    assert (citation["version"], citation["repository-code"]) == (version, url)
    assert re.fullmatch(r"\d+\.\d+\.\d+", version), f"__version__ {version!r} is not X.Y.Z"
    changelog = (ROOT / "CHANGELOG.md").read_text()
    assert re.search(rf"^## \[{re.escape(version)}\]", changelog, re.M), f"CHANGELOG.md has no entry for {version}"


# --- no typed numbers in the prose ------------------------------------------------------------

# Parts whose chapter prose must carry no typed number; the other parts join as they are cleaned.
TYPED_NUMBER_PARTS = ["rnn", "metric", "latent", "compact", "appendix"]
# What may keep its digits: time estimates, numbered steps and list items, citation locators.
TYPED_NUMBER_ALLOWED = [
    re.compile(r"^\*\*Time:\*\* about \d+ minutes\.$"),  # a whole line
    re.compile(r"^#+ Step \d: "),  # the start of a line ...
    re.compile(r"^\d\. "),  # ... a numbered list item
    re.compile(r"\(chapter \d+\)"),  # anywhere: a locator in a citation, "(chapter 12)"
    # the instructor guide's course plan: week numbers are a choice of the syllabus, not a measurement
    re.compile(r"\(after week \d+\)"),
    re.compile(r"\(weeks \d+-\d+\)"),
]
_PROSE_DIRECTIVES = {"exercise", "solution", "note", "tip", "warning", "important", "admonition", "margin", "hint"}
_EXEMPT_SPANS = [
    re.compile(r"\$\$[\s\S]*?\$\$"),  # display math
    re.compile(r"(?<![\\$])\$(?!\$)[^$]+?(?<!\\)\$"),  # inline math, possibly over several lines
    re.compile(r"\{[a-z:-]+\}`[^`]*`"),  # roles: glue, cite, ref, numref, eq, doc, math
    re.compile(r"`[^`]*`"),  # inline code
    re.compile(r"\]\([^)]*\)"),  # link targets
    re.compile(r"<!--[\s\S]*?-->"),
]


def _prose_lines(markdown: str) -> list[str]:
    """The lines of a markdown cell that are prose: code fences, math, roles, code and links removed."""
    kept, fence = [], None  # fence: (marker, whether its body is prose)
    for line in markdown.splitlines():
        opening = re.match(r"^(`{3,}|~{3,})\s*(?:\{([a-z-]+)\})?", line)
        if fence is None and opening:
            fence = (opening.group(1), opening.group(2) in _PROSE_DIRECTIVES)
        elif fence is not None and line.strip() == fence[0]:
            fence = None
        elif (fence is None or fence[1]) and not re.match(r"^:[a-z-]+:|^\([a-z0-9-]+\)=$", line):
            kept.append(line)
    text = "\n".join(kept)
    for span in _EXEMPT_SPANS:
        text = span.sub(" ", text)
    return [line.strip() for line in text.splitlines()]


def _typed_numbers(markdown: str) -> list[str]:
    found = []
    for line in _prose_lines(markdown):
        shown = line
        for allowed in TYPED_NUMBER_ALLOWED:
            line = allowed.sub(" ", line)
        found += [f"{token!r} in: {shown[:100]}" for token in re.findall(r"\S*\d\S*", line)]
    return found


def test_typed_number_detector_flags_prose_and_spares_the_exempt_spans():
    flagged = _typed_numbers("On 2000 points it is 3 times faster.")
    assert len(flagged) == 2
    spared = (
        "The fit gains {glue:text}`gain:.2f` with $k = 10$ {cite}`roweis2000lle` (`n_neighbors=10`), "
        "see [the chapter](03_lle.ipynb).\n$$\nx = 2\n$$\n```python\nx = 3\n```\n**Time:** about 45 minutes."
    )
    assert _typed_numbers(spared) == []
    assert _typed_numbers("```{exercise}\n:label: ex-1\n\nTry 5 seeds.\n```") == ["'5' in: Try 5 seeds."]
    assert _typed_numbers("1. As in chapter 3.") == ["'3.' in: 1. As in chapter 3."]


@pytest.mark.parametrize("part", TYPED_NUMBER_PARTS)
def test_prose_has_no_typed_numbers(part):
    problems = []
    for path in sorted((ROOT / "chapters" / part).glob("*.ipynb")):
        for cell in nbformat.read(path, as_version=4).cells:
            if cell.cell_type == "markdown":
                problems += [f"{path.name}: {p}" for p in _typed_numbers(cell.source)]
    index = ROOT / "chapters" / part / "index.md"
    if index.exists():
        problems += [f"index.md: {p}" for p in _typed_numbers(index.read_text())]
    assert not problems, "numbers in prose must come from glue (or math):\n" + "\n".join(problems)


def test_glue_stores_a_numpy_scalar_as_a_python_number(capsys):
    from scratchbook.book import glue

    stored = glue("x", np.float64(4.25))
    assert type(stored) is float and stored == 4.25  # myst-nb formats "4.25" with :.1f; "np.float64(4.25)" it cannot


def test_glue_all_glues_each_value_under_its_prefixed_name(monkeypatch):
    from scratchbook import book

    stored = []
    monkeypatch.setattr(book, "glue", lambda name, value: stored.append((name, value)) or value)
    assert book.glue_all("scr_kd", mean=0.5, wins=3) == {"scr_kd_mean": 0.5, "scr_kd_wins": 3}
    assert book.glue_all(n_seeds=15) == {"n_seeds": 15}
    assert book.glue_all({"a_b": 1.0}, c=2) == {"a_b": 1.0, "c": 2}
    assert stored == [("scr_kd_mean", 0.5), ("scr_kd_wins", 3), ("n_seeds", 15), ("a_b", 1.0), ("c", 2)]
    with pytest.raises(ValueError, match="both give"):
        book.glue_all({"c": 1}, c=2)
    with pytest.raises(TypeError, match="prefix_or_values must be"):
        book.glue_all(3, a=1)
    with pytest.raises(TypeError, match="keys must be"):
        book.glue_all({1: 2})
    with pytest.raises(ValueError, match="one or more values"):
        book.glue_all("prefix")
    with pytest.raises(ValueError, match="non-empty name"):
        book.glue_all({"": 1})
    assert len(stored) == 5  # a refused call glues nothing


def test_glue_all_stores_numpy_scalars_as_glue_does(capsys):
    from scratchbook.book import glue_all

    stored = glue_all("x", a=np.float64(4.25), b=np.int64(3))
    assert stored == {"x_a": 4.25, "x_b": 3} and type(stored["x_a"]) is float and type(stored["x_b"]) is int


def test_the_printed_editions_hold_every_page_but_the_package_reference(tmp_path):
    """make pdf builds from _toc.yml less api (the reference's autosummary toctrees break the LaTeX builder's
    part/chapter transform, and 65 module pages belong on the website): every other page, in order."""
    spec = importlib.util.spec_from_file_location("make_pdf", ROOT / "scripts" / "make_pdf.py")
    make_pdf = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(make_pdf)
    (tmp_path / "_toc.yml").write_text(yaml.safe_dump(make_pdf.edition_toc()))
    printed = toc_entries(tmp_path / "_toc.yml")
    assert printed == [entry for entry in toc_entries(ROOT / "_toc.yml") if entry[0] != "api"]
    assert len(printed) == len(toc_entries(ROOT / "_toc.yml")) - 1
    config = make_pdf.edition_config("student")
    assert {"api.md", "api/*"} <= set(config["exclude_patterns"])
