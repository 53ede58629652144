"""Build ``voices/train.jsonl`` and ``voices/dev.jsonl`` from the hand-written ``voices_src``.

``voices_src/*.txt`` hold whole questions written by hand, in the voices of people using an image
app (simplified and traditional Chinese, English, code-switching; casual, elderly, teenage and
professional registers). A line ``@ route domain lang`` (route ``c``/``d``; domain
``m``/``f``/``l``/``n``; lang ``zh``/``hant``/``en``/``mixed``) labels the lines after it.

The split is by sentence (sha256 bucket of the normalised text, 20 % to ``dev.jsonl``). ``dev`` is
the held-out split of this data: the per-domain thresholds are chosen on it and the tests assert
recall on it; nothing from it is trained on. The train split gets one surface variant per sentence
(a context prefix, dropped punctuation, a typo), never a new sentence.

Usage: ``python -m routing.data.make_voices`` (deterministic; rewrites ``voices/*.jsonl``).
"""

from __future__ import annotations

import json
import random
import re
from pathlib import Path

from routing.data.make_data import DATA_DIR, _bucket, _key, write_jsonl

SRC_DIR = DATA_DIR / "voices_src"
OUT_DIR = DATA_DIR / "voices"
SEED = 20261129
DEV_PERCENT = 20
ROUTES = {"d": "direct", "c": "cascade"}
DOMAINS = {"n": "none", "m": "medical", "f": "finance", "l": "legal"}
LANGS = {"zh": "zh", "hant": "zh-Hant", "en": "en", "mixed": "mixed"}

# Context that real users put in front of a question; it carries no label information.
PREFIXES = {
    "zh": ["", "你好，", "麻烦问下，", "我妈发来的照片，", "在吗 ", "急！", "帮我看看 ", "请问 "],
    "zh-Hant": ["", "你好，", "請問一下，", "我媽傳來的照片，", "在嗎 ", "急！", "幫我看看 "],
    "en": ["", "hi, ", "quick question: ", "my mom sent me this. ", "hey ", "ok so ", "sorry, "],
    "mixed": ["", "hi ", "请问 ", "quick q ", "帮我看看 ", "hey 在吗 "],
}
SUFFIXES = {
    "zh": ["", "？", "谢谢", "，急", "啊", "呢"],
    "zh-Hant": ["", "？", "謝謝", "，急", "啊"],
    "en": ["", "?", " thanks", " pls", "??"],
    "mixed": ["", "?", " thx", " 谢谢"],
}
_PUNCT = re.compile(r"[?？!！。.,，、~～]+")


def parse(path: Path) -> list[dict[str, str]]:
    """Rows of one source file, labelled by the ``@`` line above them."""
    rows, labels = [], None
    for n, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("@"):
            r, d, lang = line[1:].split()
            labels = (ROUTES[r], DOMAINS[d], LANGS[lang])
            continue
        if labels is None:
            raise ValueError(f"{path.name}:{n}: text before the first '@ route domain lang' line")
        route, domain, lang = labels
        rows.append({"prompt": line, "route": route, "domain": domain, "lang": lang})
    return rows


def _typo(text: str, rng: random.Random) -> str:
    words = text.split(" ")
    long_words = [i for i, w in enumerate(words) if len(w) >= 5 and w.isascii() and w.isalpha()]
    if not long_words:
        return text
    i = rng.choice(long_words)
    w = words[i]
    j = rng.randrange(1, len(w) - 2)
    words[i] = w[:j] + w[j + 1] + w[j] + w[j + 2 :]
    return " ".join(words)


def variant(row: dict[str, str], rng: random.Random) -> str:
    """One surface variant of a question: context prefix, punctuation, case, a typo."""
    text, lang = row["prompt"], row["lang"]
    if rng.random() < 0.5:
        text = _PUNCT.sub(" ", text).strip()
    if lang in ("en", "mixed") and rng.random() < 0.4:
        text = _typo(text.lower(), rng)
    text = rng.choice(PREFIXES[lang]) + text.rstrip("?？") + rng.choice(SUFFIXES[lang])
    return " ".join(text.split())


def excluded_keys() -> set[str]:
    """Prompts that must never be trained on: the older independent set."""
    path = DATA_DIR / "independent.jsonl"
    lines = path.read_text(encoding="utf-8").splitlines() if path.exists() else []
    return {_key(json.loads(line)["prompt"]) for line in lines if line.strip()}


def generate() -> tuple[list[dict[str, str]], list[dict[str, str]]]:
    """Return ``(train, dev)``; deterministic for the source files and SEED."""
    rng = random.Random(SEED)
    excluded, seen = excluded_keys(), set()
    train: list[dict[str, str]] = []
    dev: list[dict[str, str]] = []
    for path in sorted(SRC_DIR.glob("*.txt")):
        for row in parse(path):
            k = _key(row["prompt"])
            if k in seen or k in excluded:
                continue
            seen.add(k)
            if _bucket(k) < DEV_PERCENT:
                dev.append(row)
                continue
            train.append(row)
            v = variant(row, rng)
            if _key(v) not in seen:
                seen.add(_key(v))
                train.append({**row, "prompt": v})
    return train, dev


def main() -> None:
    """Rewrite ``voices/train.jsonl`` and ``voices/dev.jsonl``."""
    train, dev = generate()
    OUT_DIR.mkdir(exist_ok=True)
    write_jsonl(OUT_DIR / "train.jsonl", train)
    write_jsonl(OUT_DIR / "dev.jsonl", dev)
    for name, rows in (("train", train), ("dev", dev)):
        print(f"voices/{name}: {len(rows)} rows")


if __name__ == "__main__":
    main()
