"""The graph on several real Ray nodes on this host, with the `cluster-local` profile.

Each scenario runs tests/cluster/multinode.py in its own process (own Ray temp dir and ports;
it stops only what it started) and the tests assert on what it observed:

- static (ray.cluster_utils.Cluster: a CPU head, two vision_l40s nodes, one llm_h100 node, and
  a spare vision node for the node-loss test): placement, Prometheus metrics of a known traffic
  mix, the review store, node loss under load.
- autoscale (``ray start --head --autoscaling-config`` with the fake_multinode provider, Ray's
  real autoscaler): the LLM from zero, degraded answers with a notice until an LLM node is up,
  full cascades within a bound, then the replica and the node go away.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from cluster.gen import node_types
from cluster.planner import pack
from seethink.config import load_config

# isolated: starts its own Ray; runs before the session graph boots (tests/conftest.py).
pytestmark = [pytest.mark.slow, pytest.mark.isolated]

HARNESS = Path(__file__).with_name("multinode.py")
LOCAL = load_config("cluster-local")
TYPES = node_types("cluster-local")


def _run(scenario: str, timeout_s: int) -> dict:
    """Run one scenario; on timeout kill its process group (its Ray nodes are in it)."""
    proc = subprocess.Popen(
        [sys.executable, str(HARNESS), scenario],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=dict(os.environ),
        start_new_session=True,
    )
    try:
        stdout, stderr = proc.communicate(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        stdout, stderr = proc.communicate()
        pytest.fail(f"{scenario} ran past {timeout_s}s:\n{stderr[-4000:]}")
    lines = [ln for ln in stdout.splitlines() if ln.startswith("RESULT ")]
    assert lines, f"no result (rc={proc.returncode}):\n{stdout[-2000:]}\n{stderr[-4000:]}"
    out = json.loads(lines[-1][len("RESULT ") :])
    out["log"] = stderr[-6000:]
    return out


@pytest.fixture(scope="module")
def static() -> dict:
    out = _run("static", 900)
    assert "error" not in out, f"{out['error']}\n{out.get('traceback')}\n{out['log']}"
    return out


@pytest.fixture(scope="module")
def autoscale() -> dict:
    out = _run("autoscale", 900)
    assert "error" not in out, f"{out['error']}\n{out.get('traceback')}\n{out['log']}"
    return out


def _placement(p: dict) -> tuple[dict, list[dict]]:
    return p["nodes"], p["replicas"]


# ---- placement ------------------------------------------------------------------------------


def test_each_replica_lands_on_the_node_type_its_profile_names(static: dict) -> None:
    nodes, reps = _placement(static["placement"])
    assert Counter(n["type"] for n in nodes.values()) == {
        "head": 1,
        "vision_l40s": 2,
        "llm_h100": 1,
    }
    by_dep: dict[str, set[str]] = {}
    for r in reps:
        by_dep.setdefault(r["deployment"], set()).add(r["node_type"])
    # the profile's accelerator types name the node types; everything else is on the head
    assert by_dep.pop("Vision") == {f"vision_{LOCAL.vision.accelerator_type.lower()}"}
    assert by_dep.pop("LLM") == {f"llm_{LOCAL.llm.accelerator_type.lower()}"}
    assert {"Ingress", "Router", "ReviewQueue"} <= set(by_dep)
    assert by_dep == {d: {"head"} for d in by_dep}


def test_cpu_only_head_holds_no_model(static: dict) -> None:
    nodes, reps = _placement(static["placement"])
    head = [nid for nid, n in nodes.items() if n["type"] == "head"]
    assert "GPU" not in nodes[head[0]]["resources"] or nodes[head[0]]["resources"]["GPU"] == 0
    assert not [r for r in reps if r["node_id"] in head and r["deployment"] in ("Vision", "LLM")]


def test_fractional_shares_pack_as_the_planner_says(static: dict) -> None:
    nodes, reps = _placement(static["placement"])
    per_node = Counter(r["node_id"] for r in reps if r["deployment"] == "Vision")
    share = LOCAL.vision.num_gpus
    for nid, count in per_node.items():
        gpus = nodes[nid]["resources"]["GPU"]
        assert count * share <= gpus + 1e-9, f"{count} x {share} on a {gpus}-GPU node"
    cards = sum(1 for n in nodes.values() if n["type"] == "vision_l40s")
    layout = pack(cards, {"vision": sum(per_node.values())}, {"vision": share})
    planned = sorted((card["vision"] for card in layout), reverse=True)
    assert sorted(per_node.values(), reverse=True) == planned == [2, 1]
    assert TYPES["vision_l40s"].replicas_per_node == 2


# ---- metrics ----------------------------------------------------------------------------------


def test_prometheus_has_the_mix_that_was_sent(static: dict) -> None:
    m = static["metrics"]
    assert "values" in m, m.get("error")
    got, want = m["values"], static["mix"]["expected"]
    assert all(r["status"] == 200 for r in static["mix"]["results"]), static["mix"]["results"]
    for key in ("direct", "cascade", "cache_hits", "cache_misses"):
        assert got[key] == want[key], (key, got, want)
    # every cascade answer is re-verified against a forced conflict: each goes to review
    cascade = [r for r in static["mix"]["results"] if r["kind"] != "direct"]
    assert got["needs_review"] == sum(1 for r in cascade if r["needs_review"]) + 1
    assert got["fallbacks"] == sum(1 for r in static["mix"]["results"] if r["degraded"])
    assert got["stage_count_vision"] >= want["direct"]


def test_dashboard_metrics_are_really_exported(static: dict) -> None:
    from cluster import dashboard

    names = set(static["metrics"]["names"])
    read = set()
    for p in dashboard.build()["panels"]:
        for t in p.get("targets", []):
            read |= dashboard.query_metrics(t["expr"])
    # names that only appear once something happens (a fallback, an autoscaling decision on an
    # autoscaled deployment, a queued request) may be absent after a clean run
    may_be_absent = {
        "ray_seethink_fallbacks_total",
        "ray_serve_deployment_queued_queries",
        "ray_serve_autoscaling_target_replicas",
        "ray_vllm_time_to_first_token_seconds_bucket",
    }
    missing = read - names - may_be_absent
    assert not missing, f"the dashboard reads names the cluster did not export: {sorted(missing)}"


# ---- review store -----------------------------------------------------------------------------


def test_review_store_keeps_every_case(static: dict) -> None:
    rev = static["review"]
    listed = {c["id"]: c for c in rev["listed"]}
    # cases the graph filed (vision replicas on two or three nodes answered those requests)
    assert len(rev["flagged"]) >= 4
    for r in rev["flagged"]:
        assert r["review_id"] in listed, (r, rev["source"])
        assert listed[r["review_id"]]["request_id"] == r["request_id"]
    # cases filed at the same time from a process on every node, into the one store
    from_nodes = rev["from_nodes"]
    assert {n["node_type"] for n in from_nodes} >= {"head", "vision_l40s", "llm_h100"}
    filed = [i for n in from_nodes for i in n["ids"]]
    assert len(filed) == len(set(filed)) >= 3 * len(from_nodes)
    assert set(filed) <= set(listed), set(filed) - set(listed)


# ---- node loss --------------------------------------------------------------------------------


def test_a_batch_runs_on_the_cluster_with_its_file_bytes_in_the_store(static: dict) -> None:
    b = static.get("batch")
    assert b, static.get("error")
    assert b["status"] == "completed", b
    assert b["counts"] == {"total": 4, "completed": 4, "failed": 0}, b
    assert b["custom_ids"] == [f"line-{i}" for i in range(4)] and b["status_codes"] == [200]
    # input and output bytes are rows of the store's database; no folder of files was made
    assert b["bytes_rows"] >= 2 and not b["files_dir_exists"], b


def test_node_loss_loses_no_request(static: dict) -> None:
    loss = static["node_loss"]
    results = loss["results"]
    during = [r for r in results if r["t"] >= loss["removed_at_t"]]
    assert len(during) >= 5, "the load must span the node loss"
    failed = [r for r in results if r["status"] != 200]
    assert not failed, f"{len(failed)} of {len(results)} requests failed: {failed[:5]}"


def test_node_loss_replicas_come_back_on_another_vision_node(static: dict) -> None:
    loss = static["node_loss"]
    assert "error" not in loss, loss.get("error")
    nodes, reps = _placement(loss["placement"])
    assert loss["victim"] not in nodes
    vision = [r for r in reps if r["deployment"] == "Vision"]
    assert len(vision) == static["vision_replicas"]
    assert {r["node_type"] for r in vision} == {"vision_l40s"}
    assert all(r["node_id"] != loss["victim"] for r in vision)
    assert loss["recovered_s"] < 420


def test_static_scenario_stops_what_it_started(static: dict) -> None:
    assert static["teardown"]["killed"] == [], static["teardown"]


# ---- autoscaling from zero (Ray's autoscaler, fake_multinode provider) -------------------------


def test_llm_scales_from_zero_with_degraded_answers_meanwhile(autoscale: dict) -> None:
    before = autoscale["before"]
    assert "llm_h100" not in before["nodes"], "no LLM node before the first request"
    assert before["states"].get("LLM", {}).get("RUNNING", 0) == 0
    answers = autoscale["answers"]
    assert all(a["status"] == 200 for a in answers), [a for a in answers if a["status"] != 200]
    first = answers[0]
    assert first["degraded"] and first["notice"], first
    full = [a for a in answers if not a["degraded"]]
    assert full, f"no full cascade within the bound: {answers[-3:]}\n{autoscale['log']}"
    assert full[0]["llm_nodes"] >= 1
    # once full, it stays full
    assert all(not a["degraded"] for a in answers[answers.index(full[0]) :])


def test_the_graph_was_deployed_with_serve_deploy_of_the_config_file(autoscale: dict) -> None:
    """As an operator deploys it: `serve deploy cluster/serve-cluster-local.yaml` through the
    head's dashboard, not serve.run from a driver."""
    assert autoscale.get("deploy", {}).get("rc") == 0, autoscale.get("error")
    deployed = autoscale["deployed_app_config"]
    config = deployed["config"]
    assert config["import_path"] == "graph:build_app"
    assert config["args"]["profile"] == "cluster-local"
    assert config["runtime_env"]["env_vars"]["TOKENIZERS_PARALLELISM"] == "false"


def test_llm_replica_then_node_go_away_after_the_downscale_delay(autoscale: dict) -> None:
    assert "replica_gone_s" in autoscale, autoscale["timeline"]
    assert autoscale["replica_gone_s"] >= autoscale["downscale_delay_s"] - 1
    assert "node_gone_s" in autoscale, autoscale["timeline"]
    assert autoscale["node_gone_s"] >= autoscale["replica_gone_s"]
    assert "llm_h100" not in autoscale["after"]["nodes"]
    assert "vision_l40s" in autoscale["after"]["nodes"], "vision (min 1) keeps its node"


def test_autoscale_scenario_stops_what_it_started(autoscale: dict) -> None:
    assert autoscale["teardown"]["left"] == [], autoscale["teardown"]
