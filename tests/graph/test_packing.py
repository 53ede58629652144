"""GPU-fraction packing on logical GPUs (a CPU box started with num_gpus=1)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import free_port

pytestmark = pytest.mark.slow


def test_fractional_replicas_pack_onto_one_card_and_one_more_stays_pending():
    script = Path(__file__).with_name("packing_script.py")
    proc = subprocess.run(
        [sys.executable, str(script), str(free_port())],
        capture_output=True,
        text=True,
        timeout=600,
        env=dict(os.environ),
    )
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
    assert lines, f"no result (rc={proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    out = json.loads(lines[-1][len("RESULT ") :])

    fit = out["fit"]
    assert fit["gpu_total"] == 1.0
    assert fit["vision"] == {"RUNNING": 2} and fit["llm"] == {"RUNNING": 1}
    assert fit["gpu_available"] == pytest.approx(0.0, abs=1e-6)  # 0.25 x 2 + 0.5 = the card

    assert "vision.num_gpus 0.25 x 3 replicas + llm.num_gpus 0.5 x 1 replicas = 1.25 GPUs" in (
        out["rejected"] or ""
    ), out["rejected"]

    # Asked for 1.25 GPUs on a 1-GPU cluster: what runs fits on the card, the rest waits.
    for snap in (out["over"], out["over_later"]):  # and it is still waiting 10 s later
        running = 0.25 * snap["vision"].get("RUNNING", 0) + 0.5 * snap["llm"].get("RUNNING", 0)
        waiting = snap["vision"].get("STARTING", 0) + snap["llm"].get("STARTING", 0)
        assert sum(snap["vision"].values()) == 3 and sum(snap["llm"].values()) == 1, snap
        assert running <= 1.0 and waiting >= 1, snap
        assert snap["gpu_available"] <= 1.0 - running + 1e-6, snap
        # each waiting replica waits because its share does not fit in what is left
        if snap["vision"].get("STARTING"):
            assert snap["gpu_available"] < 0.25, snap
        if snap["llm"].get("STARTING"):
            assert snap["gpu_available"] < 0.5, snap
