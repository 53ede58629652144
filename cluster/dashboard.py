"""The seethink Grafana dashboard, generated here and committed as JSON, and the catalogue of
metric names the graph exports to Prometheus (found in the source that defines them).

    python -m cluster.dashboard            # rewrite cluster/grafana/seethink-dashboard.json
    python -m cluster.dashboard --check    # exit 1 if the JSON is stale or names an unknown metric

Import the JSON into the Grafana that Ray's dashboards use (Dashboards -> Import); it asks for
nothing: the Prometheus data source is the ``datasource`` variable, as in Ray's own dashboards.

How Ray names metrics in Prometheus: a ``ray.serve.metrics``/``ray.util.metrics`` metric NAME is
exported as ``ray_NAME``; counters gain ``_total``, histograms ``_bucket``/``_sum``/``_count``.
vLLM's metrics reach Ray through Ray Serve LLM (``log_engine_metrics=True``: vLLM's
``RayPrometheusStatLogger``), with ``:`` replaced by ``_``: ``vllm:generation_tokens`` is
``ray_vllm_generation_tokens_total``.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DASHBOARD = ROOT / "cluster" / "grafana" / "seethink-dashboard.json"
UID = "seethinkDashboard"
RATE = "$__rate_interval"
APP = 'application=~"$application"'

# ---- what the graph exports ------------------------------------------------------------------

_RAY_METRIC = re.compile(
    r"\b(Counter|Gauge|Histogram)\(\s*(?:name\s*=\s*)?[\"']([a-zA-Z_][a-zA-Z0-9_]*)[\"']"
)
_VLLM_METRIC = re.compile(r"_(counter|gauge|histogram)_cls\(\s*name=\"(vllm:[a-z0-9_:]+)\"")


def _scan(files: list[Path], pattern: re.Pattern, prefix: str = "") -> dict[str, str]:
    out: dict[str, str] = {}
    for f in files:
        for kind, name in pattern.findall(f.read_text(encoding="utf-8")):
            if name.startswith(prefix):
                out[name] = kind.lower()
    return out


def _prom_names(name: str, kind: str) -> set[str]:
    base = "ray_" + re.sub(r"[^a-zA-Z0-9_]", "_", name)
    if kind == "counter":
        return {base if base.endswith("_total") else base + "_total"}
    if kind == "histogram":
        return {base + s for s in ("_bucket", "_sum", "_count")}
    return {base}


def _package_dir(name: str) -> Path:
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.origin:
        raise ModuleNotFoundError(f"{name} is not installed; it defines metrics the graph exports")
    return Path(spec.origin).parent


def defined_metrics() -> dict[str, dict[str, str]]:
    """Metric name -> kind, by who defines it: seethink, Ray Serve, vLLM (as installed)."""
    # find_spec locates the installed packages without importing them (vLLM takes seconds).
    serve_dir = _package_dir("ray") / "serve" / "_private"
    vllm_dir = _package_dir("vllm") / "v1" / "metrics"
    own = [*(ROOT / "deployments").glob("*.py"), *(ROOT / "seethink").rglob("*.py")]
    return {
        "seethink": _scan(own, _RAY_METRIC, "seethink_"),
        "serve": _scan(sorted(serve_dir.rglob("*.py")), _RAY_METRIC, "serve_"),
        "vllm": _scan(sorted(vllm_dir.glob("*.py")), _VLLM_METRIC),
    }


def exported_names() -> set[str]:
    """Every Prometheus series name the graph can export."""
    out: set[str] = set()
    for group in defined_metrics().values():
        for name, kind in group.items():
            out |= _prom_names(name, kind)
    return out


_BRACES = re.compile(r"\{[^{}]*\}")
_METRIC_TOKEN = re.compile(r"\bray_[a-zA-Z0-9_]+")


def query_metrics(expr: str) -> set[str]:
    """The metric names a PromQL expression reads (label matchers stripped first)."""
    return set(_METRIC_TOKEN.findall(_BRACES.sub("", expr)))


# ---- the dashboard ---------------------------------------------------------------------------


def _target(expr: str, legend: str, ref: str) -> dict:
    return {
        "datasource": {"type": "prometheus", "uid": "${datasource}"},
        "expr": expr,
        "legendFormat": legend,
        "refId": ref,
    }


def _panel(title: str, desc: str, unit: str, targets: list[tuple[str, str]]) -> dict:
    return {
        "type": "timeseries",
        "title": title,
        "description": desc,
        "datasource": {"type": "prometheus", "uid": "${datasource}"},
        "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
        "options": {
            "legend": {"displayMode": "table", "placement": "bottom", "calcs": ["mean", "max"]}
        },
        "targets": [_target(e, leg, chr(ord("A") + i)) for i, (e, leg) in enumerate(targets)],
    }


def _rate(metric: str, by: str = "", sel: str = APP) -> str:
    sel = f"{{{sel}}}" if sel else ""
    group = f" by ({by})" if by else ""
    return f"sum{group} (rate({metric}{sel}[{RATE}]))"


def _quantile(q: float, metric: str, by: str) -> str:
    return f"histogram_quantile({q}, {_rate(metric, f'le, {by}')})"


PANELS: list[tuple[str, list[dict]]] = [
    (
        "Traffic",
        [
            _panel(
                "Requests/s by route",
                "Route mix: direct (vision only), cascade (vision then LLM), caption. A cascade "
                "share that grows means more LLM replicas (llm max_replicas, llm_h100 nodes).",
                "reqps",
                [(_rate("ray_seethink_requests_total", "route"), "{{route}}")],
            ),
            _panel(
                "Degraded and needs-review share",
                "Share of answers that fell back to vision only (LLM slow, failing or at zero "
                "replicas) and share sent to the review queue.",
                "percentunit",
                [
                    (
                        f"{_rate('ray_seethink_fallbacks_total')} / "
                        f"clamp_min({_rate('ray_seethink_requests_total')}, 1e-9)",
                        "degraded",
                    ),
                    (
                        f"{_rate('ray_seethink_needs_review_total')} / "
                        f"clamp_min({_rate('ray_seethink_requests_total')}, 1e-9)",
                        "needs review",
                    ),
                ],
            ),
            _panel(
                "Caption cache hit rate",
                "Hits over lookups. Every hit is a vision call saved: the planner's "
                "--cache-hit-rate.",
                "percentunit",
                [
                    (
                        f"{_rate('ray_seethink_cache_hits_total')} / clamp_min("
                        f"{_rate('ray_seethink_cache_hits_total')} + "
                        f"{_rate('ray_seethink_cache_misses_total')}, 1e-9)",
                        "hit rate",
                    ),
                    (f"sum (ray_seethink_cache_entries{{{APP}}})", "entries"),
                ],
            ),
        ],
    ),
    (
        "Latency",
        [
            _panel(
                "Stage latency p50",
                "Per pipeline stage (seethink_stage_latency_ms).",
                "ms",
                [(_quantile(0.5, "ray_seethink_stage_latency_ms_bucket", "stage"), "{{stage}}")],
            ),
            _panel(
                "Stage latency p99",
                "Per pipeline stage. A vision p99 that climbs with load: lower "
                "target_ongoing_requests or add vision replicas (GPU shares).",
                "ms",
                [(_quantile(0.99, "ray_seethink_stage_latency_ms_bucket", "stage"), "{{stage}}")],
            ),
            _panel(
                "Replica processing latency p99 by deployment",
                "Serve's own view, inside each replica.",
                "ms",
                [
                    (
                        _quantile(
                            0.99, "ray_serve_deployment_processing_latency_ms_bucket", "deployment"
                        ),
                        "{{deployment}}",
                    )
                ],
            ),
        ],
    ),
    (
        "Capacity (deployment = node type: Vision on vision_*, LLM on llm_*, the rest on head)",
        [
            _panel(
                "Healthy replicas by deployment",
                "Replicas Serve reports healthy. LLM at 0 means cascades degrade until a node "
                "of its type starts.",
                "short",
                [
                    (
                        f"sum by (deployment) (ray_serve_deployment_replica_healthy{{{APP}}})",
                        "{{deployment}}",
                    ),
                    (
                        f"max by (deployment) (ray_serve_autoscaling_target_replicas{{{APP}}})",
                        "{{deployment}} target",
                    ),
                ],
            ),
            _panel(
                "Queued requests by deployment",
                "Requests waiting in callers for a replica slot (max_ongoing_requests reached). "
                "Sustained queueing: raise max_replicas or the per-replica limit.",
                "short",
                [
                    (
                        f"sum by (deployment) (ray_serve_deployment_queued_queries{{{APP}}})",
                        "{{deployment}}",
                    )
                ],
            ),
            _panel(
                "Ongoing requests per replica",
                "Compare with autoscaling target_ongoing_requests.",
                "short",
                [
                    (
                        f"avg by (deployment) (ray_serve_replica_processing_queries{{{APP}}})",
                        "{{deployment}}",
                    )
                ],
            ),
        ],
    ),
    (
        "LLM engine (vLLM)",
        [
            _panel(
                "Tokens/s",
                "Generated and prompt tokens per second over all LLM replicas (vLLM's metrics "
                "carry model_name and WorkerId, not the Serve application).",
                "short",
                [
                    (_rate("ray_vllm_generation_tokens_total", sel=""), "generated"),
                    (_rate("ray_vllm_prompt_tokens_total", sel=""), "prompt"),
                ],
            ),
            _panel(
                "Engine queue",
                "Requests running and waiting in vLLM. Waiting > 0 for long: the KV cache or "
                "max_num_seqs is the limit (gpu_memory_utilization, memory_gib).",
                "short",
                [
                    ("sum (ray_vllm_num_requests_running)", "running"),
                    ("sum (ray_vllm_num_requests_waiting)", "waiting"),
                ],
            ),
            _panel(
                "KV cache usage and time to first token p99",
                "KV cache use near 1 with waiting requests: give the LLM more of its card.",
                "short",
                [
                    ("max (ray_vllm_kv_cache_usage_perc)", "KV cache usage"),
                    (
                        f"histogram_quantile(0.99, "
                        f"{_rate('ray_vllm_time_to_first_token_seconds_bucket', 'le', sel='')})",
                        "TTFT p99 (s)",
                    ),
                ],
            ),
        ],
    ),
]


def _templating() -> dict:
    return {
        "list": [
            {
                "name": "datasource",
                "type": "datasource",
                "query": "prometheus",
                "description": "The Prometheus that scrapes Ray (the one Ray's dashboards use).",
                "hide": 0,
                "current": {},
                "options": [],
                "refresh": 1,
            },
            {
                "name": "application",
                "type": "query",
                "datasource": {"type": "prometheus", "uid": "${datasource}"},
                "definition": "label_values(ray_serve_deployment_replica_healthy, application)",
                "query": {
                    "query": "label_values(ray_serve_deployment_replica_healthy, application)",
                    "refId": "StandardVariableQuery",
                },
                "includeAll": True,
                "allValue": ".*",
                "multi": False,
                "current": {},
                "options": [],
                "refresh": 2,
                "hide": 0,
            },
        ]
    }


def build() -> dict:
    """The dashboard as Grafana's JSON model."""
    panels: list[dict] = []
    pid, y = 1, 0
    for row_title, row in PANELS:
        panels.append(
            {
                "type": "row",
                "title": row_title,
                "id": pid,
                "collapsed": False,
                "panels": [],
                "gridPos": {"h": 1, "w": 24, "x": 0, "y": y},
            }
        )
        pid, y = pid + 1, y + 1
        for k, p in enumerate(row):
            panels.append({**p, "id": pid, "gridPos": {"h": 8, "w": 8, "x": 8 * (k % 3), "y": y}})
            pid += 1
        y += 8
    return {
        "uid": UID,
        "title": "seethink",
        "description": "seethink on Ray Serve: routes, cache, degraded answers, stage latency, "
        "replicas and queues per deployment, vLLM tokens/s (cluster/dashboard.py).",
        "tags": ["seethink", "ray", "serve"],
        "editable": True,
        "graphTooltip": 1,
        "refresh": "10s",
        "schemaVersion": 39,
        "time": {"from": "now-30m", "to": "now"},
        "timepicker": {},
        "timezone": "",
        "annotations": {"list": []},
        "links": [],
        "templating": _templating(),
        "panels": panels,
        "version": 1,
    }


