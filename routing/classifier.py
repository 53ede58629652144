"""The trained classifier router (TF-IDF char/word n-grams + logistic regression).

scikit-learn and numpy are imported only when a model is loaded, never at ``import routing``.
"""

from __future__ import annotations

import functools
import hashlib
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from routing.base import Router
from routing.decision import DOMAINS, Domain, RouteScore
from routing.registry import register

if TYPE_CHECKING:  # numpy and scikit-learn load lazily, with the model
    from routing.fastlinear import FastLinearScorer

log = logging.getLogger(__name__)
TOP_FEATURES = 3


@dataclass(frozen=True)
class LoadedModel:
    """A compiled scorer plus the version string reported by the router."""

    scorer: FastLinearScorer
    version: str
    source: str  # "artefact" or "trained-in-process"


def _from_artefact(path: Path) -> LoadedModel:
    import sklearn

    from routing.fastlinear import FastLinearScorer
    from routing.train import ARTEFACT_FORMAT, loads

    blob = path.read_bytes()
    artefact = loads(blob)
    meta = artefact["meta"]
    if meta.get("format") != ARTEFACT_FORMAT:
        raise ValueError(f"artefact format {meta.get('format')} != {ARTEFACT_FORMAT}")
    # Pickles are only guaranteed to round-trip within one scikit-learn version.
    if meta.get("sklearn_version") != sklearn.__version__:
        raise ValueError(
            f"artefact built with scikit-learn {meta.get('sklearn_version')}, "
            f"running {sklearn.__version__}"
        )
    scorer = FastLinearScorer.from_sklearn(
        artefact["vectorizer"], artefact["route_clf"], artefact["domain_clf"]
    )
    return LoadedModel(scorer, hashlib.sha256(blob).hexdigest()[:12], "artefact")


def _train_in_process() -> LoadedModel:
    from routing.fastlinear import FastLinearScorer
    from routing.train import TRAIN_PATH, fingerprint, fit, load_jsonl

    rows = load_jsonl(TRAIN_PATH)
    a = fit(rows)
    scorer = FastLinearScorer.from_sklearn(a["vectorizer"], a["route_clf"], a["domain_clf"])
    return LoadedModel(scorer, fingerprint(rows)[:12], "trained-in-process")


@functools.lru_cache(maxsize=8)
def load_model(path: str | None = None) -> LoadedModel:
    """Load (and cache per path) the artefact; fall back to training from the shipped data."""
    from routing.train import MODEL_PATH

    p = Path(path) if path else MODEL_PATH
    try:
        return _from_artefact(p)
    except Exception as exc:  # any failure (missing, corrupt, other sklearn) means "rebuild"
        log.warning("router artefact %s unusable (%s); training in-process from data", p, exc)
        return _train_in_process()


@register("classifier")
class ClassifierRouter(Router):
    """Character/word n-gram logistic regression; the default router.

    Args:
        model_path: artefact to load (default ``routing/model/router.pkl.gz``). If it is missing
            or unloadable (e.g. another scikit-learn version) the model is trained in-process
            from ``routing/data/train.jsonl`` (seconds) and a warning is logged.
        **kwargs: policy options of :class:`routing.base.Router` (``threshold``,
            ``unsure_margin``, ``min_confidence``, ``unsure_route``, ``cascade_keywords``,
            ``direct_keywords``).
    """

    def __init__(self, model_path: str | Path | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        model = load_model(str(model_path) if model_path else None)
        self._scorer = model.scorer
        unknown = set(model.scorer.domains) - set(DOMAINS)
        if unknown:
            raise ValueError(f"model predicts unknown domains {sorted(unknown)}")
        self._domains: tuple[Domain, ...] = model.scorer.domains  # type: ignore[assignment]
        self.version = model.version
        self.source = model.source

    def score(self, prompt: str) -> RouteScore:
        """P(cascade) and the argmax domain; ``detail`` names the strongest n-grams."""
        p, domain_probs, evidence = self._scorer.predict(prompt, TOP_FEATURES)
        best = max(range(len(domain_probs)), key=domain_probs.__getitem__)
        dom: Domain = self._domains[best]
        feats = ", ".join(f"{t!r}{c:+.2f}" for c, t in evidence) or "none"
        detail = f"features {feats}; domain {dom} ({domain_probs[best]:.2f})"
        return RouteScore(
            p_cascade=p, domain=dom, domain_confidence=domain_probs[best], detail=detail
        )
