"""One packing check: shares that add up but cannot share cards are refused, saying why."""

from __future__ import annotations

import pytest

from seethink.config import ConfigError, load_config
from seethink.packing import pack


def test_pack_places_fractions_on_cards_or_says_they_do_not_fit():
    assert pack(1, {"vision": 2, "llm": 1}, {"vision": 0.25, "llm": 0.5}) == [
        {"vision": 2, "llm": 1}
    ]
    assert pack(2, {"vision": 3}, {"vision": 0.6}) == []  # 1.8 <= 2, but 0.6 + 0.6 > 1


def test_config_refuses_shares_that_sum_below_the_cards_but_do_not_pack():
    over = {
        "cluster": {"gpus_per_node": 2, "num_nodes": 1},
        "vision": {"num_gpus": 0.6, "autoscaling_config": {"min_replicas": 1, "max_replicas": 2}},
        "llm": {"num_gpus": 0.6, "gpu_memory_utilization": 0.5},
    }
    with pytest.raises(ConfigError, match="do not fit on 2 cards"):
        load_config("cpu", over)
    over["llm"] = {"num_gpus": 0.4, "gpu_memory_utilization": 0.4}
    cfg = load_config("cpu", over)  # 0.6 + 0.4 on one card, 0.6 on the other
    assert cfg.llm.num_gpus == 0.4
