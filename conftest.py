"""The notebooks under nbval: each executed once per run, its outputs kept for the book build, its time
reported as a ratio to the floor notebook.

- **One execution.** When every cell of a book notebook passes, the outputs nbval collected are written
  into the book's jupyter-cache (``_build/.jupyter_cache``, where ``jupyter-book build`` looks with
  ``execute_notebooks: cache``), so the build that follows reuses them instead of executing the
  notebook again. A notebook with a failing cell is not cached: the build would execute it and fail.
- **Both cores.** Run with ``-n 2 --dist loadfile`` (pytest-xdist): each notebook stays on one worker,
  in one kernel. Notebooks are scheduled longest first, from the times of the last benchmark
  (``benchmarks/notebook_times.json``), so that no long notebook starts last.
- **Ratios, not budgets.** No test fails because a machine is slow; nbval's cell timeout is the only
  limit, a hang guard. The table at the end gives each notebook's time (kernel start, every cell, kernel
  shutdown) as a multiple of the floor notebook's (``benchmarks/floor.ipynb``: a kernel that imports
  what the chapters import and draws one figure), measured in the same run. ``--bench-book`` (used by
  ``make bench-book``, serial) also checks the targets and writes the times to the JSON file above.
  There every notebook runs in two serial passes (the second in a fresh pytest process) and the floor
  once more at the end; each time is the least of its runs, since a shared machine only ever adds delay
  (as ``timeit`` reports the best of its repeats), so one slow moment does not decide a ratio.
"""

from __future__ import annotations

import fcntl
import json
import os
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent
CACHE = ROOT / "_build" / ".jupyter_cache"
FLOOR = "benchmarks/floor.ipynb"
TIMES_FILE = ROOT / "benchmarks" / "notebook_times.json"
NOTEBOOK_TARGET = 3.0  # each notebook at most 3 floors
BOOK_TARGET = 2.0  # the book at most 2 × (number of notebooks) floors, serially
TIMES_OUT = "SCRATCHBOOK_TIMES_OUT"  # --bench-book: where a further pass writes its times, for the run that started it

_times: dict[str, float] = defaultdict(float)
_outputs: dict[str, list] = defaultdict(list)
_all_passed: dict[str, bool] = defaultdict(lambda: True)
_started: dict[str, float] = {}
_session_start = time.perf_counter()


def pytest_configure(config):
    """Execute cells as a notebook front end does, with history: a final `;` then hides the cell's value
    (nbval sends ``store_history=False``, so IPython would show it), and the cached outputs match what
    the book build's own executor, nbclient, would store."""
    try:
        from nbval.kernel import RunningKernel
    except ImportError:  # nbval not installed: nothing to patch
        return

    def execute_cell_input(self, cell_input, allow_stdin=None):
        return self.kc.execute(cell_input, store_history=True, allow_stdin=allow_stdin, stop_on_error=False)

    RunningKernel.execute_cell_input = execute_cell_input


def pytest_addoption(parser):
    parser.addoption(
        "--bench-book",
        action="store_true",
        help="check the floor-relative targets and record the times in benchmarks/notebook_times.json",
    )


def _notebook(item) -> str | None:
    path = Path(str(item.path))
    if path.suffix != ".ipynb":
        return None
    return path.resolve().relative_to(ROOT).as_posix()


def _report_notebook(report) -> str | None:
    path = report.nodeid.split("::")[0]
    return path if path.endswith(".ipynb") else None


def pytest_collection_modifyitems(config, items):
    """Longest notebooks first (from the last benchmark; unknown ones first of all), the floor first."""
    if not any(_notebook(i) for i in items):
        return
    known = json.loads(TIMES_FILE.read_text())["seconds"] if TIMES_FILE.is_file() else {}

    def order(item):
        name = _notebook(item)
        if name is None:
            return (0, 0.0)
        if name == FLOOR:
            return (1, 0.0)
        return (2, -known.get(name, float("inf")))

    items.sort(key=order)  # stable: the cells of a notebook keep their order


# --- each notebook executed once: nbval's outputs go into the book's jupyter-cache -----------------


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    name = _notebook(item)
    if name is None:
        return
    report = outcome.get_result()
    if call.when == "setup":
        _started.setdefault(name, call.start)
    if report.failed or report.skipped:
        _all_passed[name] = False
    if call.when == "call" and report.passed:
        _outputs[name].append(getattr(item, "test_outputs", None) or [])


@pytest.hookimpl(trylast=True)
def pytest_runtest_teardown(item, nextitem):
    """After a notebook's last cell (its kernel is shut down by then), cache its outputs."""
    name = _notebook(item)
    if name is None or (nextitem is not None and nextitem.parent is item.parent):
        return
    seconds = time.perf_counter() - _started.pop(name, time.perf_counter())
    outputs, passed = _outputs.pop(name, []), _all_passed.pop(name, True)
    if passed and name.startswith("chapters/"):
        _cache_outputs(ROOT / name, outputs, seconds)


