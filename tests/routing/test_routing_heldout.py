"""The shipped model on the held-out split of the hand-written data, and how that split is made."""

from __future__ import annotations

import pytest

from routing import Router, load_router
from routing.classifier import pick_domain
from routing.data import make_voices
from routing.data.make_data import _key
from routing.lang import infer_lang
from routing.train import VOICES_DEV_PATH, VOICES_TRAIN_PATH, load_jsonl, training_rows

SENSITIVE = ("medical", "finance", "legal")


@pytest.fixture(scope="module")
def dev() -> list[dict[str, str]]:
    return load_jsonl(VOICES_DEV_PATH)


@pytest.fixture(scope="module")
def decided(classifier: Router, dev: list[dict[str, str]]) -> list[tuple[dict, object]]:
    return [(r, classifier.classify(r["prompt"])) for r in dev]


def test_dev_split_is_not_trained_on(dev: list[dict[str, str]]) -> None:
    trained = {_key(r["prompt"]) for r in training_rows()}
    assert len(dev) > 500
    assert not {_key(r["prompt"]) for r in dev} & trained


def test_voices_files_are_what_make_voices_writes() -> None:
    train, dev = make_voices.generate()
    assert load_jsonl(VOICES_TRAIN_PATH) == train
    assert load_jsonl(VOICES_DEV_PATH) == dev


def test_dev_covers_every_language_and_label(dev: list[dict[str, str]]) -> None:
    for lang in ("zh", "zh-Hant", "en", "mixed"):
        rows = [r for r in dev if r["lang"] == lang]
        assert len(rows) >= 50, lang
    for dom in SENSITIVE:
        for route in ("direct", "cascade"):
            assert any(r["domain"] == dom and r["route"] == route for r in dev), (dom, route)


@pytest.mark.parametrize("domain", SENSITIVE)
def test_sensitive_recall_on_dev(decided: list, domain: str) -> None:
    """The per-domain thresholds were chosen on this split for recall: it must show.

    A regression floor, not the goal: the dev split holds a fifth of every weak-spot batch
    (zweak16-20: sensitive questions without their domain's words, plain questions with them),
    so it is harder than users' questions; the model was at 0.903-0.931 here when this floor
    was last checked. The goals (0.90 recall, 5 % plain) are measured on the independent
    held-out files (README, Measured)."""
    rows = [(r, d) for r, d in decided if r["domain"] == domain]
    recall = sum(d.domain == domain for r, d in rows) / len(rows)
    assert recall >= 0.88, f"{domain} recall {recall:.3f}"


def test_plain_questions_rarely_called_sensitive(decided: list) -> None:
    plain = [d for r, d in decided if r["domain"] == "none"]
    rate = sum(d.domain != "none" for d in plain) / len(plain)
    # 0.076 today: since zweak20 the split holds ~60 plain look-alikes ("pillows", 保险杠,
    # 药店旁边的面包店); the model before zweak20 called 0.080 of this split's plain rows
    # sensitive, and 0.051 of the split before it. A regression floor; see above.
    assert rate <= 0.085, f"plain called sensitive {rate:.3f}"


def test_route_accuracy_per_language_on_dev(decided: list) -> None:
    for lang in ("zh", "zh-Hant", "en", "mixed"):
        rows = [(r, d) for r, d in decided if r["lang"] == lang]
        acc = sum(d.route == r["route"] for r, d in rows) / len(rows)
        assert acc >= 0.93, f"{lang} route accuracy {acc:.3f}"


@pytest.mark.parametrize(
    ("prompt", "route", "domain"),
    [
        ("What is the likely diagnosis given this skin lesion?", "cascade", "medical"),
        ("这张X光片是否异常?", "cascade", "medical"),
        ("图中的老人摔倒了,接下来该怎么急救?", "cascade", "medical"),
        ("Is it safe to eat these mushrooms?", "cascade", "medical"),
        ("Who is at fault in this traffic accident?", "cascade", "legal"),
        ("How many shapes are there?", "direct", "none"),
    ],
)
def test_issue_12_examples(classifier: Router, prompt: str, route: str, domain: str) -> None:
    """The misses the issue lists (some are in the hand-written data, so this is a floor)."""
    d = classifier.classify(prompt)
    assert (d.route, d.domain) == (route, domain), d.reason


def test_pick_domain_thresholds() -> None:
    domains = ("finance", "legal", "medical", "none")
    t = {"medical": 0.3, "finance": 0.5, "legal": 0.5}
    assert pick_domain([0.1, 0.1, 0.35, 0.45], domains, t) == (2, 0.3)  # medical over argmax none
    assert pick_domain([0.05, 0.05, 0.2, 0.7], domains, t) == (3, None)
    # two sensitive domains pass: the one furthest above its threshold (0.55/0.5 < 0.4/0.3)
    assert pick_domain([0.55, 0.0, 0.4, 0.05], domains, t)[0] == 2
    assert pick_domain([0.6, 0.1, 0.2, 0.1], domains, {})[0] == 0  # no thresholds: argmax


def test_domain_threshold_override_and_validation() -> None:
    strict = load_router("classifier", domain_thresholds={"medical": 1.0})
    assert strict.domain_thresholds["medical"] == 1.0
    assert strict.classify("这个疹子要紧吗").domain != "medical"
    with pytest.raises(ValueError, match="medical, finance, legal"):
        load_router("classifier", domain_thresholds={"none": 0.5})
    with pytest.raises(ValueError, match=r"\(0, 1\]"):
        load_router("classifier", domain_thresholds={"legal": 0.0})


@pytest.mark.parametrize(
    ("text", "lang"),
    [
        ("图里有几只猫", "zh"),
        ("圖裡有幾隻貓", "zh-Hant"),
        ("How many cats?", "en"),
        ("这个 rash 要紧吗", "mixed"),
        ("這個 skin 上的紅點要緊嗎", "mixed"),
        ("这张X光片是否异常", "zh"),  # a lone "X" does not make it mixed
    ],
)
def test_infer_lang(text: str, lang: str) -> None:
    assert infer_lang(text) == lang


def test_infer_lang_agrees_with_labels(dev: list[dict[str, str]]) -> None:
    agree = sum(infer_lang(r["prompt"]) == r["lang"] for r in dev) / len(dev)
    assert agree >= 0.9


@pytest.mark.parametrize("name", ["heldout2", "heldout3", "heldout4", "heldout5", "heldout6"])
def test_the_fresh_heldout_files_are_not_trained_on(name: str) -> None:
    """The README's router numbers come from these files: they must not be in the training data."""
    from pathlib import Path

    path = Path(__file__).parents[2] / "routing" / "data" / name / f"voices_{name}.jsonl"
    heldout = load_jsonl(path)
    assert len(heldout) >= 600
    trained = {_key(r["prompt"]) for r in training_rows()}
    # written apart, a few short common questions ("这张小票一共多少钱") still coincide with
    # training lines (5-7 per file); `routing.evaluate --unseen` leaves them out
    shared = {_key(r["prompt"]) for r in heldout} & trained
    assert len(shared) <= len(heldout) // 50, sorted(shared)
