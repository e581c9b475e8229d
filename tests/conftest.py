"""Fixtures shared by several test files."""

import pytest
from sklearn.model_selection import train_test_split

from scratchbook.datasets import load_standardized


@pytest.fixture(scope="module")
def wine_all():
    """Standardised wine data, all of it: X, y."""
    data = load_standardized("wine")
    return data.data, data.target


@pytest.fixture(scope="module")
def wine(wine_all):
    """Standardised wine data, split 60/40 and stratified: X_train, X_test, y_train, y_test."""
    X, y = wine_all
    return train_test_split(X, y, test_size=0.4, stratify=y, random_state=0)
