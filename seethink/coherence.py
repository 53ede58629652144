"""Caption/answer coherence: how much of what the answer says is grounded in the caption.

A character n-gram (1-3) cosine similarity, which needs no model and works across Chinese
(no segmenter needed) and English. It measures shared content, not entailment: a paraphrase
with no shared words scores low and is then re-verified by the vision model, which is the
step that decides. An offline sentence-embedding model could replace this function; its
signature is the contract.
"""

from __future__ import annotations

import math
import re
from collections import Counter

_WS = re.compile(r"\s+")


def _grams(text: str) -> Counter:
    t = _WS.sub(" ", text.lower()).strip()
    c: Counter = Counter()
    for n in (1, 2, 3):
        c.update(t[i : i + n] for i in range(max(0, len(t) - n + 1)))
    return c


def coherence(caption: str, answer: str) -> float:
    """Cosine similarity of character n-gram counts, in [0, 1]; 0 when either is empty."""
    a, b = _grams(caption), _grams(answer)
    if not a or not b:
        return 0.0
    dot = sum(v * b[k] for k, v in a.items() if k in b)
    na = math.sqrt(sum(v * v for v in a.values()))
    nb = math.sqrt(sum(v * v for v in b.values()))
    return dot / (na * nb)
