"""The shipped artefact: loads, is reproducible, and the fast scorer matches scikit-learn."""

from __future__ import annotations

import hashlib
import logging
import subprocess
import sys
from pathlib import Path

import pytest

import routing.classifier as clf_module
from routing import load_router
from routing.classifier import LoadedModel, load_model
from routing.train import MODEL_PATH, TEST_PATH, load_jsonl, loads

REPO_ROOT = Path(__file__).resolve().parents[2]
PROMPTS = [
    "这个包是真皮的吗?",
    "Is this rash serious?",
    "What is the total on this receipt?",
    "图中有什么建议标语?",
    "帮我 describe 一下这张图",
    "",
    "ＦＵＬＬ？ width",
    "what's this",
]


@pytest.fixture(scope="module")
def rebuilt(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Run `python -m routing.train` in a fresh process, as a developer would."""
    out = tmp_path_factory.mktemp("model") / "router.pkl.gz"
    subprocess.run(
        [sys.executable, "-m", "routing.train", "--out", str(out), "--test", "/nonexistent"],
        cwd=REPO_ROOT,
        check=True,
        capture_output=True,
        timeout=600,
    )
    return out


def test_artefact_is_shipped_and_small() -> None:
    assert MODEL_PATH.exists()
    assert MODEL_PATH.stat().st_size < 5 * 1024 * 1024


def test_artefact_loads_with_its_sha_as_version() -> None:
    model = load_model()
    assert model.source == "artefact"
    assert model.version == hashlib.sha256(MODEL_PATH.read_bytes()).hexdigest()[:12]
    assert load_router().version == model.version


# Retraining gives the same model up to floating point, not bit for bit on every CPU: OpenBLAS
# picks its kernels by processor (an AMD EPYC box's rebuild differed from the artefact, made on
# another machine, by 1e-6 in the route model's weights; the domain model's lbfgs, stopped at
# its tolerance after 94 iterations, by up to 0.04 in a probability), with the same decision
# on all 14,611 prompts in routing/data. So the rebuild is checked by what it decides.
ROUTE_ATOL = 1e-4  # P(cascade)
DOMAIN_ATOL = 0.1  # domain probabilities


def _held_out_prompts() -> list[str]:
    return [r["prompt"] for r in load_jsonl(TEST_PATH)]


def _same_decisions(fresh, shipped, prompts: list[str]) -> None:
    """Two routers agree: P(cascade) and the domain probabilities within tolerance, and the
    route and domain they decide on (nearly) every prompt."""
    differ = []
    for q in prompts:
        a, b = fresh.classify(q), shipped.classify(q)
        sa, sb = fresh.score(q), shipped.score(q)
        assert sa.p_cascade == pytest.approx(sb.p_cascade, abs=ROUTE_ATOL), q
        if (a.route, a.domain) != (b.route, b.domain):
            differ.append(q)
    assert len(differ) <= len(prompts) // 500, differ[:5]


def test_rebuild_is_the_same_model(rebuilt: Path) -> None:
    fresh, shipped = loads(rebuilt.read_bytes()), loads(MODEL_PATH.read_bytes())
    prompts = [*PROMPTS, *_held_out_prompts()]
    # the features are computed exactly alike (no floating-point training in them)
    xf, xs = fresh["vectorizer"].transform(prompts), shipped["vectorizer"].transform(prompts)
    assert (xf != xs).nnz == 0
    assert fresh["domain_thresholds"] == shipped["domain_thresholds"]
    assert list(fresh["domain_clf"].classes_) == list(shipped["domain_clf"].classes_)
    pf, ps = fresh["domain_clf"].predict_proba(xf), shipped["domain_clf"].predict_proba(xs)
    assert abs(pf - ps).max() <= DOMAIN_ATOL
    rf, rs = fresh["route_clf"].predict_proba(xf), shipped["route_clf"].predict_proba(xs)
    assert abs(rf - rs).max() <= ROUTE_ATOL
    _same_decisions(load_router(model_path=rebuilt), load_router(), prompts)


def test_artefact_predictions_match_fresh_model(rebuilt: Path) -> None:
    fresh = loads(rebuilt.read_bytes())
    scorer = load_model().scorer
    x = fresh["vectorizer"].transform(PROMPTS)
    p_route = fresh["route_clf"].predict_proba(x)[:, 1]
    p_domain = fresh["domain_clf"].predict_proba(x)
    assert list(fresh["domain_clf"].classes_) == list(scorer.domains)
    for i, prompt in enumerate(PROMPTS):
        p, probs, _ = scorer.predict(prompt)
        assert p == pytest.approx(p_route[i], abs=ROUTE_ATOL)
        assert probs == pytest.approx(list(p_domain[i]), abs=DOMAIN_ATOL)


def test_fast_scorer_matches_sklearn_on_held_out() -> None:
    shipped = loads(MODEL_PATH.read_bytes())
    prompts = [r["prompt"] for r in load_jsonl(TEST_PATH)[:300]]
    x = shipped["vectorizer"].transform(prompts)
    p_route = shipped["route_clf"].predict_proba(x)[:, 1]
    scorer = load_model().scorer
    assert [scorer.predict(q)[0] for q in prompts] == pytest.approx(list(p_route), abs=1e-9)


def test_missing_artefact_trains_in_process(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="routing.classifier"):
        router = load_router("classifier", model_path=tmp_path / "nope.pkl.gz")
    assert "training in-process" in caplog.text
    assert router.source == "trained-in-process"
    assert len(router.version) == 12 and router.version != load_model().version
    # Same data, same seeds: the in-process model decides what the artefact decides.
    _same_decisions(router, load_router(), [*PROMPTS, *_held_out_prompts()])


def test_corrupt_artefact_falls_back(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    bad = tmp_path / "bad.pkl.gz"
    bad.write_bytes(b"not a model file")
    stub = LoadedModel(load_model().scorer, "stubversion", "trained-in-process")
    monkeypatch.setattr(clf_module, "_train_in_process", lambda: stub)
    router = load_router("classifier", model_path=bad)
    assert (router.source, router.version) == ("trained-in-process", "stubversion")


def test_char_ngrams_match_sklearn_with_the_word_cache(monkeypatch: pytest.MonkeyPatch) -> None:
    """The cached char_wb n-grams equal scikit-learn's analyzer, on a cold and a warm cache and
    across the cache's bound (it is cleared, not grown); long words are never cached."""
    from routing import fastlinear

    shipped = loads(MODEL_PATH.read_bytes())
    char = dict(shipped["vectorizer"].transformer_list)["char"]
    reference = char.build_analyzer()
    fast = fastlinear.fast_analyzer(char)
    monkeypatch.setattr(fastlinear, "_WORD_CACHE_SIZE", 5)
    monkeypatch.setattr(fastlinear, "_WORD_GRAMS", {})
    prompts = [*PROMPTS, *(r["prompt"] for r in load_jsonl(TEST_PATH)[:50])]
    for _ in range(2):
        for q in prompts:
            assert fast(q) == reference(q), q
    assert all(len(c) <= 5 for c in fastlinear._WORD_GRAMS.values())
    assert all(
        len(w) <= fastlinear._WORD_CACHE_MAX_LEN for c in fastlinear._WORD_GRAMS.values() for w in c
    )
    assert any(len(w) > fastlinear._WORD_CACHE_MAX_LEN for q in prompts for w in q.split())


def test_cached_ngrams_are_the_tables_own_keys() -> None:
    """With the block's table, a cached n-gram that is a feature is the table's key object (the
    scorer's look-up matches it by identity); the n-grams stay equal to scikit-learn's."""
    from routing import fastlinear

    scorer = load_model().scorer
    analyzer, table = scorer.blocks[0]
    assert scorer.normalized[0]  # the scorer hands it normalised text
    char = dict(loads(MODEL_PATH.read_bytes())["vectorizer"].transformer_list)["char"]
    fastlinear.clear_word_cache()
    q = "Is this rash serious, or should I see a Doctor?"
    assert analyzer(fastlinear.normalize(q)) == char.build_analyzer()(q)
    grams = analyzer(fastlinear.normalize(q))  # now from the cache
    keys = {id(k): k for k in table}
    features = [g for g in grams if g in table]
    assert features and all(id(g) in keys for g in features)


def test_every_block_reads_normalised_text_like_sklearn() -> None:
    """The scorer normalises a question once and hands the result to every block; each block's
    analyzer then yields exactly scikit-learn's features for the raw question."""
    from routing import fastlinear

    scorer = load_model().scorer
    vectorizer = loads(MODEL_PATH.read_bytes())["vectorizer"]
    assert scorer.normalized == (True, True, True)
    prompts = [*PROMPTS, *(r["prompt"] for r in load_jsonl(TEST_PATH)[:200])]
    prompts += ["Don't  SHOUT, it's fine", "ＡＢＣ　ｄｅｆ  ghi's", "a", "x y", "一 二 三 四"]
    for (analyzer, _), (_, vec) in zip(scorer.blocks, vectorizer.transformer_list, strict=True):
        reference = vec.build_analyzer()
        for q in prompts:
            assert analyzer(fastlinear.normalize(q)) == reference(q), (vec, q)
