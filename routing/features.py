"""Feature extraction and model construction (imports scikit-learn: never at package import)."""

from __future__ import annotations

from typing import Any

from routing.lexicon import lexicon_tokens
from routing.text import normalize

SEED = 1234
ROUTE_C = 16.0
DOMAIN_C = 16.0
# Character n-grams carry Chinese (no word boundaries) and typos; word n-grams add English
# phrases like "should i" / "worth it" that character n-grams only see in pieces. Up to 3-grams:
# on the hand-written dev split 1-3 matched or beat 1-4 (route 0.969 vs 0.966, sensitive recall
# as high, cross-validated over two halves) with 40 % fewer features, so fewer look-ups per call.
CHAR_PARAMS: dict[str, Any] = {
    "analyzer": "char_wb",
    "ngram_range": (1, 3),
    "min_df": 2,
    "sublinear_tf": True,
}
WORD_PARAMS: dict[str, Any] = {
    "analyzer": "word",
    "ngram_range": (1, 2),
    "min_df": 2,
    "sublinear_tf": True,
    "token_pattern": r"(?u)\b[a-z][a-z0-9]+\b",
}


# Lexicon categories (routing/lexicon.py) as a third block: features the model weighs, not rules.
LEX_PARAMS: dict[str, Any] = {"sublinear_tf": True, "lowercase": False}


def params() -> dict[str, Any]:
    """Every hyper-parameter that affects the fitted artefact (hashed into its version)."""
    return {
        "seed": SEED,
        "route_C": ROUTE_C,
        "domain_C": DOMAIN_C,
        "char": CHAR_PARAMS,
        "word": WORD_PARAMS,
        "lex": {
            **LEX_PARAMS,
            "analyzer": "routing.lexicon.lexicon_tokens",
            "lexicon": _lexicon_sha(),
        },
    }


def _lexicon_sha() -> str:
    """Hash of the lexicons, so that editing a word list changes the in-process model version."""
    import hashlib
    import json

    from routing.lexicon import LEXICONS

    return hashlib.sha256(json.dumps(LEXICONS, sort_keys=True).encode()).hexdigest()[:12]


def build_vectorizer() -> Any:
    """Char + word TF-IDF + lexicon-category union. Each block is L2-normalised on its own."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.pipeline import FeatureUnion

    return FeatureUnion(
        [
            ("char", TfidfVectorizer(preprocessor=normalize, **CHAR_PARAMS)),
            ("word", TfidfVectorizer(preprocessor=normalize, **WORD_PARAMS)),
            ("lex", TfidfVectorizer(analyzer=lexicon_tokens, **LEX_PARAMS)),
        ]
    )


def build_route_classifier() -> Any:
    """Binary logistic regression: P(cascade)."""
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(C=ROUTE_C, max_iter=5000, random_state=SEED)


def build_domain_classifier() -> Any:
    """Multinomial logistic regression over the four domains; balanced because most are none."""
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(C=DOMAIN_C, max_iter=5000, class_weight="balanced", random_state=SEED)
