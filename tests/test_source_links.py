"""The package reference's [source] links (`_ext/source_links.py`): each names the file and the lines
where the object is defined, read back from the file itself."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BASE = "https://example.org/repo/blob/main"


@pytest.fixture(scope="module")
def source_links():
    spec = importlib.util.spec_from_file_location("source_links", ROOT / "_ext" / "source_links.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize(
    ("module", "fullname", "definition"),
    [
        ("scratchbook.training", "fit", "def fit("),
        ("scratchbook.latent", "FactorAnalysis", "class FactorAnalysis("),
        ("scratchbook.latent", "FactorAnalysis.fit", "def fit("),
    ],
)
def test_a_link_names_the_lines_that_define_the_object(source_links, module, fullname, definition):
    url = source_links._source_url(BASE, module, fullname)
    match = re.fullmatch(re.escape(BASE) + r"/src/(.+)#L(\d+)-L(\d+)", url)
    assert match, url
    path, start, end = ROOT / "src" / match[1], int(match[2]), int(match[3])
    lines = path.read_text().splitlines()
    first = next(i for i in range(start - 1, end) if not lines[i].lstrip().startswith("@"))  # past decorators
    assert lines[first].lstrip().startswith(definition)
    assert end >= start and end <= len(lines)
    # the next line after the range is not indented deeper than the definition: the whole body is inside
    indent = len(lines[first]) - len(lines[first].lstrip())
    after = next((ln for ln in lines[end:] if ln.strip()), "")
    assert len(after) - len(after.lstrip()) <= indent


def test_objects_without_source_in_the_package_get_no_link(source_links):
    assert source_links._source_url(BASE, "scratchbook.latent", "no_such_name") is None
    assert source_links._source_url(BASE, "no_such_module", "x") is None
    # inherited from scikit-learn: its code is not in this repository
    assert source_links._source_url(BASE, "scratchbook.latent", "FactorAnalysis.get_params") is None
