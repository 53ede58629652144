"""The Grafana dashboard: committed JSON is what cluster.dashboard generates, every query reads
only metrics the graph exports (seethink's own, Ray Serve's, vLLM's through Ray Serve LLM), and
it imports beside Ray's own dashboards."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

from cluster import dashboard as dash

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def committed() -> dict:
    return json.loads(dash.DASHBOARD.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def exported() -> set[str]:
    return dash.exported_names()


def _targets(d: dict) -> list[tuple[str, dict]]:
    return [(p["title"], t) for p in d["panels"] for t in p.get("targets", [])]


def test_committed_json_is_generated() -> None:
    assert dash.DASHBOARD.read_text(encoding="utf-8") == dash.render(), (
        "run python -m cluster.dashboard"
    )
    assert dash.main(["--check"]) == 0


def test_every_query_reads_only_exported_metrics(committed: dict, exported: set[str]) -> None:
    assert dash.unknown_metrics(committed, exported) == {}
    for title, t in _targets(committed):
        assert dash.query_metrics(t["expr"]), f"{title}: {t['expr']} reads no metric"


def test_an_unknown_metric_is_caught(committed: dict, exported: set[str]) -> None:
    broken = json.loads(json.dumps(committed))
    t = broken["panels"][1]["targets"][0]
    t["expr"] = t["expr"].replace("ray_seethink_requests_total", "ray_seethink_request_total")
    assert dash.unknown_metrics(broken, exported) == {
        broken["panels"][1]["title"]: {"ray_seethink_request_total"}
    }


def test_catalogue_reads_the_definitions() -> None:
    found = dash.defined_metrics()
    # Every ray.serve.metrics name in the graph's own code is in the catalogue, with its kind.
    src = "\n".join(p.read_text() for p in (ROOT / "deployments").glob("*.py"))
    for name, kind in found["seethink"].items():
        assert f'"{name}"' in src
        assert {"counter": "Counter(", "gauge": "Gauge(", "histogram": "Histogram("}[kind] in src
    assert found["seethink"]["seethink_stage_latency_ms"] == "histogram"
    assert found["serve"]["serve_deployment_queued_queries"] == "gauge"
    assert found["vllm"]["vllm:generation_tokens"] == "counter"
    names = dash.exported_names()
    assert {"ray_seethink_requests_total", "ray_seethink_stage_latency_ms_bucket"} <= names
    assert "ray_vllm_generation_tokens_total" in names
    assert "ray_seethink_requests" not in names  # a counter is read as _total


def test_query_metrics_ignores_labels_and_functions() -> None:
    expr = (
        'histogram_quantile(0.99, sum by (le, stage) (rate(ray_x_bucket{application=~"ray_y",'
        ' stage="a"}[$__rate_interval]))) / clamp_min(sum(ray_z), 1e-9)'
    )
    assert dash.query_metrics(expr) == {"ray_x_bucket", "ray_z"}


def test_covers_the_figures_to_tune_from(committed: dict) -> None:
    exprs = " ".join(t["expr"] for _, t in _targets(committed))
    for needed in (
        "sum by (route) (rate(ray_seethink_requests_total",  # route mix
        "ray_seethink_cache_hits_total",  # cache hit rate
        "ray_seethink_fallbacks_total",  # degraded share
        "histogram_quantile(0.5, sum by (le, stage) (rate(ray_seethink_stage_latency_ms_bucket",
        "histogram_quantile(0.99, sum by (le, stage) (rate(ray_seethink_stage_latency_ms_bucket",
        "ray_serve_deployment_replica_healthy",  # replicas
        "ray_serve_deployment_queued_queries",  # queue depth
        "ray_vllm_generation_tokens_total",  # tokens/s
    ):
        assert needed in exprs, needed


def test_imports_beside_rays_dashboards(committed: dict) -> None:
    spec = importlib.util.find_spec("ray")
    boards = Path(spec.origin).parent / "dashboard" / "modules" / "metrics" / "dashboards"
    ray_uids = {
        line.split('"')[1]
        for f in boards.glob("*_panels.py")
        for line in f.read_text().splitlines()
        if "default_uid=" in line
    }
    assert "rayServeDashboard" in ray_uids
    assert committed["uid"] not in ray_uids
    (ds,) = [v for v in committed["templating"]["list"] if v["type"] == "datasource"]
    assert ds["query"] == "prometheus"
    ids = [p["id"] for p in committed["panels"]]
    assert len(ids) == len(set(ids))
    for p in committed["panels"]:
        g = p["gridPos"]
        assert g["x"] + g["w"] <= 24
        if p["type"] != "row":
            assert p["datasource"]["uid"] == "${" + ds["name"] + "}"
            assert all(t["datasource"]["uid"] == p["datasource"]["uid"] for t in p["targets"])
