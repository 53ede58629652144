"""Small text helpers shared by the pipeline and the API."""

from __future__ import annotations

import re

_CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")


def detect_lang(text: str) -> str:
    """'zh' when the text has any CJK ideograph, else 'en' (the two languages we answer in)."""
    return "zh" if _CJK.search(text or "") else "en"
