"""Fixtures for the router tests (no Ray, no network)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

# Plain `pytest` (unlike `python -m pytest`) does not put the repo root on sys.path.
REPO_ROOT = Path(__file__).resolve().parents[2]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from routing import Router, load_router  # noqa: E402


@pytest.fixture(scope="session")
def classifier() -> Router:
    """The shipped classifier with default policy."""
    return load_router("classifier")


@pytest.fixture(scope="session")
def keywords() -> Router:
    """The article's keyword baseline."""
    return load_router("keywords")
