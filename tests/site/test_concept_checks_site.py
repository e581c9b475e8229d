"""Concept checks on the built website: a reader answers one in the browser, with no server behind the page."""

from __future__ import annotations

from pathlib import Path

import nbformat

from scratchbook.book import CONCEPT_CHECK_BLOCK, parse_concept_check

ROOT = Path(__file__).resolve().parents[2]
CHAPTER = "chapters/rnn/04_lstm"
HANG_MS = 120_000  # a hang guard only


def _first_check() -> dict:
    """The chapter's first concept check, read from the notebook (the oracle for the page)."""
    for cell in nbformat.read(ROOT / f"{CHAPTER}.ipynb", as_version=4).cells:
        if cell.cell_type == "markdown":
            for _, question, body in CONCEPT_CHECK_BLOCK.findall(cell.source):
                return parse_concept_check(question, body)
    raise AssertionError(f"{CHAPTER} has no concept check")


def test_a_reader_answers_a_concept_check(browser, site_url):
    check = _first_check()
    page = browser.new_page()
    page.set_default_timeout(HANG_MS)
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(f"{site_url}/{CHAPTER}.html", wait_until="load")
    box = page.locator(f"div.concept-check#{check['label']}")
    assert box.count() == 1, f"no concept check {check['label']} on the page"
    options = box.locator("button.cc-option")
    assert options.count() == len(check["options"])
    explanation = box.locator(".cc-explanation")
    assert not explanation.is_visible(), "the explanation shows before the reader answers"

    wrong = next(i for i in range(len(check["options"])) if i != check["answer"])
    options.nth(wrong).click()
    feedback = box.locator(".cc-feedback")
    assert feedback.inner_text().startswith("Not quite")
    assert explanation.is_visible()
    assert "cc-right" in options.nth(check["answer"]).get_attribute("class")
    assert options.nth(wrong).get_attribute("aria-pressed") == "true"

    options.nth(check["answer"]).focus()  # a keyboard user picks the right option with Enter
    page.keyboard.press("Enter")
    assert feedback.inner_text() == "Right."
    assert check["explanation"].split()[0] in explanation.inner_text()
    page.close()
    assert not errors, "; ".join(errors)
