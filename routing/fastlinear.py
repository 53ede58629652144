"""A compact re-implementation of the fitted TF-IDF + logistic-regression scoring path.

scikit-learn's ``transform`` + ``predict_proba`` on one string spends most of its time on input
validation and sparse-matrix construction. The model is linear, so the same numbers come from a
dictionary look-up per n-gram and a few multiply-adds: per n-gram the idf and every output's
weight sit in one tuple (the idf already multiplied into the weights). For one short question this
is plain Python on purpose: numpy's per-call overhead (array creation, fancy indexing) costs more
than the arithmetic. ``tests/routing`` checks that the result equals scikit-learn's
``predict_proba``.
"""

from __future__ import annotations

import functools
import math
import re
from collections import Counter
from collections.abc import Callable, Sequence
from operator import mul
from typing import Any

from routing.text import normalize

Analyzer = Callable[[str], list[str]]
# n-gram -> (idf ** 2, route weight * idf, domain weights * idf ..., the n-gram itself)
Table = dict[str, tuple]
# per block: route weights (times tf) of the n-grams found, the n-grams, 1 / the block's norm
Evidence = tuple[Sequence[float], Sequence[str], float]


def char_wb_ngrams(
    text: str, lo: int, hi: int, table: Table | None = None, normalized: bool = False
) -> list[str]:
    """scikit-learn's ``char_wb`` n-grams of ``normalize(text)``, in the same order, faster.

    Per word padded with spaces: all n-grams for n = lo..hi, except that once the padded word is
    no longer than n it is emitted once, whole, and longer n are skipped (sklearn's rule). A
    short word's n-grams are cached: the words of questions repeat, and slicing a word costs
    ~15 times a dictionary hit. With the block's ``table``, a cached n-gram that is a feature is
    the table's own key object: the scorer's look-up then matches it by identity, without
    reading the stored key (a memory wait the benchmark showed to dominate). ``normalized``:
    ``text`` is already ``normalize``'s output (the scorer normalises once for all blocks).
    """
    out: list[str] = []
    cache = _WORD_GRAMS.setdefault((lo, hi, id(table)), {})
    for word in (text if normalized else normalize(text)).split():
        if len(word) > _WORD_CACHE_MAX_LEN:  # a Chinese clause, a URL: rarely seen twice
            out += _word_ngrams(word, lo, hi)
            continue
        grams = cache.get(word)
        if grams is None:
            grams = _word_ngrams(word, lo, hi)
            if table is not None:
                grams = tuple(r[-1] if (r := table.get(g)) is not None else g for g in grams)
            if len(cache) >= _WORD_CACHE_SIZE:
                cache.clear()  # bounded: a flood of new words cannot grow it without end
            cache[word] = grams
        out += grams
    return out


def clear_word_cache() -> None:
    """Forget every cached word (``routing.bench`` measures a cold cache with it)."""
    for cache in _WORD_GRAMS.values():
        cache.clear()


def _word_ngrams(word: str, lo: int, hi: int) -> tuple[str, ...]:
    w = f" {word} "
    size = len(w)
    grams: list[str] = []
    for n in range(lo, hi + 1):
        if size <= n:
            grams.append(w)
            break
        grams += [w[i : i + n] for i in range(size - n + 1)]
    return tuple(grams)


# Words up to 16 characters, 10,000 of them: at most ~45 n-grams each, so the cache stays under
# ~30 MB whatever a client sends (a whole Chinese question is one "word" and is not cached).
_WORD_CACHE_SIZE = 10_000
_WORD_CACHE_MAX_LEN = 16
_WORD_GRAMS: dict[tuple[int, int, int], dict[str, tuple[str, ...]]] = {}
# 1 + log(count): the sublinear tf of an n-gram seen ``count`` times, looked up, not computed
_TF = (0.0, *(1.0 + math.log(c) for c in range(1, 256)))


def word_ngrams(text: str, pattern: re.Pattern[str], lo: int, hi: int) -> list[str]:
    """scikit-learn's ``word`` analyzer on already normalised ``text`` (no stop words): the
    tokens, then the space-joined n-grams for n = max(lo, 2)..hi, in scikit-learn's order."""
    tokens = pattern.findall(text)
    out = list(tokens) if lo == 1 else []
    n_tokens = len(tokens)
    for n in range(max(lo, 2), min(hi, n_tokens) + 1):
        out += [" ".join(tokens[i : i + n]) for i in range(n_tokens - n + 1)]
    return out


