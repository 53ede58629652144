"""The router base class: concrete routers score, the base class decides.

As in lm-sys/RouteLLM, a router only produces a score (here: the probability that a question
needs reasoning, plus a domain); the shared policy below turns that score into a decision.

Decision order in :meth:`Router.classify`:

1. **Override keywords.** If any ``cascade_keywords`` or ``direct_keywords`` entry is a
   substring of the (normalised) question, that route is forced with confidence 1.0. When both
   lists match, the *longest* matching keyword wins, because the longer phrase is the more
   specific rule (``direct_keywords=["有什么建议标语"]`` must beat ``cascade_keywords=["建议"]``);
   an exact tie goes to ``cascade`` because a missed reasoning question costs more than a
   slower answer.
2. **Unsure policy.** With ``p = p_cascade``, the question is *unsure* when
   ``|p - threshold| < unsure_margin`` (the band around the threshold) or when the probability
   of the route the threshold would pick is below ``min_confidence`` (a floor that matters when
   the threshold is moved away from 0.5). Unsure questions go to ``unsure_route``.
3. Otherwise ``cascade`` if ``p >= threshold`` else ``direct``.

``confidence`` is the probability of the chosen route under the model (``p`` or ``1 - p``).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable

from routing.decision import Route, RouteDecision, RouteScore
from routing.text import normalize


class Router(ABC):
    """Abstract router: subclasses implement :meth:`score`; the base class applies the policy.

    Args:
        threshold: ``p_cascade`` at or above which a confident question is cascaded.
        unsure_margin: half-width of the unsure band around ``threshold``.
        min_confidence: floor on the chosen route's probability; below it the question is unsure.
        unsure_route: where unsure questions go (default ``cascade``).
        cascade_keywords: substrings that force ``cascade``.
        direct_keywords: substrings that force ``direct``.
    """

    name: str = "base"
    version: str = "0"

    def __init__(
        self,
        threshold: float = 0.5,
        unsure_margin: float = 0.1,
        min_confidence: float = 0.0,
        unsure_route: Route = "cascade",
        cascade_keywords: Iterable[str] = (),
        direct_keywords: Iterable[str] = (),
    ) -> None:
        if not 0.0 <= threshold <= 1.0:
            raise ValueError(f"threshold must be in [0, 1], got {threshold}")
        if not 0.0 <= unsure_margin <= 0.5:
            raise ValueError(f"unsure_margin must be in [0, 0.5], got {unsure_margin}")
        if not 0.0 <= min_confidence <= 1.0:
            raise ValueError(f"min_confidence must be in [0, 1], got {min_confidence}")
        if unsure_route not in ("direct", "cascade"):
            raise ValueError(f"unsure_route must be 'direct' or 'cascade', got {unsure_route!r}")
        self.threshold = threshold
        self.unsure_margin = unsure_margin
        self.min_confidence = min_confidence
        self.unsure_route: Route = unsure_route
        # Longest first, so the first hit found is the most specific one.
        overrides = [(normalize(k), k, "cascade") for k in cascade_keywords if k.strip()]
        overrides += [(normalize(k), k, "direct") for k in direct_keywords if k.strip()]
        overrides.sort(key=lambda o: (-len(o[0]), o[2] != "cascade"))
        self._overrides: list[tuple[str, str, Route]] = overrides

    @abstractmethod
    def score(self, prompt: str) -> RouteScore:
        """Return the probability that ``prompt`` needs reasoning, and its domain."""

    def classify(self, prompt: str) -> RouteDecision:
        """Decide the route and domain of one question (see the module docstring for order)."""
        s = self.score(prompt)
        if self._overrides:
            text = normalize(prompt)
            for needle, original, route in self._overrides:
                if needle in text:
                    return RouteDecision(
                        route=route,
                        domain=s.domain,
                        confidence=1.0,
                        reason=f"override: {route} keyword {original!r}",
                    )
        p = min(max(s.p_cascade, 0.0), 1.0)
        route: Route = "cascade" if p >= self.threshold else "direct"
        confidence = p if route == "cascade" else 1.0 - p
        in_band = abs(p - self.threshold) < self.unsure_margin
        if in_band or confidence < self.min_confidence:
            why = (
                f"within ±{self.unsure_margin:.2f} of threshold {self.threshold:.2f}"
                if in_band
                else f"confidence {confidence:.2f} < floor {self.min_confidence:.2f}"
            )
            route = self.unsure_route
            confidence = p if route == "cascade" else 1.0 - p
            reason = f"unsure: p(cascade)={p:.2f} {why} -> unsure_route {route}; {s.detail}"
        else:
            op = ">=" if route == "cascade" else "<"
            reason = f"p(cascade)={p:.2f} {op} threshold {self.threshold:.2f}; {s.detail}"
        return RouteDecision(route=route, domain=s.domain, confidence=confidence, reason=reason)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, version={self.version!r})"
