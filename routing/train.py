"""Fit the classifier router from ``routing/data/train.jsonl`` and write the artefact.

Usage::

    python -m routing.train                 # writes routing/model/router.pkl.gz
    python -m routing.train --out /tmp/router.pkl.gz

Training is deterministic (fixed seeds, sorted vocabularies, no timestamps in the artefact), so
rebuilding with the same data and scikit-learn version yields byte-identical files.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import pickle
from pathlib import Path
from typing import Any

from routing import features

PACKAGE_DIR = Path(__file__).resolve().parent
DATA_DIR = PACKAGE_DIR / "data"
TRAIN_PATH = DATA_DIR / "train.jsonl"
TEST_PATH = DATA_DIR / "test.jsonl"
MODEL_PATH = PACKAGE_DIR / "model" / "router.pkl.gz"
ARTEFACT_FORMAT = 1


def load_jsonl(path: Path) -> list[dict[str, str]]:
    """Read ``{"prompt", "route", "domain"}`` lines, skipping blank ones."""
    rows = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            rows.append(json.loads(line))
    return rows


def fingerprint(rows: list[dict[str, str]]) -> str:
    """sha256 over the training rows and hyper-parameters (the in-process model's version)."""
    h = hashlib.sha256()
    h.update(json.dumps(features.params(), sort_keys=True).encode())
    for r in rows:
        h.update(json.dumps(r, sort_keys=True, ensure_ascii=False).encode())
    return h.hexdigest()


def fit(rows: list[dict[str, str]]) -> dict[str, Any]:
    """Fit vectoriser, route model and domain model on ``rows``; return the artefact dict."""
    import sklearn

    prompts = [r["prompt"] for r in rows]
    vectorizer = features.build_vectorizer()
    x = vectorizer.fit_transform(prompts)
    route_clf = features.build_route_classifier().fit(x, [r["route"] == "cascade" for r in rows])
    domain_clf = features.build_domain_classifier().fit(x, [r["domain"] for r in rows])
    meta = {
        "format": ARTEFACT_FORMAT,
        "sklearn_version": sklearn.__version__,
        "data_sha256": fingerprint(rows),
        "n_train": len(rows),
        "n_features": int(x.shape[1]),
        "params": features.params(),
    }
    return {
        "vectorizer": vectorizer,
        "route_clf": route_clf,
        "domain_clf": domain_clf,
        "meta": meta,
    }


def dumps(artefact: dict[str, Any]) -> bytes:
    """Serialise to gzip-compressed pickle bytes; the version hash is over exactly these bytes.

    Plain pickle (not joblib's numpy wrapper, whose bytes vary between processes) and gzip with
    ``mtime=0`` make the file byte-reproducible. ``joblib.load`` can read it too.
    """
    # scikit-learn caches id(stop_words) on a word vectoriser once its analyzer is built; an
    # object id differs per process and would make the bytes (and so the version) unstable.
    for _, vec in artefact["vectorizer"].transformer_list:
        vars(vec).pop("_stop_words_id", None)
    return gzip.compress(pickle.dumps(artefact, protocol=4), compresslevel=9, mtime=0)


def loads(blob: bytes) -> dict[str, Any]:
    """Inverse of :func:`dumps` (only for artefacts this project built: pickle runs code)."""
    return pickle.loads(gzip.decompress(blob))


def calibration_report(artefact: dict[str, Any], rows: list[dict[str, str]]) -> str:
    """Accuracy, Brier score and expected calibration error of P(cascade) on ``rows``."""
    import numpy as np

    x = artefact["vectorizer"].transform([r["prompt"] for r in rows])
    p = artefact["route_clf"].predict_proba(x)[:, 1]
    y = np.array([r["route"] == "cascade" for r in rows], dtype=float)
    acc = float(np.mean((p >= 0.5) == y))
    brier = float(np.mean((p - y) ** 2))
    bins = np.minimum((p * 10).astype(int), 9)
    ece = sum(
        abs(p[bins == b].mean() - y[bins == b].mean()) * (bins == b).mean()
        for b in range(10)
        if (bins == b).any()
    )
    dom = artefact["domain_clf"].predict(x)
    dacc = float(np.mean(dom == np.array([r["domain"] for r in rows])))
    lines = [f"route accuracy {acc:.3f}  brier {brier:.3f}  ECE {ece:.3f}  domain acc {dacc:.3f}"]
    lines.append("reliability (bin: mean p -> observed cascade rate, n)")
    for b in range(10):
        m = bins == b
        if m.any():
            lines.append(
                f"  {b / 10:.1f}-{(b + 1) / 10:.1f}: {p[m].mean():.2f} -> "
                f"{y[m].mean():.2f}  n={int(m.sum())}"
            )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    """CLI entry point: fit on train.jsonl, report on test.jsonl, write the artefact."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--train", type=Path, default=TRAIN_PATH)
    ap.add_argument("--test", type=Path, default=TEST_PATH)
    ap.add_argument("--out", type=Path, default=MODEL_PATH)
    args = ap.parse_args(argv)

    artefact = fit(load_jsonl(args.train))
    blob = dumps(artefact)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_bytes(blob)
    print(
        f"wrote {args.out} ({len(blob) / 1024:.0f} KiB, version "
        f"{hashlib.sha256(blob).hexdigest()[:12]}, {artefact['meta']['n_features']} features)"
    )
    if args.test.exists():
        print(f"held-out {args.test.name}:")
        print(calibration_report(artefact, load_jsonl(args.test)))


if __name__ == "__main__":
    main()
