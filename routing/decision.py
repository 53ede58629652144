"""The router's output types."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

Route = Literal["direct", "cascade"]
Domain = Literal["medical", "finance", "legal", "none"]
ROUTES: tuple[Route, ...] = ("direct", "cascade")
DOMAINS: tuple[Domain, ...] = ("medical", "finance", "legal", "none")


class RouteDecision(BaseModel):
    """Where one question goes, and why.

    ``route`` is ``direct`` (the vision model answers) or ``cascade`` (caption, then a chat LLM
    reasons). ``domain`` feeds the disclaimer policy. ``confidence`` is the probability the router
    assigns to the chosen route (1.0 for rule hits). ``reason`` is a short human-readable trace.
    """

    model_config = ConfigDict(frozen=True)

    route: Route
    domain: Domain
    confidence: float = Field(ge=0.0, le=1.0)
    reason: str


@dataclass(frozen=True, slots=True)
class RouteScore:
    """What a concrete router computes before the shared policy turns it into a decision.

    ``p_cascade`` is the probability that the question needs reasoning; ``detail`` says which
    features or rules produced it and is embedded into the decision's reason.
    """

    p_cascade: float
    domain: Domain
    domain_confidence: float
    detail: str
