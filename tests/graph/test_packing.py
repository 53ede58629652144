"""GPU-fraction packing on logical GPUs (a CPU box started with num_gpus=1)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import free_port

# isolated: runs before the shared graph boots (conftest), so that two Ray clusters with two
# vLLM engines never compete for the two cores and fail health checks.
pytestmark = [pytest.mark.slow, pytest.mark.isolated]


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

    # One more vision replica (0.25) on the full card: it waits, the graph keeps running.
    for snap in (out["over"], out["over_later"]):  # and it is still waiting 10 s later
        assert snap["extra"] == {"STARTING": 1}, snap
        assert snap["vision"] == {"RUNNING": 2} and snap["llm"] == {"RUNNING": 1}, snap
        assert snap["gpu_available"] == pytest.approx(0.0, abs=1e-6), snap
