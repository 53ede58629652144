"""The shipped model on the held-out split of the hand-written data, and how that split is made."""

from __future__ import annotations

import pytest

from routing import Router, load_router, train
from routing.classifier import pick_domain
from routing.data import make_voices
from routing.data.make_data import _key
from routing.lang import infer_lang
from routing.train import (
    FRESH_HELDOUT,
    SPENT_HELDOUTS,
    VOICES_DEV_PATH,
    VOICES_TRAIN_PATH,
    fingerprint,
    heldout_rows,
    load_calibration,
    load_jsonl,
    training_rows,
)

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


def test_the_fresh_heldout_file_is_not_trained_on() -> None:
    """The README's router headline comes from FRESH_HELDOUT: never trained or calibrated on."""
    fresh = heldout_rows(FRESH_HELDOUT)
    assert len(fresh) >= 600
    assert FRESH_HELDOUT not in SPENT_HELDOUTS
    assert FRESH_HELDOUT not in load_calibration()["files"]
    trained = {_key(r["prompt"]) for r in training_rows()}
    assert not {_key(r["prompt"]) for r in fresh} & trained


def test_heldout11_is_not_trained_on() -> None:
    """The README's second fresh file: not trained on, not calibrated on. Written apart, a few
    short common questions ("what breed is this dog") still coincide with training lines."""
    rows = heldout_rows("heldout11")
    assert len(rows) == 640
    assert "heldout11" not in SPENT_HELDOUTS and "heldout11" not in load_calibration()["files"]
    trained = {_key(r["prompt"]) for r in training_rows()}
    shared = {_key(r["prompt"]) for r in rows} & trained
    assert len(shared) <= len(rows) // 30, sorted(shared)


def test_spent_heldout_files_are_trained_on() -> None:
    """Spent files (read in earlier rounds) train the model, each under its own name."""
    trained = {_key(r["prompt"]) for r in training_rows()}
    for name in SPENT_HELDOUTS:
        rows = heldout_rows(name)
        assert sum(_key(r["prompt"]) in trained for r in rows) >= 0.95 * len(rows), name
    without = {_key(r["prompt"]) for r in training_rows(SPENT_HELDOUTS[:-1])}
    last = {_key(r["prompt"]) for r in heldout_rows(SPENT_HELDOUTS[-1])}
    assert len(last - without) >= 0.9 * len(last)


def test_thresholds_json_matches_the_data_and_the_artefact() -> None:
    """`python -m routing.train --calibrate` was run on today's training data, and the shipped
    artefact uses the thresholds it chose (a forgotten recalibration fails here)."""
    cal = load_calibration()
    assert cal is not None
    assert cal["data_sha256"] == fingerprint(training_rows())
    assert cal["files"] == list(SPENT_HELDOUTS)
    assert load_router("classifier").domain_thresholds == cal["thresholds"]
    rates = cal["out_of_file"]
    for dom in SENSITIVE:
        assert rates[f"{dom}_recall"] >= cal["recall_floor"] or cal["thresholds"][dom] == 0.3
    assert set(cal["per_file"]) == set(SPENT_HELDOUTS)


def test_choose_thresholds_takes_the_highest_that_keeps_recall(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Ten medical rows scored 0.95 .. 0.50 and plain rows at 0.6: with a 0.8 recall floor the
    threshold is the eighth medical score (0.60), which also calls the plain rows medical; a
    0.7 floor allows 0.65 and the plain rows stay plain."""
    classes = ["finance", "legal", "medical", "none"]
    med = [0.95, 0.9, 0.85, 0.8, 0.75, 0.7, 0.65, 0.6, 0.55, 0.5]
    probs = [[0.0, 0.0, m, 1 - m] for m in med] + [[0.0, 0.0, 0.6, 0.4]] * 4
    labels = ["medical"] * 10 + ["none"] * 4
    langs = ["en"] * 14
    monkeypatch.setattr(train, "RECALL_FLOOR", 0.8)
    monkeypatch.setattr(train, "LANG_RECALL_FLOOR", 0.8)
    th, rates = train.choose_thresholds(probs, labels, langs, classes)
    assert th["medical"] == pytest.approx(0.6)
    assert rates["medical_recall"] == 0.8 and rates["plain_called_sensitive"] == 1.0
    monkeypatch.setattr(train, "RECALL_FLOOR", 0.7)
    monkeypatch.setattr(train, "LANG_RECALL_FLOOR", 0.7)
    th, rates = train.choose_thresholds(probs, labels, langs, classes)
    assert th["medical"] == pytest.approx(0.65)
    assert rates["medical_recall"] == 0.7 and rates["plain_called_sensitive"] == 0.0
    # a language floor binds on its own: the two lowest-scored rows are the only zh ones
    langs_zh = ["en"] * 8 + ["zh"] * 2 + ["en"] * 4
    th, rates = train.choose_thresholds(probs, labels, langs_zh, classes)
    assert th["medical"] == pytest.approx(0.5)
    assert rates["medical_recall_by_lang"] == {"en": 1.0, "zh": 1.0}
