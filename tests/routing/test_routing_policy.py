"""The base-class policy: threshold, unsure band, confidence floor, override keywords."""

from __future__ import annotations

from typing import Any

import pytest

from routing import Router, RouteScore, load_router


class Fixed(Router):
    """A router whose score is set by the test (not registered)."""

    name = "fixed"

    def __init__(self, p: float, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.p = p

    def score(self, prompt: str) -> RouteScore:
        return RouteScore(p_cascade=self.p, domain="legal", domain_confidence=0.9, detail="stub")


@pytest.mark.parametrize(
    ("p", "route", "confidence"),
    [
        (0.95, "cascade", 0.95),
        (0.05, "direct", 0.95),
        (0.61, "cascade", 0.61),
        (0.39, "direct", 0.61),
    ],
)
def test_confident_scores_follow_threshold(p: float, route: str, confidence: float) -> None:
    d = Fixed(p).classify("q")
    assert (d.route, d.domain) == (route, "legal")
    assert d.confidence == pytest.approx(confidence)
    assert "threshold 0.50" in d.reason and "unsure" not in d.reason


@pytest.mark.parametrize("unsure_route", ["cascade", "direct"])
def test_unsure_band_uses_unsure_route(unsure_route: str) -> None:
    d = Fixed(0.45, unsure_route=unsure_route).classify("q")
    assert d.route == unsure_route
    assert d.reason.startswith("unsure:") and f"unsure_route {unsure_route}" in d.reason
    assert d.confidence == pytest.approx(0.45 if unsure_route == "cascade" else 0.55)


def test_band_moves_with_threshold() -> None:
    assert Fixed(0.45, threshold=0.8).classify("q").route == "direct"
    d = Fixed(0.75, threshold=0.8, unsure_route="direct").classify("q")
    assert d.route == "direct" and "unsure" in d.reason
    assert Fixed(0.95, threshold=0.8).classify("q").route == "cascade"


def test_zero_margin_disables_band() -> None:
    assert Fixed(0.49, unsure_margin=0.0, unsure_route="cascade").classify("q").route == "direct"


def test_confidence_floor() -> None:
    # threshold 0.2 picks cascade for p=0.35, but only with probability 0.35 < floor 0.6.
    d = Fixed(
        0.35, threshold=0.2, unsure_margin=0.0, min_confidence=0.6, unsure_route="direct"
    ).classify("q")
    assert d.route == "direct" and "floor 0.60" in d.reason


def test_classifier_unsure_band_end_to_end(classifier: Router) -> None:
    """Put the threshold right at a real question's probability: it must land in the band."""
    q = "这个包是真皮的吗?"
    p = classifier.score(q).p_cascade
    for unsure_route in ("direct", "cascade"):
        router = load_router("classifier", threshold=p, unsure_route=unsure_route)
        d = router.classify(q)
        assert d.route == unsure_route
        assert "unsure" in d.reason and f"unsure_route {unsure_route}" in d.reason


def test_override_keywords_force_route(classifier: Router) -> None:
    router = load_router(
        "classifier", cascade_keywords=["后果"], direct_keywords=["有什么建议标语"]
    )
    d = router.classify("图中有什么建议标语?")
    assert d.route == "direct" and d.confidence == 1.0 and "有什么建议标语" in d.reason
    d = router.classify("图里那个牌子写的是什么, 后果自负几个字吗")
    assert d.route == "cascade" and "'后果'" in d.reason
    # Without overrides the classifier decides and the reason says so.
    assert "override" not in classifier.classify("后果是什么").reason


def test_longest_override_wins_and_ties_go_to_cascade() -> None:
    router = Fixed(0.5, cascade_keywords=["建议"], direct_keywords=["建议标语"])
    assert router.classify("墙上的建议标语写了什么").route == "direct"
    assert router.classify("给点建议").route == "cascade"
    tie = Fixed(0.0, cascade_keywords=["same"], direct_keywords=["same"])
    assert tie.classify("the same thing").route == "cascade"


def test_override_matching_is_normalised() -> None:
    router = Fixed(0.0, cascade_keywords=["Is It Legal"])
    d = router.classify("IS IT LEGAL to park here？")
    assert d.route == "cascade" and "override" in d.reason


def test_overrides_keep_model_domain() -> None:
    d = Fixed(0.0, cascade_keywords=["x"]).classify("x")
    assert (d.route, d.domain) == ("cascade", "legal")
