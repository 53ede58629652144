"""`python -m routing.bench` prints its latency table, the cold word-cache row included."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from routing import bench, fastlinear


def test_bench_prints_warm_and_cold_rows(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    f = tmp_path / "q.jsonl"
    prompts = ["Is this rash serious?", "这个合同条款对我有利吗", "what is the total here"]
    f.write_text("".join(json.dumps({"prompt": p}) + "\n" for p in prompts), encoding="utf-8")
    bench.main([str(f), "--rounds", "2"])
    out = capsys.readouterr().out.splitlines()
    rows = {line.split("  ")[0]: line.split()[-4:] for line in out[1:]}
    assert len(rows) == 5, out
    cold = next(k for k in rows if "cold word cache" in k)
    p50, p90, p99, mx = (float(v) for v in rows[cold])
    assert 0 < p50 <= p90 <= p99 <= mx
    # the cold row really ran cold: the cache holds only the last question's words now
    words = {w for c in fastlinear._WORD_GRAMS.values() for w in c}
    assert words <= set(fastlinear.normalize(prompts[-1]).split())
