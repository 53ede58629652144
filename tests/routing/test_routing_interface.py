"""Public interface: types, registry, factory, import cost."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import ValidationError

from routing import (
    RouteDecision,
    Router,
    RouteScore,
    UnknownRouterError,
    available_routers,
    load_router,
    register,
)

REPO_ROOT = Path(__file__).resolve().parents[2]


def test_default_router_is_classifier(classifier: Router) -> None:
    router = load_router()
    assert router.name == "classifier"
    assert type(router) is type(classifier)
    assert isinstance(router.version, str) and len(router.version) == 12
    int(router.version, 16)  # short sha256 hex


def test_keyword_router_identity(keywords: Router) -> None:
    assert keywords.name == "keywords"
    assert keywords.version == "rules-v1"


def test_classify_returns_frozen_decision(classifier: Router) -> None:
    d = classifier.classify("这个包是真皮的吗?")
    assert isinstance(d, RouteDecision)
    assert set(d.model_dump()) == {"route", "domain", "confidence", "reason"}
    with pytest.raises(ValidationError):
        d.route = "direct"  # type: ignore[misc]


def test_decision_validates_fields() -> None:
    with pytest.raises(ValidationError):
        RouteDecision(route="think", domain="none", confidence=0.5, reason="")  # type: ignore[arg-type]
    with pytest.raises(ValidationError):
        RouteDecision(route="direct", domain="none", confidence=1.5, reason="")


def test_unknown_router_lists_choices() -> None:
    with pytest.raises(UnknownRouterError) as exc:
        load_router("x")
    assert isinstance(exc.value, ValueError)
    assert str(exc.value) == "unknown router 'x'; expected one of: classifier, keywords"


def test_registry_accepts_new_router() -> None:
    @register("test-always-direct")
    class AlwaysDirect(Router):
        version = "t1"

        def score(self, prompt: str) -> RouteScore:
            return RouteScore(p_cascade=0.0, domain="none", domain_confidence=1.0, detail="stub")

    assert "test-always-direct" in available_routers()
    router = load_router("test-always-direct")
    assert router.name == "test-always-direct"
    assert router.classify("anything").route == "direct"


def test_registering_a_name_twice_fails() -> None:
    with pytest.raises(ValueError, match="already registered"):

        @register("keywords")
        class Impostor(Router):
            def score(self, prompt: str) -> RouteScore:  # pragma: no cover
                raise NotImplementedError


@pytest.mark.parametrize(
    "kwargs",
    [
        {"threshold": 1.5},
        {"unsure_margin": -0.1},
        {"unsure_route": "maybe"},
        {"min_confidence": 2.0},
    ],
)
def test_invalid_policy_arguments(kwargs: dict) -> None:
    with pytest.raises(ValueError):
        load_router("keywords", **kwargs)


def test_import_is_light() -> None:
    """`import routing` must not pull in scikit-learn or numpy."""
    code = "import sys, routing; print('sklearn' in sys.modules, 'numpy' in sys.modules)"
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True, check=True
    )
    assert out.stdout.split() == ["False", "False"]


def test_issue_snippet() -> None:
    """The exact usage from the issue."""
    router = load_router(
        "classifier",
        threshold=0.6,
        unsure_route="cascade",
        cascade_keywords=["后果"],
        direct_keywords=["有什么建议标语"],
    )
    d = router.classify("这个包是真皮的吗?")
    assert d.route in ("direct", "cascade")
    assert d.domain in ("medical", "finance", "legal", "none")
    assert 0 <= d.confidence <= 1
    assert isinstance(d.reason, str)
    assert isinstance(d.model_dump(), dict)
    assert isinstance(router.name, str) and isinstance(router.version, str)


def test_router_pickles(classifier: Router) -> None:
    """Ray ships deployments by pickling; a router must survive the round trip."""
    import pickle

    copy = pickle.loads(pickle.dumps(classifier))
    q = "Is this rash serious?"
    assert copy.classify(q) == classifier.classify(q)
    assert (copy.name, copy.version) == (classifier.name, classifier.version)
