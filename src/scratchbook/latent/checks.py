"""Checkers for the exercises of Part III: call one with your answer to see whether it is right."""

from __future__ import annotations

import numpy as np

from scratchbook.book import report_check

__all__: list[str] = []
