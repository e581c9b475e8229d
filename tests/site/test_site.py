"""The website in a real browser: pages load cleanly, figures and math show, solutions open,
search works, and no internal link is broken."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urldefrag, urlparse

import pytest

from scratchbook.book import toc_entries

ROOT = Path(__file__).resolve().parents[2]
HTML = ROOT / "_build" / "html"

# Console messages that the theme itself prints on every page and that say nothing is wrong.
BENIGN_CONSOLE = (re.compile(r"^\[PST\]"), re.compile(r"^\[togglebutton\]"))
# Hang guards only, far above the normal wait (under a second here), so that a slow machine never fails.
HANG_MS = 120_000


def toc_pages() -> list[tuple[str, bool]]:
    """(html path, is a notebook chapter) for every page named in _toc.yml."""
    pages = [file for file, _ in toc_entries(ROOT / "_toc.yml")]
    topics = ("rnn", "metric", "latent", "compact")

    def is_chapter(p: str) -> bool:
        parts = p.split("/")
        return (ROOT / f"{p}.ipynb").is_file() and len(parts) == 3 and parts[1] in topics

    return [(f"{p}.html", is_chapter(p)) for p in pages]


# the package reference nests its generated module pages under api.md; one of them stands for the markup they share
PAGES = toc_pages() + [("api/scratchbook.training.html", False)]
CHAPTERS = [p for p, is_nb in PAGES if is_nb]
FULL_AXE_PAGE = "chapters/rnn/06_bidirectional.html"  # the smallest chapter with code, math and figures: checked whole
# axe's layout rules (contrast, target size, links told apart from text) read the computed styles, which come
# from the theme and _static/*.css, never from a chapter (no page's markdown sets a colour; a test below
# keeps it so). They run on one page of each template; the structural rules (names, roles, alt text,
# headings, landmarks, ARIA) run on every page. The layout rules are two thirds of axe's time on a chapter.
LAYOUT_RULES = ("color-contrast", "target-size", "link-in-text-block")
LAYOUT_AXE_PAGES = {
    FULL_AXE_PAGE,  # a chapter notebook
    "intro.html",  # the landing page
    "chapters/rnn/index.html",  # a part's overview
    "chapters/appendix/running_anywhere.html",  # a markdown page of the appendix
    "chapters/appendix/instructor_guide.html",  # a notebook outside the parts
    "api.html",  # the package reference
    "bibliography.html",
}


def _open(browser, url):
    page = browser.new_page()
    page.set_default_timeout(HANG_MS)
    problems: list[str] = []
    page.on(
        "console",
        lambda m: (
            problems.append(f"console {m.type}: {m.text}")
            if m.type == "error" and not any(b.search(m.text) for b in BENIGN_CONSOLE)
            else None
        ),
    )
    page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
    page.on("response", lambda r: problems.append(f"HTTP {r.status}: {r.url}") if r.status >= 400 else None)
    page.goto(url, wait_until="load")
    return page, problems


@pytest.mark.parametrize("path", [p for p, _ in PAGES])
def test_page_loads_without_errors(browser, site_url, path):
    """Every page: a title, math without MathJax errors, no console error or failed request, no serious
    or critical accessibility violation (axe-core); a chapter page also shows its figures with alt text,
    a closed solution that opens from the keyboard, and launch links (one load per page)."""
    page, problems = _open(browser, f"{site_url}/{path}")
    assert page.locator("main h1").count() >= 1, f"{path} has no title"
    if page.locator(".math").count():
        page.wait_for_selector("mjx-container", state="attached", timeout=HANG_MS)
        assert page.locator("mjx-merror").count() == 0, f"{path}: MathJax reported an error"
    if path in CHAPTERS:
        _check_chapter(page, path)
    _check_accessibility(page, path)
    page.wait_for_timeout(200)
    page.close()
    assert not problems, f"{path}: " + "; ".join(problems)


def _check_accessibility(page, path: str) -> None:
    """axe-core's WCAG checks on the page as loaded (layout rules on one page per template): none serious or
    critical."""
    from axe_playwright_python.sync_playwright import Axe

    # preload=False: axe would otherwise re-fetch the theme's stylesheets and resolve their @import
    # against the page's address (a false 404); the styles it checks are those the page has applied.
    # Code blocks and typeset math carry the same styles on every page (the Pygments theme, MathJax's output
    # inheriting the text colour) and are most of a chapter's nodes: checked in full on one page, skipped on
    # the others.
    # The skipped parts are taken out of the page, not only out of axe's context: axe builds its tree of the
    # whole document first, and on a chapter that tree is nine tenths MathJax and Pygments spans (17 000 nodes
    # on chapter 2.2, 1 400 without them), so excluding them alone saves nothing.
    if path != FULL_AXE_PAGE:
        skipped = ["mjx-container", ".highlight"]
        page.evaluate("sel => document.querySelectorAll(sel).forEach(e => e.remove())", ", ".join(skipped))
    options = {"resultTypes": ["violations"], "preload": False}
    if path not in LAYOUT_AXE_PAGES:
        options["rules"] = {rule: {"enabled": False} for rule in LAYOUT_RULES}
    violations = Axe().run(page, options=options).response["violations"]
    bad = [
        f"{v['id']} ({v['impact']}, {len(v['nodes'])}×): {v['nodes'][0]['html'][:120]}"
        for v in violations
        if v["impact"] in ("serious", "critical")
    ]
    assert not bad, f"{path}: accessibility violations:\n" + "\n".join(bad)


def _check_chapter(page, path: str) -> None:
    images = page.locator("main .cell_output img")
    assert images.count() >= 1, f"{path}: no figure in the cell outputs"
    widths = images.evaluate_all("imgs => imgs.map(i => i.complete ? i.naturalWidth : 0)")
    assert min(widths) > 0, f"{path}: a figure did not load"
    labels = images.evaluate_all(
        "imgs => imgs.map(i => [i.getAttribute('alt') || '', !!i.closest('figure')?.querySelector('figcaption')])"
    )
    unlabelled = [alt for alt, captioned in labels if len(alt) < 20 or alt.endswith((".png", ".svg")) or not captioned]
    assert not unlabelled, (
        f"{path}: a figure without a caption or alt text (cell metadata mystnb.figure.caption, mystnb.image.alt): "
        f"{unlabelled[:3]}"
    )
    solution = page.locator("main .solution.dropdown").first
    assert solution.count() == 1, f"{path}: no dropdown solution"
    body = solution.locator("section").first
    assert not body.is_visible(), f"{path}: the solution is open before it is asked for"
    solution.locator("button.toggle-button").focus()  # a keyboard user reaches the toggle and presses Enter
    page.keyboard.press("Enter")
    body.wait_for(state="visible", timeout=HANG_MS)
    notebook = path.replace(".html", ".ipynb")
    hrefs = page.locator("a[href]").evaluate_all("as => as.map(a => a.href)")
    for service in ("https://mybinder.org/", "https://colab.research.google.com/"):
        assert any(h.startswith(service) and h.endswith("/" + notebook) and "/./" not in h for h in hrefs), (
            f"{path}: no launch link to {service} for {notebook}"
        )


def test_search_finds_a_term(browser, site_url):
    page, _ = _open(browser, f"{site_url}/search.html?q=likelihood")
    page.wait_for_selector("#search-results li", timeout=HANG_MS)
    hits = page.locator("#search-results li a").evaluate_all("as => as.map(a => a.getAttribute('href'))")
    page.close()
    assert any("latent" in h for h in hits), f"search for 'likelihood' found no latent chapter: {hits[:5]}"


class _Links(HTMLParser):
    def __init__(self):
        super().__init__()
        self.hrefs: list[str] = []
        self.ids: set[str] = set()

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if attrs.get("id"):
            self.ids.add(attrs["id"])
        if tag == "a" and attrs.get("href"):
            self.hrefs.append(attrs["href"])


def _parse(path: Path) -> _Links:
    parser = _Links()
    parser.feed(path.read_text(encoding="utf-8"))
    return parser


def test_no_broken_internal_links():
    pages = {p: _parse(p) for p in HTML.rglob("*.html") if "_static" not in p.parts}
    broken = []
    for source, parsed in pages.items():
        for href in parsed.hrefs:
            if urlparse(href).scheme or href.startswith(("mailto:", "//", "javascript:")):
                continue
            target, anchor = urldefrag(href)
            target_path = (source.parent / unquote(target)).resolve() if target else source
            if target_path.is_dir():
                target_path = target_path / "index.html"
            if not target_path.is_file():
                broken.append(f"{source.relative_to(HTML)} -> {href}")
            elif anchor and target_path.suffix == ".html":
                ids = pages[target_path].ids if target_path in pages else _parse(target_path).ids
                if unquote(anchor) not in ids:
                    broken.append(f"{source.relative_to(HTML)} -> {href} (no such anchor)")
    assert not broken, "broken internal links:\n" + "\n".join(sorted(set(broken))[:50])


class _Styles(HTMLParser):
    """What can give a page its own look: stylesheets, <style> blocks, style attributes, <font> tags."""

    def __init__(self, page: Path):
        super().__init__()
        self.page, self.sheets, self.blocks, self.local = page, set(), [], []
        self._in_style = False

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "link" and "stylesheet" in (attrs.get("rel") or ""):
            target = urldefrag(attrs.get("href") or "")[0].split("?")[0]
            self.sheets.add(str((self.page.parent / target).resolve().relative_to(HTML)))
        self._in_style = tag == "style"
        if tag == "font" or re.search(r"colou?r|background", attrs.get("style") or ""):
            self.local.append(f"<{tag} style={attrs.get('style')!r}>")

    def handle_data(self, data):
        if self._in_style:
            self.blocks.append(data.strip())
            self._in_style = False


def test_every_page_takes_its_styles_from_the_theme():
    """The premise of checking axe's layout rules on one page per template: no page brings a stylesheet,
    a <style> block or a colour of its own."""
    styles = {}
    for path, _ in PAGES:
        parsed = _Styles(HTML / path)
        parsed.feed((HTML / path).read_text(encoding="utf-8"))
        styles[path] = parsed
    reference = styles[FULL_AXE_PAGE]
    assert reference.sheets and all(s.startswith("_static/") for s in reference.sheets), reference.sheets
    odd = [
        f"{path}: {sorted(p.sheets ^ reference.sheets)} {p.blocks} {p.local[:3]}"
        for path, p in styles.items()
        if p.sheets != reference.sheets or p.blocks != reference.blocks or p.local
    ]
    assert not odd, "pages with styles of their own:\n" + "\n".join(odd)