def normalized_analyzer(vec: Any, table: Table | None = None) -> Analyzer | None:
    """An analyzer equal to ``vec``'s on text that ``normalize`` already ran over, or None
    (then the block gets the raw text and ``fast_analyzer``)."""
    from routing.lexicon import lexicon_tokens, lexicon_tokens_normalized

    if vec.analyzer is lexicon_tokens:
        return lexicon_tokens_normalized
    if vec.preprocessor is not normalize or getattr(vec, "stop_words", None) is not None:
        return None
    lo, hi = vec.ngram_range
    if vec.analyzer == "char_wb":
        return functools.partial(char_wb_ngrams, lo=lo, hi=hi, table=table, normalized=True)
    if vec.analyzer == "word" and vec.tokenizer is None:
        pattern = re.compile(vec.token_pattern)
        return functools.partial(word_ngrams, pattern=pattern, lo=lo, hi=hi)
    return None


def fast_analyzer(vec: Any) -> Analyzer:
    """The vectoriser's analyzer on raw text, or an equivalent faster one for the ``char_wb``
    block."""
    if vec.analyzer == "char_wb" and vec.preprocessor is normalize:
        return functools.partial(char_wb_ngrams, lo=vec.ngram_range[0], hi=vec.ngram_range[1])
    return vec.build_analyzer()


