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

    over = out["over"]
    assert over["vision"].get("RUNNING") == 2, over
    assert sum(over["vision"].values()) == 3 and over["vision"].get("STARTING") == 1, over
    assert over["gpu_available"] == pytest.approx(0.0, abs=1e-6)
    later = out["over_later"]  # still waiting: nothing freed a share for it
    assert later["vision"] == {"RUNNING": 2, "STARTING": 1}, later
