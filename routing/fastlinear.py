"""A compact re-implementation of the fitted TF-IDF + logistic-regression scoring path.

scikit-learn's ``transform`` + ``predict_proba`` on one string spends most of its time on input
validation and sparse-matrix construction. The model is linear, so the same numbers come from a
vocabulary look-up, one dense gather and one small matrix product: per n-gram the idf is
pre-multiplied into every class weight. ``tests/routing`` checks that the result equals
scikit-learn's ``predict_proba``.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Sequence
from itertools import chain
from typing import Any

import numpy as np

Analyzer = Callable[[str], list[str]]


class FastLinearScorer:
    """Scores text exactly like ``clf.predict_proba(vectorizer.transform([text]))``.

    The vectoriser is a union of sublinear-tf, L2-normalised TF-IDF blocks. Column 0 of
    ``weights`` is the route (cascade) weight, columns 1.. the domain weights for ``domains``.

    Args:
        analyzers: one scikit-learn analyzer per block.
        vocabs: per block, n-gram -> global feature index.
        idf: idf per global feature.
        weights: ``(n_features, 1 + n_domains)`` logistic-regression weights times idf.
        intercepts: route intercept followed by the domain intercepts.
        domains: domain class names, in weight-column order.
    """

    def __init__(
        self,
        analyzers: Sequence[Analyzer],
        vocabs: Sequence[dict[str, int]],
        idf: np.ndarray,
        weights: np.ndarray,
        intercepts: Sequence[float],
        domains: Sequence[str],
    ) -> None:
        self.blocks = list(zip(analyzers, vocabs, strict=True))
        self.idf = idf
        self.weights = weights
        self.intercepts = [float(v) for v in intercepts]
        self.domains = tuple(domains)
        self.terms = [""] * len(idf)
        for vocab in vocabs:
            for term, j in vocab.items():
                self.terms[j] = term

    @classmethod
    def from_sklearn(cls, vectorizer: Any, route_clf: Any, domain_clf: Any) -> FastLinearScorer:
        """Compile a fitted ``FeatureUnion`` of TfidfVectorizers and two LogisticRegressions."""
        analyzers, vocabs, idfs, offset = [], [], [], 0
        for name, vec in vectorizer.transformer_list:
            if not (vec.sublinear_tf and vec.use_idf and vec.norm == "l2"):
                raise ValueError(f"block {name!r}: only sublinear-tf, idf, l2 is supported")
            analyzers.append(vec.build_analyzer())
            vocabs.append({t: offset + int(j) for t, j in vec.vocabulary_.items()})
            idfs.append(np.asarray(vec.idf_, dtype=np.float64))
            offset += len(vec.idf_)
        idf = np.concatenate(idfs)
        coef = np.vstack([route_clf.coef_[:1], domain_clf.coef_]).T  # (n_features, n_out)
        weights = np.ascontiguousarray(coef * idf[:, None])
        intercepts = [route_clf.intercept_[0], *domain_clf.intercept_]
        return cls(
            analyzers, vocabs, idf, weights, intercepts, [str(c) for c in domain_clf.classes_]
        )

    def predict(
        self, text: str, top: int = 3
    ) -> tuple[float, list[float], list[tuple[float, str]]]:
        """Return ``(p_cascade, domain probabilities, strongest route evidence)``.

        The evidence is up to ``top`` ``(contribution to the route logit, n-gram)`` pairs that
        push the way the model decided (positive = towards cascade).
        """
        counts = []
        for analyzer, vocab in self.blocks:
            get = vocab.get
            c = Counter([i for i in map(get, analyzer(text)) if i is not None])
            if c:
                counts.append(c)
        logits = list(self.intercepts)
        evidence: list[tuple[float, str]] = []
        if counts:
            sizes = [len(c) for c in counts]
            n = sum(sizes)
            idx = np.fromiter(chain.from_iterable(counts), np.intp, n)
            tf = np.fromiter(chain.from_iterable(c.values() for c in counts), np.float64, n)
            tf = np.log(tf) + 1.0  # sublinear tf
            value = tf * self.idf[idx]
            starts = np.cumsum([0, *sizes[:-1]])
            # x = tf * idf / ||tf * idf||_block; the idf is already inside self.weights.
            x = tf * np.repeat(1.0 / np.sqrt(np.add.reduceat(value * value, starts)), sizes)
            w = self.weights[idx]
            logits = [a + b for a, b in zip(logits, (x @ w).tolist(), strict=True)]
            route = (x * w[:, 0]).tolist()
            sign = 1.0 if logits[0] >= 0 else -1.0
            order = sorted(range(n), key=lambda k: -sign * route[k])[:top]
            terms, ids = self.terms, idx.tolist()
            evidence = [(route[k], terms[ids[k]]) for k in order if sign * route[k] > 0]
        z = logits[0]
        p = 1.0 / (1.0 + math.exp(-z)) if z >= 0 else math.exp(z) / (1.0 + math.exp(z))
        dl = logits[1:]
        m = max(dl)
        exps = [math.exp(v - m) for v in dl]
        total = sum(exps)
        return p, [e / total for e in exps], evidence
