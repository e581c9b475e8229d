"""Execution-time budget for the notebooks run under nbval.

Each notebook's time (kernel start plus every cell) is summed as its cells run; the cell during
which a notebook passes NOTEBOOK_BUDGET_S, or the whole book passes BOOK_BUDGET_S, fails with a
message saying so. At the end a table of every notebook's time is printed.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import pytest

NOTEBOOK_BUDGET_S = 60.0  # a hard limit; the target for every notebook is 30 s
BOOK_BUDGET_S = 300.0

_times: dict[str, float] = defaultdict(float)


def _is_notebook(item) -> bool:
    return Path(str(item.fspath)).suffix == ".ipynb"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    if not _is_notebook(item):
        return
    report = outcome.get_result()
    name = Path(str(item.fspath)).relative_to(Path(__file__).parent).as_posix()
    _times[name] += call.stop - call.start
    if report.when != "call" or report.failed:
        return
    over_nb = _times[name] > NOTEBOOK_BUDGET_S
    over_book = sum(_times.values()) > BOOK_BUDGET_S
    if over_nb or over_book:
        report.outcome = "failed"
        what = f"{name} has run {_times[name]:.1f} s (budget {NOTEBOOK_BUDGET_S:.0f} s)" if over_nb else (
            f"the book has run {sum(_times.values()):.1f} s (budget {BOOK_BUDGET_S:.0f} s)")
        report.longrepr = f"Time budget exceeded: {what}."


def pytest_terminal_summary(terminalreporter):
    if not _times:
        return
    tr = terminalreporter
    width = max(len(n) for n in _times) + 2
    tr.section("notebook execution times")
    for name, seconds in sorted(_times.items()):
        flag = "  OVER BUDGET" if seconds > NOTEBOOK_BUDGET_S else ("  (over the 30 s target)" if seconds > 30 else "")
        tr.write_line(f"{name:<{width}}{seconds:7.1f} s{flag}")
    tr.write_line(f"{'total':<{width}}{sum(_times.values()):7.1f} s  (budget {BOOK_BUDGET_S:.0f} s)")
