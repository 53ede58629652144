"""The joint regression set against the deployed graph, before and after a model swap.

Runs last in this folder (it redeploys the vision node, then puts the original back).
"""

from __future__ import annotations

import pytest

from seethink import regression
from seethink.checkpoints import checkpoint_version, resolve_model_path
from tests.harness import deploy

pytestmark = pytest.mark.slow


def test_replay_is_stable_and_a_vision_swap_is_reported(graph, tmp_path):
    cases = regression.load_cases()
    baseline = regression.replay(graph.url, cases)
    assert set(baseline["models"]) == {"router", "vision", "llm"}
    again = regression.replay(graph.url, cases)
    same = regression.compare(baseline, again)
    assert same["changed"] == {} and same["models"] == {}, regression.report(same)

    deploy(graph, vision={"model": "tiny:glm4v-b"})
    try:
        swapped = regression.replay(graph.url, cases)
    finally:
        deploy(graph)
    diff = regression.compare(baseline, swapped)
    assert diff["models"]["vision"]["now"]["version"] == checkpoint_version(
        resolve_model_path("tiny:glm4v-b")
    )
    assert "llm" not in diff["models"]
    changed_fields = {f for fields in diff["changed"].values() for f in fields}
    assert {"caption", "text"} & changed_fields, regression.report(diff)
    text = regression.report(diff)
    assert "model vision:" in text and f"of {len(cases)} cases changed" in text
