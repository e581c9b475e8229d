"""The dependency policy, checked by ``make lint``: every range is declared once, in pyproject.toml, with an
upper bound (a new major release cannot break an install); requirements.txt holds exact pins only.

Prints each requirement that breaks the policy and exits with status 1 if there is one.
"""

from __future__ import annotations

import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def policy_problems(pyproject: str, requirements: str) -> list[str]:
    """The requirements of ``pyproject`` (TOML) and ``requirements`` (pip's format) that break the policy."""
    project = tomllib.loads(pyproject)["project"]
    declared = project["dependencies"] + [r for extra in project["optional-dependencies"].values() for r in extra]
    pins = [line.split("#")[0].strip() for line in requirements.splitlines()]
    pins = [p for p in pins if p]
    problems = [f"no upper bound: {r}" for r in declared if "==" not in r and "<" not in r]
    return problems + [
        f"requirements.txt holds exact pins only (ranges go in pyproject.toml): {p}" for p in pins if "==" not in p
    ]


def main() -> int:
    problems = policy_problems((ROOT / "pyproject.toml").read_text(), (ROOT / "requirements.txt").read_text())
    for problem in problems:
        print(problem)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
