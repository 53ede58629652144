"""Text normalisation shared by training, serving and keyword matching."""

from __future__ import annotations

import unicodedata


def normalize(text: str) -> str:
    """NFKC (full-width to half-width), lower-case, drop apostrophes, collapse whitespace.

    Apostrophes are dropped so that "what's" and "whats" become the same token; NFKC folds
    "？" into "?" so Chinese and ASCII punctuation share features. Module-level (not a lambda)
    because the fitted vectoriser pickles a reference to it.
    """
    text = unicodedata.normalize("NFKC", text).lower()
    text = text.replace("'", "").replace("\u2019", "")
    return " ".join(text.split())
