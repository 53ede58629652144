"""`routing.answer_domain`: the answer side of the disclaimer decision."""

from __future__ import annotations

import statistics
import time

import pytest

from routing import answer_domain


@pytest.mark.parametrize(
    ("answer", "domain"),
    [
        (
            "This looks like shingles. Antiviral medication works best early, see a doctor.",
            "medical",
        ),
        ("这可能是湿疹，建议就医，不要自行服用抗生素。", "medical"),
        ("這個蘑菇有毒，不要食用。", "medical"),
        ("Adults can take 400 mg of ibuprofen every 6 hours.", "medical"),
        ("這支股票目前本益比偏高，若要投資請注意風險。", "finance"),
        ("At this P/E the stock looks overvalued; I would not invest more right now.", "finance"),
        ("这枚戒指的二手价大约值三千元。", "finance"),
        ("根据合同第五条，房东无权扣留押金，你可以要求赔偿。", "legal"),
        ("The car that ran the red light is likely at fault under local traffic laws.", "legal"),
        ("在這裡停車是違法的，可能會被罰款。", "legal"),
    ],
)
def test_sensitive_answers(answer: str, domain: str) -> None:
    got, reason = answer_domain(answer)
    assert got == domain, reason
    assert reason.startswith(f"{domain}: '")


@pytest.mark.parametrize(
    "answer",
    [
        "图中是一只橘猫，趴在沙发上睡觉。",
        "There are three cats and a dog in the picture.",
        "The sign says no parking between 8am and 6pm.",
        "The painting looks fine, the colors are balanced.",
        "圖片裡有兩個人在公園散步。",
        "The receipt was printed on March 3.",
        "",
    ],
)
def test_plain_answers(answer: str) -> None:
    assert answer_domain(answer) == (None, "no sensitive terms")


def test_one_weak_term_is_not_enough() -> None:
    got, reason = answer_domain("The price tag shows the regular price.")
    assert got is None and reason == "below threshold: finance 'price'"
    # a second weak word of the same domain crosses the threshold
    assert answer_domain("The price is high for a bag at this market.")[0] == "finance"


def test_ties_prefer_medical_then_legal() -> None:
    # one strong medical and one strong finance term: the costlier miss (medical) wins
    got, _ = answer_domain("Insurance may cover the fracture.")
    assert got == "medical"
    got, _ = answer_domain("The contract says the insurance is included.")
    assert got == "legal"


def test_word_boundaries() -> None:
    # "law" inside "lawn", "tax" inside "taxi" and "fund" inside "refund" are not terms
    assert answer_domain("Mow the lawn, then take a taxi to the fundraiser.")[0] is None


def test_fast_on_a_300_character_answer() -> None:
    zh = ("这可能是湿疹，建议就医，不要自行服用抗生素。图里还有一只猫在沙发上。" * 10)[:300]
    en = ("The image shows a kitchen with a wooden table, chairs and a window. " * 5)[:300]
    for text in (zh, en):
        answer_domain(text)
        times = []
        for _ in range(200):
            t0 = time.perf_counter()
            answer_domain(text)
            times.append((time.perf_counter() - t0) * 1e6)
        assert statistics.median(times) < 200.0


@pytest.mark.parametrize(
    "answer",
    [
        "A man in a white coat stands in a hospital corridor.",
        "Two children are playing on a basketball court.",
        "这是一家医院的大门。",
        "图片里有一瓶药和一杯水。",
        "这棵树好像得了病，叶子发黄。",
        "图中是一家银行的门口。",
    ],
)
def test_scene_descriptions_that_mention_a_domain_once(answer: str) -> None:
    """Describing a hospital, a bank or a court is not talking about health, money or law."""
    got, reason = answer_domain(answer)
    assert got is None and reason.startswith("below threshold: ")
