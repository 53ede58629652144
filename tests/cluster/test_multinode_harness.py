"""The multi-node harness's own parts, without starting Ray: the autoscaler config it gives
`ray start --head` is valid for Ray's schema and has the cluster-local node types, and the
Prometheus text it reads is summed per label."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from cluster.gen import HEAD, node_types

_spec = importlib.util.spec_from_file_location(
    "multinode", Path(__file__).with_name("multinode.py")
)
multinode = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(multinode)


def test_autoscaler_config_is_valid_and_has_the_cluster_local_types() -> None:
    util = pytest.importorskip("ray.autoscaler._private.util")
    conf = multinode.autoscaler_config("10.0.0.1:25000", 0.25)
    util.validate_config(conf)
    assert conf["provider"]["type"] == "fake_multinode"
    assert conf["provider"]["gcs_address"] == "10.0.0.1:25000"
    types = node_types("cluster-local")
    nt = conf["available_node_types"]
    assert nt.pop("ray.head.default")["resources"] == types[HEAD].resources
    assert nt == {
        name: {
            "resources": t.resources,
            "node_config": {},
            "min_workers": 0,
            "max_workers": t.max_workers,
        }
        for name, t in types.items()
        if name != HEAD
    }
    assert conf["max_workers"] == sum(t.max_workers for t in types.values())


def test_metric_sum_matches_labels_and_sums_replicas() -> None:
    text = (
        "# HELP ray_seethink_requests_total Requests by route.\n"
        'ray_seethink_requests_total{route="direct",replica="a"} 2.0\n'
        'ray_seethink_requests_total{route="cascade",replica="a"} 5.0\n'
        'ray_seethink_requests_total{route="direct",replica="b"} 1.0\n'
        'ray_seethink_requests_totalx{route="direct"} 9.0\n'
    )
    assert multinode.metric_sum(text, "ray_seethink_requests_total", route="direct") == 3.0
    assert multinode.metric_sum(text, "ray_seethink_requests_total") == 8.0
    assert multinode.metric_names(text) == [
        "ray_seethink_requests_total",
        "ray_seethink_requests_totalx",
    ]


def test_node_type_of_reads_the_accelerator_resource() -> None:
    assert multinode.node_type_of({"CPU": 6.0}) == "head"
    assert multinode.node_type_of({"GPU": 1.0, "accelerator_type:L40S": 1.0}) == "vision_l40s"
    assert multinode.node_type_of({"GPU": 1.0, "accelerator_type:H100": 1.0}) == "llm_h100"
