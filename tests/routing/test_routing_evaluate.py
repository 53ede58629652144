"""`python -m routing.evaluate` on a small temporary file."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
ROWS = [
    {"prompt": "这个包是真皮的吗?", "route": "cascade", "domain": "none"},
    {"prompt": "Is this rash serious?", "route": "cascade", "domain": "medical"},
    {"prompt": "What is the total on this receipt?", "route": "direct", "domain": "finance"},
    {"prompt": "图里有几只猫", "route": "direct", "domain": "none"},
    {"prompt": "为什么会这样", "route": "cascade", "domain": "none"},
]


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "routing.evaluate", *args],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_evaluate_cli(tmp_path: Path) -> None:
    f = tmp_path / "small.jsonl"
    f.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in ROWS) + "\n", "utf-8")
    out = _run(str(f), "--errors", "5")
    assert out.returncode == 0, out.stderr
    text = out.stdout
    assert "5 questions, 3 cascade" in text
    header = next(line for line in text.splitlines() if line.startswith("metric"))
    assert "classifier (" in header and "keywords (rules-v1)" in header
    rows = {line.split("  ")[0].strip(): line.split() for line in text.splitlines()}
    assert rows["route accuracy"][-2:] == ["1.000", "0.600"]  # classifier, baseline
    for label in ("medical precision", "finance recall", "latency p50 (us)", "latency p99 (us)"):
        assert label in rows
    assert float(rows["latency p50 (us)"][-2]) < 1000.0


def test_evaluate_cli_keywords_only_and_bad_router(tmp_path: Path) -> None:
    f = tmp_path / "small.jsonl"
    f.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in ROWS) + "\n", "utf-8")
    out = _run(str(f), "--router", "keywords")
    assert out.returncode == 0 and "classifier" not in out.stdout
    bad = _run(str(f), "--router", "nope")
    assert bad.returncode != 0 and "classifier" in bad.stderr
