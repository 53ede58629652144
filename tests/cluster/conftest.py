"""Fixtures for the cluster tests: pure Python, no Ray cluster, no network."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

# Plain `pytest` (unlike `python -m pytest`) does not put the repo root on sys.path.
REPO_ROOT = Path(__file__).resolve().parents[2]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))


@pytest.fixture(autouse=True)
def _no_seethink_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """A SEETHINK_* variable in the caller's shell would change what every profile loads."""
    for name in list(os.environ):
        if name.startswith("SEETHINK_"):
            monkeypatch.delenv(name)