def render() -> str:
    return json.dumps(build(), indent=2, ensure_ascii=False) + "\n"


def unknown_metrics(dashboard: dict, known: set[str]) -> dict[str, set[str]]:
    """Panel title -> metric names its queries read that nothing exports."""
    bad: dict[str, set[str]] = {}
    for p in dashboard["panels"]:
        for t in p.get("targets", []):
            missing = query_metrics(t["expr"]) - known
            if missing:
                bad.setdefault(p["title"], set()).update(missing)
    return bad


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m cluster.dashboard", description=__doc__.split("\n")[0]
    )
    ap.add_argument("--check", action="store_true", help="exit 1 if the committed JSON is stale")
    args = ap.parse_args(argv)
    bad = unknown_metrics(build(), exported_names())
    for title, names in bad.items():
        print(f"panel {title!r} reads metrics nothing exports: {sorted(names)}", file=sys.stderr)
    if args.check:
        stale = not DASHBOARD.exists() or DASHBOARD.read_text(encoding="utf-8") != render()
        if stale:
            print(f"{DASHBOARD} is stale: run python -m cluster.dashboard", file=sys.stderr)
        return 1 if stale or bad else 0
    if bad:
        return 1
    DASHBOARD.parent.mkdir(parents=True, exist_ok=True)
    DASHBOARD.write_text(render(), encoding="utf-8")
    print(f"wrote {DASHBOARD}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
