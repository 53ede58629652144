"""The design article's baseline: five Chinese keywords decide the route."""

from __future__ import annotations

from typing import Any

from routing.base import Router
from routing.decision import Domain, RouteScore
from routing.registry import register
from routing.text import normalize

# Exactly the article's list: any of these -> cascade, anything else -> direct.
ARTICLE_KEYWORDS: tuple[str, ...] = ("为什么", "应该怎么做", "是否合理", "建议", "后果")

# The article has no domain rule; these small lists only exist so that the baseline fills the
# same interface. First match in this order wins.
_DOMAIN_KEYWORDS: tuple[tuple[Domain, tuple[str, ...]], ...] = (
    (
        "medical",
        (
            "病",
            "药",
            "医",
            "症",
            "化验",
            "体检",
            "诊",
            "血",
            "疹",
            "痣",
            "伤口",
            "x光",
            "ct片",
            "doctor",
            "medic",
            "pill",
            "rash",
            "symptom",
            "lab report",
            "x-ray",
            "prescription",
        ),
    ),
    (
        "legal",
        (
            "合同",
            "法",
            "协议",
            "罚单",
            "起诉",
            "律师",
            "违约",
            "侵权",
            "contract",
            "lease",
            "legal",
            "lawyer",
            "lawsuit",
            "court",
        ),
    ),
    (
        "finance",
        (
            "发票",
            "小票",
            "账单",
            "股",
            "基金",
            "理财",
            "贷款",
            "税",
            "工资",
            "多少钱",
            "价",
            "receipt",
            "invoice",
            "price",
            "stock",
            "tax",
            "loan",
            "bank",
            "worth",
            "bill",
        ),
    ),
)


@register("keywords")
class KeywordRouter(Router):
    """The article's baseline: cascade iff one of :data:`ARTICLE_KEYWORDS` occurs.

    Scores are 0 or 1, so the unsure band never triggers; override keyword lists still apply.
    """

    version = "rules-v1"

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)

    def score(self, prompt: str) -> RouteScore:
        """1.0 if an article keyword is present, else 0.0; domain by first keyword list hit."""
        text = normalize(prompt)
        hit = next((k for k in ARTICLE_KEYWORDS if k in text), None)
        domain: Domain = "none"
        for name, words in _DOMAIN_KEYWORDS:
            if any(w in text for w in words):
                domain = name
                break
        detail = f"keyword {hit!r}" if hit else "no article keyword"
        return RouteScore(
            p_cascade=1.0 if hit else 0.0, domain=domain, domain_confidence=1.0, detail=detail
        )
