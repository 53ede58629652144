"""Behaviour of the trained classifier and the keyword baseline."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from routing import Router, load_router

DATA = Path(__file__).resolve().parents[2] / "routing" / "data"

# Clearly-worded questions that are NOT in the training data (checked below): the issue's own
# examples, plus new ones in Chinese, English and mixed.
EXAMPLES = [
    ("这个包是真皮的吗?", "cascade", "none"),
    ("Is this rash serious?", "cascade", "medical"),
    ("Can I eat this mushroom?", "cascade", "medical"),  # food safety is medical (issue 12)
    ("这个合同条款对我有利吗?", "cascade", "legal"),
    ("帮我看看这是什么病", "cascade", "medical"),
    ("图中有什么建议标语?", "direct", "none"),
    ("What does the sign recommend?", "direct", "none"),
    ("这张化验单上写了几个指标?", "direct", "medical"),
    ("What is the total on this receipt?", "direct", "finance"),
    ("这双运动鞋是不是莆田货", "cascade", "none"),
    ("我手上长了这个东西，需要去医院看看吗", "cascade", "medical"),
    ("这枚戒指大概值多少钱", "cascade", "finance"),
    ("我在这个位置停车会被贴条吗", "cascade", "legal"),
    ("这段代码为什么一直死循环", "cascade", "none"),
    ("Should I repaint this wall or just clean it?", "cascade", "none"),
    ("Is this stock a good buy right now?", "cascade", "finance"),
    ("Can my landlord really charge me for this?", "cascade", "legal"),
    ("How do I get this stain out of my shirt?", "cascade", "none"),
    ("图里有几只猫", "direct", "none"),
    ("图片右下角写的是什么字", "direct", "none"),
    ("describe this picture", "direct", "none"),
    ("How many chairs are around the table?", "direct", "none"),
    ("What is the name of the drug on this box?", "direct", "medical"),
    ("合同上写的租金是多少", "direct", "legal"),
    ("发票上的开票日期是哪天", "direct", "finance"),
    ("What breed is this dog?", "direct", "none"),
    ("这个 poster 上写了什么", "direct", "none"),
    ("这个 rash 要不要去看医生", "cascade", "medical"),
]


def _training_prompts() -> set[str]:
    lines = (DATA / "train.jsonl").read_text(encoding="utf-8").splitlines()
    return {json.loads(line)["prompt"] for line in lines}


def test_examples_are_not_training_data() -> None:
    assert not {q for q, _, _ in EXAMPLES} & _training_prompts()


@pytest.mark.parametrize(("prompt", "route", "domain"), EXAMPLES)
def test_examples(classifier: Router, prompt: str, route: str, domain: str) -> None:
    d = classifier.classify(prompt)
    assert (d.route, d.domain) == (route, domain), d.reason
    assert 0.0 <= d.confidence <= 1.0


def test_confidence_and_reason_on_odd_inputs(classifier: Router) -> None:
    for q in ["", "   ", "?", "🙂🙂", "a" * 5000, "图" * 300, "\n\t", "ＦＵＬＬ　ＷＩＤＴＨ？"]:
        d = classifier.classify(q)
        assert 0.0 <= d.confidence <= 1.0
        assert d.route in ("direct", "cascade") and isinstance(d.reason, str) and d.reason


def test_reason_names_features(classifier: Router) -> None:
    d = classifier.classify("Is this rash serious?")
    assert "p(cascade)=" in d.reason and "features" in d.reason and "domain medical" in d.reason


@pytest.mark.parametrize(
    ("prompt", "route"),
    [
        ("为什么天空是红色的", "cascade"),
        ("这种情况应该怎么做", "cascade"),
        ("这个价格是否合理", "cascade"),
        ("给点建议", "cascade"),
        ("不处理会有什么后果", "cascade"),
        ("图中有什么建议标语?", "cascade"),  # the article's false positive
        ("这个包是真皮的吗?", "direct"),  # ... and its misses
        ("Is this rash serious?", "direct"),
        ("Why is the sky red?", "direct"),  # English is never matched
    ],
)
def test_keyword_baseline_matches_article(keywords: Router, prompt: str, route: str) -> None:
    d = keywords.classify(prompt)
    assert d.route == route
    assert d.confidence == 1.0
    assert ("keyword" in d.reason) if route == "cascade" else ("no article keyword" in d.reason)


def test_keyword_baseline_domains(keywords: Router) -> None:
    assert keywords.classify("这张化验单正常吗").domain == "medical"
    assert keywords.classify("合同第三条写了什么").domain == "legal"
    assert keywords.classify("发票金额是多少").domain == "finance"
    assert keywords.classify("图里有几只猫").domain == "none"


def test_unknown_router_kwarg_rejected() -> None:
    with pytest.raises(TypeError):
        load_router("keywords", model_path="x")
