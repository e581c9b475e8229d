"""Check a release as a user gets it: the built wheel, installed into a clean virtual environment.

    python scripts/release_check.py [--torch-index URL]     # `make release-check`

1. Builds the sdist and the wheel into ``_build/release/dist`` (``python -m build``, no isolation).
2. Creates ``_build/release/venv`` from nothing, installs the torch pin of ``requirements.txt``, then
   the *wheel* with the extras ``book,docs,test`` (not the source tree).
3. Checks that ``import scratchbook`` in that environment loads the installed wheel, at the version of
   ``pyproject.toml``, and that the sdist carries every module of the package.
4. Runs the README's Python example in an empty folder, and the package's unit tests (``tests/``, not
   the browser test) with that environment's interpreter, so that they import the installed package.

Takes about three minutes on two cores (most of it installing and testing). Exits non-zero on any
failure.
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "_build" / "release"


def run(*cmd: str | Path, cwd: Path = ROOT) -> str:
    """Run a command, echo it, fail loudly; return its standard output."""
    print("$", " ".join(str(c) for c in cmd), flush=True)
    done = subprocess.run([str(c) for c in cmd], cwd=cwd, text=True, stdout=subprocess.PIPE)
    print(done.stdout, end="")
    if done.returncode:
        sys.exit(f"release check failed: {cmd[0]} exited with {done.returncode}")
    return done.stdout


def readme_examples() -> list[str]:
    """The ```python blocks of README.md."""
    return re.findall(r"```python\n(.*?)```", (ROOT / "README.md").read_text(), re.S)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--torch-index", default="", help="an extra index for torch's CPU build")
    args = parser.parse_args(argv)
    version = re.search(r'__version__ = "([^"]+)"', (ROOT / "src/scratchbook/__init__.py").read_text()).group(1)
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]

    shutil.rmtree(OUT, ignore_errors=True)
    run(sys.executable, "-m", "build", "--no-isolation", "--sdist", "--wheel", "--outdir", OUT / "dist", ROOT)
    wheel = next((OUT / "dist").glob(f"{project['name']}-{version}-*.whl"))
    sdist = next((OUT / "dist").glob(f"{project['name']}-{version}.tar.gz"))
    modules = {p.relative_to(ROOT).as_posix() for p in (ROOT / "src").rglob("*.py")}
    with tarfile.open(sdist) as tar:
        shipped = {n.split("/", 1)[1] for n in tar.getnames() if n.endswith(".py")}
    missing = sorted(modules - shipped)
    if missing:
        sys.exit(f"release check failed: the sdist lacks {missing}")

    run(sys.executable, "-m", "venv", OUT / "venv")
    python = OUT / "venv" / "bin" / "python"
    pip = [python, "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    pip += ["--extra-index-url", args.torch_index] if args.torch_index else []
    run(*pip, "-r", ROOT / "requirements.txt")
    run(*pip, f"{wheel}[book,docs,test]")

    where = run(python, "-c", "import scratchbook; print(scratchbook.__version__, scratchbook.__file__)").split()
    if where[0] != version or not Path(where[1]).resolve().is_relative_to((OUT / "venv").resolve()):
        sys.exit(f"release check failed: scratchbook {where} is not the installed wheel {version}")
    with tempfile.TemporaryDirectory() as empty:
        for i, example in enumerate(readme_examples()):
            script = Path(empty) / f"readme_example_{i}.py"
            script.write_text(example)
            run(python, script, cwd=Path(empty))
    run(
        python,
        "-m",
        "pytest",
        "-q",
        "-n",
        "auto",
        "--dist",
        "loadfile",
        "-p",
        "no:cacheprovider",
        "tests",
        "--ignore=tests/site",
    )
    print(f"release check passed: {wheel.name} and {sdist.name}")


if __name__ == "__main__":
    main()
