"""The joint regression set against the deployed graph, before and after a model swap.

Runs last in this folder (it redeploys the vision node, then puts the original back).
"""

from __future__ import annotations

import pytest
from ray import serve

from seethink import regression
from seethink.checkpoints import checkpoint_version, resolve_model_path

pytestmark = pytest.mark.slow


def _redeploy(vision_model: str, graph) -> None:
    from graph import build_app
    from tests.conftest import GRAPH_OVERRIDES

    over = {
        **GRAPH_OVERRIDES,
        "arbiter": {**GRAPH_OVERRIDES["arbiter"], "review_db": graph.review_db},
    }
    over["vision"] = {"model": vision_model}
    serve.run(build_app(over), name=graph.app, route_prefix="/")


def test_replay_is_stable_and_a_vision_swap_is_reported(graph, tmp_path):
    cases = regression.load_cases()
    baseline = regression.replay(graph.url, cases)
    assert set(baseline["models"]) == {"router", "vision", "llm"}
    again = regression.replay(graph.url, cases)
    same = regression.compare(baseline, again)
    assert same["changed"] == {} and same["models"] == {}, regression.report(same)

    _redeploy("tiny:glm4v-b", graph)
    try:
        swapped = regression.replay(graph.url, cases)
    finally:
        _redeploy("tiny:glm4v", graph)
    diff = regression.compare(baseline, swapped)
    assert diff["models"]["vision"]["now"]["version"] == checkpoint_version(
        resolve_model_path("tiny:glm4v-b")
    )
    assert "llm" not in diff["models"]
    changed_fields = {f for fields in diff["changed"].values() for f in fields}
    assert {"caption", "text"} & changed_fields, regression.report(diff)
    text = regression.report(diff)
    assert "model vision:" in text and f"of {len(cases)} cases changed" in text
