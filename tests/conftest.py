"""Shared fixtures: the real graph (see tests/harness.py), booted once per test session."""

from __future__ import annotations

import pytest

from tests.harness import Graph, start_graph


def pytest_collection_modifyitems(config, items):
    """Tests marked ``isolated`` start their own Ray: run them before the shared graph boots."""
    items.sort(key=lambda item: item.get_closest_marker("isolated") is None)


@pytest.fixture(scope="session")
def graph():
    """Boot the real graph once; tear Ray down after the last test that used it."""
    import shutil
    from pathlib import Path

    import ray

    g = None
    try:
        g = start_graph()
        yield g
    finally:
        ray.shutdown()
        if g is not None:  # its review store, batch files and Ray's session directory
            shutil.rmtree(Path(g.review_db).parent, ignore_errors=True)


@pytest.fixture(scope="session")
def graph_url(graph: Graph) -> str:
    return graph.url