def _cache_outputs(path: Path, outputs: list, seconds: float) -> None:
    import nbformat
    from jupyter_cache import get_cache
    from jupyter_cache.base import CacheBundleIn

    nb = nbformat.read(path, as_version=4)
    cells = [c for c in nb.cells if c.cell_type == "code"]
    if len(cells) != len(outputs):  # a cell skipped or not run: let the book build execute it
        return
    for count, (cell, outs) in enumerate(zip(cells, outputs), start=1):
        cell.outputs = [nbformat.from_dict(dict(o)) for o in outs]
        cell.execution_count = count
        for out in cell.outputs:
            if out.output_type == "execute_result":
                out.execution_count = count
    CACHE.mkdir(parents=True, exist_ok=True)
    with open(CACHE.parent / ".jupyter_cache.lock", "w") as lock:  # xdist workers share one SQLite file
        fcntl.flock(lock, fcntl.LOCK_EX)
        get_cache(str(CACHE)).cache_notebook_bundle(
            CacheBundleIn(nb, str(path), data={"execution_seconds": seconds}), check_validity=False, overwrite=True
        )


# --- the time table, on the controller (the only process that sees every worker's reports) --------


def pytest_runtest_logreport(report):
    name = _report_notebook(report)
    if name is not None:
        _times[name] += report.duration


def _pass_once_more(notebooks: list[str]) -> dict[str, float]:
    """Each notebook's time in one more serial pass, in a fresh pytest process (this file's hooks time it)."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "times.json"
        command = [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:xdist",
            "-p",
            "no:cacheprovider",
            f"--rootdir={ROOT}",
        ]
        command += ["--nbval-lax", "--nbval-current-env", "--nbval-cell-timeout=900", *notebooks]
        subprocess.run(command, cwd=ROOT, env={**os.environ, TIMES_OUT: str(out)}, check=True, capture_output=True)
        return json.loads(out.read_text())


def _times_of(config) -> dict[str, float]:
    """Each notebook's time: the least of its runs with --bench-book, else its one run."""
    return getattr(config, "_best", None) or dict(_times)


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    if not _times:
        return
    tr = terminalreporter
    times, runs = _times_of(config), getattr(config, "_runs", {})
    floor = times.get(FLOOR)
    book = {n: t for n, t in times.items() if n != FLOOR}
    width = max(len(n) for n in times) + 2

    def least_of(name: str) -> str:
        return f"   (least of {', '.join(f'{t:.1f}' for t in runs[name])} s)" if name in runs else ""

    tr.section("notebook execution times")
    if not floor:
        for name, seconds in sorted(book.items()):
            tr.write_line(f"{name:<{width}}{seconds:7.1f} s")
        tr.write_line(f"(no ratios: run {FLOOR} in the same session)")
        return
    workers = getattr(config.option, "numprocesses", None) or 1
    tr.write_line(f"{'':<{width}}{'time':>9}  {'÷ floor':>8}   (target ≤ {NOTEBOOK_TARGET:g})")
    tr.write_line(f"{FLOOR:<{width}}{floor:7.1f} s  {1.0:8.2f}{least_of(FLOOR)}")
    for name, seconds in sorted(book.items()):
        ratio = seconds / floor
        flag = "  over the target" if ratio > NOTEBOOK_TARGET else ""
        tr.write_line(f"{name:<{width}}{seconds:7.1f} s  {ratio:8.2f}{flag}{least_of(name)}")
    n, total = len(book), sum(book.values())
    if not n:  # the floor notebook alone
        return
    tr.write_line(
        f"{'book, summed':<{width}}{total:7.1f} s  {total / (n * floor):8.2f} × (n × floor), n = {n}"
        f"   (target ≤ {BOOK_TARGET:g}, serial)"
    )
    if workers not in (0, 1):
        wall = time.perf_counter() - _session_start
        tr.write_line(
            f"{'wall time of the run':<{width}}{wall:7.1f} s  {wall / (n * floor):8.2f} × (n × floor)"
            f"   (target ≤ 1, on {workers} workers)"
        )
        tr.write_line(
            f"Run on {workers} workers: each time, the floor's too, includes waiting for the shared cores; "
            "`make bench-book` measures serially."
        )
    verdict = getattr(config, "_bench_verdict", None)
    if verdict:
        tr.write_line(verdict)


def pytest_sessionfinish(session, exitstatus):
    """With --bench-book: record the times and fail the run when a target is missed."""
    config = session.config
    if os.environ.get(TIMES_OUT):  # a further pass, for the run that started it
        Path(os.environ[TIMES_OUT]).write_text(json.dumps(dict(_times)))
        return
    if hasattr(config, "workerinput") or not config.getoption("bench_book") or FLOOR not in _times or exitstatus != 0:
        return
    second = _pass_once_more([FLOOR, *sorted(n for n in _times if n != FLOOR)])
    last = _pass_once_more([FLOOR])
    config._runs = {n: [t, second[n]] for n, t in _times.items()}
    config._runs[FLOOR].append(last[FLOOR])
    config._best = {n: min(runs) for n, runs in config._runs.items()}
    floor = config._best[FLOOR]
    book = {n: t for n, t in config._best.items() if n != FLOOR}
    over = [n for n, t in sorted(book.items()) if t / floor > NOTEBOOK_TARGET]
    book_ratio = sum(book.values()) / (len(book) * floor)
    TIMES_FILE.write_text(
        json.dumps(
            {
                "what": f"seconds per notebook under nbval, serial, written by `make bench-book`; floor = {FLOOR}",
                "floor": round(floor, 2),
                "seconds": {k: round(v, 2) for k, v in sorted(book.items())},
            },
            indent=1,
        )
        + "\n"
    )
    if over or book_ratio > BOOK_TARGET:
        config._bench_verdict = (
            f"TARGETS MISSED: {', '.join(over) or 'the book total'} (times written to {TIMES_FILE.name})"
        )
        session.exitstatus = 1
    else:
        config._bench_verdict = f"Targets met (times written to {TIMES_FILE.relative_to(ROOT)})."
