"""The joint regression set: replay fixed image+question pairs through a deployed graph.

Record a baseline, swap either model, replay, and see what changed (as the design article
recommends for keeping the vision model and the LLM compatible):

    python -m seethink.regression --url http://127.0.0.1:8000 --record baseline.json
    python -m seethink.regression --url http://127.0.0.1:8000 --compare baseline.json

Cases are replayed one at a time, so batching never mixes them and greedy decoding makes a
replay against the same models reproduce the baseline exactly.
"""

from __future__ import annotations

import argparse
import base64
import io
import json
import sys
from pathlib import Path

import requests
from PIL import Image, ImageDraw

DEFAULT_SET = Path(__file__).resolve().parent.parent / "tests" / "data" / "regression.jsonl"
FIELDS = ("route", "domain", "caption", "text", "disclaimer", "degraded")


def render(spec: dict) -> bytes:
    """The case's image, drawn from its spec (colour, size, seed): no binary files to ship."""
    im = Image.new("RGB", tuple(spec["size"]), tuple(spec["color"]))
    seed = spec.get("seed", 0)
    d = ImageDraw.Draw(im)
    d.rectangle([seed * 5 % im.width, 0, seed * 5 % im.width + 8, 8], fill=(255, 255, 0))
    buf = io.BytesIO()
    im.save(buf, "PNG")
    return buf.getvalue()


def load_cases(path: Path = DEFAULT_SET) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]


def replay(url: str, cases: list[dict], timeout: float = 300) -> dict:
    """Run every case; returns {"models": {...}, "cases": {id: {field: value}}}."""
    out: dict = {"models": {}, "cases": {}}
    for case in cases:
        body = {
            "image_base64": base64.b64encode(render(case["image"])).decode(),
            "prompt": case["prompt"],
            "route": case.get("route", "auto"),
        }
        r = requests.post(url.rstrip("/") + "/infer", json=body, timeout=timeout)
        r.raise_for_status()
        res = r.json()
        out["cases"][case["id"]] = {k: res.get(k) for k in FIELDS}
        for node, info in res["models"].items():
            out["models"][node] = info
    return out


def compare(baseline: dict, current: dict) -> dict:
    """What changed: model versions, and per case the fields that differ."""
    models = {
        node: {"was": baseline["models"].get(node), "now": info}
        for node, info in current["models"].items()
        if baseline["models"].get(node) != info
    }
    changed = {}
    for cid, now in current["cases"].items():
        was = baseline["cases"].get(cid)
        if was is None:
            changed[cid] = {"new case": True}
            continue
        diff = {
            k: {"was": was.get(k), "now": now.get(k)} for k in FIELDS if was.get(k) != now.get(k)
        }
        if diff:
            changed[cid] = diff
    return {"models": models, "changed": changed, "total": len(current["cases"])}


def report(diff: dict) -> str:
    lines = []
    for node, v in diff["models"].items():
        lines.append(f"model {node}: {v['was']} -> {v['now']}")
    lines.append(f"{len(diff['changed'])} of {diff['total']} cases changed")
    for cid, fields in diff["changed"].items():
        lines.append(f"  {cid}: {', '.join(fields)}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--url", default="http://127.0.0.1:8000")
    ap.add_argument("--set", type=Path, default=DEFAULT_SET, help="JSONL of cases")
    g = ap.add_mutually_exclusive_group(required=True)
    g.add_argument("--record", type=Path, help="write a baseline here")
    g.add_argument("--compare", type=Path, help="replay and compare with this baseline")
    args = ap.parse_args(argv)
    current = replay(args.url, load_cases(args.set))
    if args.record:
        args.record.write_text(json.dumps(current, ensure_ascii=False, indent=1))
        print(f"recorded {len(current['cases'])} cases, models {current['models']}")
        return 0
    diff = compare(json.loads(args.compare.read_text()), current)
    print(report(diff))
    return 1 if diff["changed"] or diff["models"] else 0


if __name__ == "__main__":
    sys.exit(main())