class FastLinearScorer:
    """Scores text exactly like ``clf.predict_proba(vectorizer.transform([text]))``.

    The vectoriser is a union of sublinear-tf, L2-normalised TF-IDF blocks. Output 0 is the route
    (cascade) logit, outputs 1.. the domain logits for ``domains``.

    Args:
        analyzers: one scikit-learn analyzer per block.
        tables: per block, n-gram -> ``(idf ** 2, *weights_times_idf, n-gram)``.
        intercepts: route intercept followed by the domain intercepts.
        domains: domain class names, in output order.
        normalized: per block, whether its analyzer takes ``normalize``'s output (the text is
            then normalised once for all such blocks) instead of the raw text.
    """

    def __init__(
        self,
        analyzers: Sequence[Analyzer],
        tables: Sequence[Table],
        intercepts: Sequence[float],
        domains: Sequence[str],
        normalized: Sequence[bool] | None = None,
    ) -> None:
        self.blocks = list(zip(analyzers, tables, strict=True))
        self.normalized = tuple(normalized or [False] * len(self.blocks))
        self.intercepts = tuple(float(v) for v in intercepts)
        self.domains = tuple(domains)
        self.n_out = len(self.intercepts)

    @classmethod
    def from_sklearn(cls, vectorizer: Any, route_clf: Any, domain_clf: Any) -> FastLinearScorer:
        """Compile a fitted ``FeatureUnion`` of TfidfVectorizers and two LogisticRegressions."""
        import numpy as np

        coef = np.vstack([route_clf.coef_[:1], domain_clf.coef_]).T  # (n_features, n_out)
        analyzers, tables, pre, offset = [], [], [], 0
        for name, vec in vectorizer.transformer_list:
            if not (vec.sublinear_tf and vec.use_idf and vec.norm == "l2"):
                raise ValueError(f"block {name!r}: only sublinear-tf, idf, l2 is supported")
            idf = np.asarray(vec.idf_, dtype=np.float64)
            w = coef[offset : offset + len(idf)] * idf[:, None]
            rows = np.hstack([(idf * idf)[:, None], w]).tolist()
            # sorted: the table's insertion order (and so any tie order) is reproducible
            tables.append({t: (*rows[j], t) for t, j in sorted(vec.vocabulary_.items())})
            fast = normalized_analyzer(vec, tables[-1])
            analyzers.append(fast or fast_analyzer(vec))
            pre.append(fast is not None)
            offset += len(idf)
        if offset != coef.shape[0]:
            raise ValueError(f"vectoriser has {offset} features, classifiers {coef.shape[0]}")
        intercepts = [route_clf.intercept_[0], *domain_clf.intercept_]
        return cls(analyzers, tables, intercepts, [str(c) for c in domain_clf.classes_], pre)

    def logits(self, text: str, top: int = 0) -> tuple[list[float], list[Evidence]]:
        """Raw logits (route, then domains) and, with ``top``, per block the n-grams' route
        weights (times tf), the n-grams and the block's ``1 / norm``.

        With ``x_i = tf_i / ||tf * idf||``, ``sum_i x_i w_ij`` equals
        ``(sum_i tf_i w_ij) / ||tf * idf||``: the look-ups, the column sums and the norm run in
        C (``map``, ``filter``, ``zip``, ``sum``) as if every n-gram occurred once, then the few
        repeated n-grams (sublinear tf ``1 + log(count)``) are corrected one by one.
        """
        out = list(self.intercepts)
        n_out = self.n_out
        parts: list[Evidence] = []
        norm = normalize(text) if any(self.normalized) else text
        for (analyzer, table), pre in zip(self.blocks, self.normalized, strict=True):
            grams = analyzer(norm if pre else text)
            counts = Counter(grams)
            rows = list(filter(None, map(table.get, counts)))
            if not rows:
                continue
            cols = list(zip(*rows, strict=True))
            norm2 = sum(cols[0])
            sums = [sum(cols[j + 1]) for j in range(n_out)]
            route = cols[1]
            if len(counts) != len(grams):
                # Repeated n-grams (sublinear tf 1 + log c instead of 1): the corrections run as
                # C-level sums over the few repeated rows, not a Python loop per row and column.
                reps = [(t, c) for t, c in counts.items() if c > 1 and t in table]
                if reps:
                    rrows = [table[t] for t, _ in reps]
                    tfs = [_TF[c] if c < 256 else 1.0 + math.log(c) for _, c in reps]
                    d1 = [tf - 1.0 for tf in tfs]
                    rcols = list(zip(*rrows, strict=True))
                    norm2 += sum(map(mul, [tf * tf - 1.0 for tf in tfs], rcols[0]))
                    for j in range(n_out):
                        sums[j] += sum(map(mul, d1, rcols[j + 1]))
                    if top:
                        # positions of the repeated n-grams: tuple.index (C) for a few, one
                        # dict for many (English questions repeat dozens of character n-grams)
                        terms = cols[-1]
                        if len(reps) > 8:
                            where = {t: i for i, t in enumerate(terms)}
                            pos = [where[t] for t, _ in reps]
                        else:
                            pos = [terms.index(t) for t, _ in reps]
                        route = list(route)
                        for i, tf, row in zip(pos, tfs, rrows, strict=True):
                            route[i] = tf * row[1]
            inv = 1.0 / math.sqrt(norm2)
            for j in range(n_out):
                out[j] += sums[j] * inv
            if top:
                parts.append((route, cols[-1], inv))
        return out, parts

    def predict(
        self, text: str, top: int = 3
    ) -> tuple[float, list[float], list[tuple[float, str]]]:
        """Return ``(p_cascade, domain probabilities, strongest route evidence)``.

        The evidence is up to ``top`` ``(contribution to the route logit, n-gram)`` pairs that
        push the way the model decided (positive = towards cascade).
        """
        logits, parts = self.logits(text, top)
        z = logits[0]
        p = 1.0 / (1.0 + math.exp(-z)) if z >= 0 else math.exp(z) / (1.0 + math.exp(z))
        # Within a block every contribution is scaled by the same positive 1 / norm, so the
        # block's own top n-grams are found unscaled and only those few are scaled and merged.
        # sorted() over bare floats runs in C (heapq.nlargest loops in Python: twice the time
        # for ~100 n-grams), and the few winners find their n-gram by index.
        desc = z >= 0
        merged = [
            (w * inv, terms[i])
            for route, terms, inv in parts
            for w, i in _indexed(sorted(route, reverse=desc)[:top], route)
        ]
        sign = 1.0 if desc else -1.0
        # sorted(...)[:top] is what heapq.nlargest / nsmallest are documented to equal; for a
        # handful of pairs the C sort is cheaper than the heap's Python loop
        evidence = [c for c in sorted(merged, reverse=desc)[:top] if sign * c[0] > 0]
        dl = logits[1:]
        m = max(dl)
        exps = [math.exp(v - m) for v in dl]
        total = sum(exps)
        return p, [e / total for e in exps], evidence


def _indexed(values: list[float], seq: Sequence[float]) -> list[tuple[float, int]]:
    """``(value, position in seq)`` for each of ``values`` (taken from ``seq``); equal values
    get successive positions, so no n-gram is named twice."""
    out: list[tuple[float, int]] = []
    used: set[int] = set()
    for v in values:
        i = seq.index(v)
        while i in used:
            i = seq.index(v, i + 1)
        used.add(i)
        out.append((v, i))
    return out
