"""Fixtures shared by several test files."""

import pytest
from sklearn.model_selection import train_test_split

from scratchbook.datasets import load_standardized


@pytest.fixture(scope="module")
def wine():
    """Standardised wine data, split 60/40 and stratified: X_train, X_test, y_train, y_test."""
    data = load_standardized("wine")
    return train_test_split(data.data, data.target, test_size=0.4, stratify=data.target, random_state=0)
