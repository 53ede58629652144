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
    thresholds: tuple[tuple[str, float], ...] = ()  # per sensitive domain, chosen on dev data


def pick_domain(
    probs: list[float], domains: tuple[str, ...], thresholds: dict[str, float]
) -> tuple[int, float | None]:
    """Index of the decided domain, and the threshold it passed (None: argmax / fallback).

    A sensitive domain is chosen when its probability reaches its threshold; among several, the
    one furthest above its threshold (largest ratio). Otherwise ``none`` when the model has it,
    else the argmax. Without thresholds this is the argmax.
    """
    best, best_ratio = -1, 0.0
    for k, dom in enumerate(domains):
        t = thresholds.get(dom)
        if t is not None and probs[k] >= t and probs[k] / t > best_ratio:
            best, best_ratio = k, probs[k] / t
    if best >= 0:
        return best, thresholds[domains[best]]
    if thresholds and "none" in domains:
        return domains.index("none"), None
    return max(range(len(probs)), key=probs.__getitem__), None


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
    thresholds = tuple(sorted(artefact["domain_thresholds"].items()))
    return LoadedModel(scorer, hashlib.sha256(blob).hexdigest()[:12], "artefact", thresholds)


def _train_in_process() -> LoadedModel:
    from routing.fastlinear import FastLinearScorer
    from routing.train import dev_rows, fingerprint, fit, load_calibration, training_rows

    rows, dev = training_rows(), dev_rows()
    a = fit(rows, dev, load_calibration())
    scorer = FastLinearScorer.from_sklearn(a["vectorizer"], a["route_clf"], a["domain_clf"])
    thresholds = tuple(sorted(a["domain_thresholds"].items()))
    return LoadedModel(scorer, fingerprint(rows + dev)[:12], "trained-in-process", thresholds)


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
    """Character/word n-gram + lexicon logistic regression; the default router.

    The domain is decided with per-domain thresholds stored in the artefact (chosen for recall of
    the sensitive domains on held-out hand-written data, see :mod:`routing.train`); pass
    ``domain_thresholds`` to override some of them.

    Args:
        model_path: artefact to load (default ``routing/model/router.pkl.gz``). If it is missing
            or unloadable (e.g. another scikit-learn version) the model is trained in-process
            from the shipped data (seconds) and a warning is logged.
        domain_thresholds: e.g. ``{"medical": 0.2}``; keys must be sensitive domains.
        **kwargs: policy options of :class:`routing.base.Router` (``threshold``,
            ``unsure_margin``, ``min_confidence``, ``unsure_route``, ``cascade_keywords``,
            ``direct_keywords``).
    """

    def __init__(
        self,
        model_path: str | Path | None = None,
        domain_thresholds: dict[str, float] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        model = load_model(str(model_path) if model_path else None)
        self._scorer = model.scorer
        unknown = set(model.scorer.domains) - set(DOMAINS)
        if unknown:
            raise ValueError(f"model predicts unknown domains {sorted(unknown)}")
        self._domains: tuple[Domain, ...] = model.scorer.domains  # type: ignore[assignment]
        self.domain_thresholds: dict[str, float] = dict(model.thresholds)
        for dom, t in (domain_thresholds or {}).items():
            if dom not in ("medical", "finance", "legal") or not 0.0 < t <= 1.0:
                raise ValueError(
                    f"domain_thresholds: {dom!r}={t!r}; keys must be one of medical, finance, "
                    "legal and values in (0, 1]"
                )
            self.domain_thresholds[dom] = t
        self.version = model.version
        self.source = model.source

    def score(self, prompt: str) -> RouteScore:
        """P(cascade) and the argmax domain; ``detail`` names the strongest n-grams."""
        p, domain_probs, evidence = self._scorer.predict(prompt, TOP_FEATURES)
        best, passed = pick_domain(domain_probs, self._domains, self.domain_thresholds)
        dom: Domain = self._domains[best]
        feats = ", ".join(f"{t!r}{c:+.2f}" for c, t in evidence) or "none"
        why = f" >= threshold {passed:.2f}" if passed is not None else ""
        detail = f"features {feats}; domain {dom} ({domain_probs[best]:.2f}{why})"
        return RouteScore(
            p_cascade=p, domain=dom, domain_confidence=domain_probs[best], detail=detail
        )
