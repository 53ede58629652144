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
# No "lang" field: evaluate infers it (zh, zh-Hant, en, mixed).
LANG_ROWS = [
    {"prompt": "這個疹子要緊嗎", "route": "cascade", "domain": "medical"},
    {"prompt": "圖裡有幾隻貓", "route": "direct", "domain": "none"},
    {"prompt": "这个 rash 要不要去看医生", "route": "cascade", "domain": "medical"},
    {"prompt": "How many cats are in the picture?", "route": "direct", "domain": "none"},
    {"prompt": "这张发票的金额是多少", "route": "direct", "domain": "finance"},
]


def _tables(text: str) -> dict[str, dict[str, list[str]]]:
    """Title line -> {metric -> cells} for each table in the output (tables end at a blank)."""
    out: dict[str, dict[str, list[str]]] = {}
    title = "overall"
    for block in text.split("\n\n"):
        lines = block.splitlines()
        if any(line.startswith("metric") for line in lines):
            start = next(i for i, line in enumerate(lines) if line.startswith("metric"))
            title = (
                lines[start - 1]
                if start and not lines[start - 1].endswith("cascade")
                else "overall"
            )
            rows = {}
            for line in lines[start:]:
                cells = line.split("  ")
                rows[cells[0].strip()] = line.split()
            out[title] = rows
    return out


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
    rows = _tables(text)["overall"]
    assert rows["route accuracy"][-2:] == ["1.000", "0.600"]  # classifier, baseline
    for label in (
        "medical precision",
        "finance recall",
        "plain called sensitive",
        "latency p50 (us)",
        "latency p99 (us)",
    ):
        assert label in rows
    assert float(rows["latency p50 (us)"][-2]) < 1000.0
    assert "domain confusion" in text and "route confusion" in text


def test_evaluate_per_language_and_misses(tmp_path: Path) -> None:
    f = tmp_path / "langs.jsonl"
    rows = [*LANG_ROWS, {"prompt": "図", "route": "cascade", "domain": "legal", "lang": "zh"}]
    f.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows) + "\n", "utf-8")
    out = _run(str(f), "--misses", "3")
    assert out.returncode == 0, out.stderr
    tables = _tables(out.stdout)
    per_lang = tables["per language — classifier"]
    assert per_lang["metric"][1:] == ["zh", "zh-Hant", "en", "mixed"]
    # zh: the receipt and the explicit-lang row; zh-Hant: two; en: one; mixed: one.
    assert per_lang["n"][1:] == ["2", "2", "1", "1"]
    assert "per language — keywords" in tables
    # The made-up legal row cannot be right: it is listed as a miss, with its language.
    misses = out.stdout.split("misses — classifier")[1]
    assert "want cascade/legal" in misses and "[zh] 図" in misses


def test_evaluate_cli_keywords_only_and_bad_router(tmp_path: Path) -> None:
    f = tmp_path / "small.jsonl"
    f.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in ROWS) + "\n", "utf-8")
    out = _run(str(f), "--router", "keywords")
    assert out.returncode == 0 and "classifier" not in out.stdout
    bad = _run(str(f), "--router", "nope")
    assert bad.returncode != 0 and "classifier" in bad.stderr


def test_evaluate_unseen_drops_training_questions(tmp_path: Path) -> None:
    from routing.train import training_rows

    trained = next(r for r in training_rows() if r.get("source") == "voices")
    fresh = [  # made-up words: certainly not in the training data
        {
            "prompt": "Is the zorblat on this plinth quizzical?",
            "route": "cascade",
            "domain": "none",
        },
        {"prompt": "图里那个弗拉布是什么颜色", "route": "direct", "domain": "none"},
    ]
    rows = [
        {"prompt": trained["prompt"] + " ?!", "route": trained["route"], "domain": "none"},
        *fresh,
    ]
    f = tmp_path / "mixed.jsonl"
    f.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows) + "\n", "utf-8")
    out = _run(str(f), "--unseen", "--router", "keywords")
    assert out.returncode == 0, out.stderr
    assert f"{len(fresh)} questions" in out.stdout
    assert "(1 also in the training data left out)" in out.stdout
