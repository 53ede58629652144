"""Generate the router's training and held-out data, deterministically.

Sources: the Chinese and English templates (filled from :mod:`routing.data.slots` with surface
noise: politeness prefixes, punctuation, colloquialisms, typos, code-switching) and the
hand-written ``freeform_*.txt`` lists. The split is by *template* (and by free-form line), so the
test file measures generalisation to unseen phrasings rather than to unseen slot values.

Usage: ``python -m routing.data.make_data`` (rewrites ``train.jsonl`` and ``test.jsonl``).
"""

from __future__ import annotations

import hashlib
import json
import random
import re
from pathlib import Path

from routing.data.slots import (
    EN_PREFIXES,
    EN_SUFFIXES,
    SLOTS,
    ZH_COLLOQUIAL,
    ZH_PREFIXES,
    ZH_SUFFIXES,
)
from routing.data.templates_en import TEMPLATES_EN, TEMPLATES_EN_EXTRA
from routing.data.templates_zh import TEMPLATES_ZH, TEMPLATES_ZH_EXTRA

DATA_DIR = Path(__file__).resolve().parent
SEED = 20240607
TEST_PERCENT = 15
SAMPLES_PER_TEMPLATE = 6
FREEFORM_FILES = ("freeform_zh.txt", "freeform_en.txt", "freeform_mixed.txt", "freeform_long.txt")
ROUTES = {"d": "direct", "c": "cascade"}
DOMAINS = {"n": "none", "m": "medical", "f": "finance", "l": "legal"}

# The issue's own acceptance examples are kept out of the training data so that the tests that
# assert them measure generalisation, not memorisation.
HELD_OUT_EXAMPLES = {
    "这个包是真皮的吗",
    "is this rash serious",
    "can i eat this mushroom",
    "这个合同条款对我有利吗",
    "图中有什么建议标语",
    "what does the sign recommend",
    "这张化验单上写了几个指标",
    "what is the total on this receipt",
    "帮我看看这是什么病",
}

# Food, drink and poison safety is a health question (issue 12: "Is it safe to eat these
# mushrooms?" must get the medical disclaimer). The older sources filed it under none; this
# relabels those cascade questions instead of editing every template by hand.
_FOOD_SAFETY = re.compile(
    r"能吃|能不能吃|能喝|有毒|有没有毒|发霉|过期|safe to (eat|drink)|can i (still )?eat|"
    r"can my dog eat|edible|poisonous|toxic|ok to drink"
)


def relabel(route: str, domain: str, text: str) -> str:
    """Domain after the food-safety rule: cascade + none + a safety phrase becomes medical."""
    if route == "cascade" and domain == "none" and _FOOD_SAFETY.search(text.lower()):
        return "medical"
    return domain


_SLOT_RE = re.compile(r"\{(\w+)\}(s\b)?")
_TRAILING_PUNCT = "?？!！。.～~ "


def _key(text: str) -> str:
    """Normalised form used to de-duplicate and to exclude held-out prompts."""
    return re.sub(r"[\s?？!！。.,，~～:：;；]+", "", text.lower())


def _bucket(text: str) -> int:
    """Stable 0..99 bucket (Python's hash() is salted per process, so use sha256)."""
    return int(hashlib.sha256(text.encode("utf-8")).hexdigest()[:8], 16) % 100


def parse_templates(block: str, lang: str) -> list[dict]:
    """Parse a ``## route domain`` template block into dicts."""
    out: list[dict] = []
    route = domain = ""
    for raw in block.strip().splitlines():
        line = raw.strip()
        if not line:
            continue
        if line.startswith("##"):
            route, domain = line[2:].split()
            continue
        dom = relabel(route, domain, line)
        out.append({"template": line, "route": route, "domain": dom, "lang": lang})
    return out


def parse_freeform(path: Path) -> list[dict]:
    """Parse ``r d text`` lines (``#`` starts a comment)."""
    out = []
    for raw in path.read_text(encoding="utf-8").splitlines():
        if not raw.strip() or raw.startswith("#"):
            continue
        r, d, text = raw.split(" ", 2)
        route, domain = ROUTES[r], DOMAINS[d]
        domain = relabel(route, domain, text)
        out.append({"prompt": text.strip(), "route": route, "domain": domain})
    return out


def _plural(word: str) -> str:
    if word.endswith(("s", "fish", "sheep")):
        return word
    if word.endswith("y") and word[-2:-1] not in "aeiou":
        return word[:-1] + "ies"
    if word.endswith(("sh", "ch", "x")):
        return word + "es"
    return word + "s"


def fill(template: str, lang: str, rng: random.Random) -> str:
    """Fill every ``{slot}`` of a template; sometimes with the other language's word."""
    switch_p = 0.15 if lang == "zh" else 0.07

    def repl(m: re.Match) -> str:
        zh, en = rng.choice(SLOTS[m.group(1)])
        if lang == "zh":
            word = f" {en} " if rng.random() < switch_p else zh
        else:
            word = zh if rng.random() < switch_p else en
        return _plural(word) if m.group(2) else word

    return re.sub(r"\s+", " ", _SLOT_RE.sub(repl, template)).strip()


def _typo(word: str, rng: random.Random) -> str:
    i = rng.randrange(1, len(word) - 2)
    if rng.random() < 0.5:
        return word[:i] + word[i + 1] + word[i] + word[i + 2 :]
    return word[:i] + word[i + 1 :]


def noise_en(text: str, rng: random.Random) -> str:
    """Casual English surface variation: case, apostrophes, texting words, one typo."""
    text = text.rstrip(_TRAILING_PUNCT)
    if rng.random() < 0.2:
        text = text.replace("'", "")
    if rng.random() < 0.12:
        text = re.sub(r"\byou\b", "u", text)
        text = re.sub(r"\bare\b", "r", text)
        text = re.sub(r"\bplease\b", "pls", text)
    words = text.split(" ")
    long_words = [i for i, w in enumerate(words) if len(w) >= 5 and w.isalpha()]
    if long_words and rng.random() < 0.12:
        i = rng.choice(long_words)
        words[i] = _typo(words[i], rng)
    text = " ".join(words)
    prefix = rng.choice(EN_PREFIXES)
    if prefix and text[:1].isupper() and not text.startswith(("I ", "I'")):
        text = text[0].lower() + text[1:]
    text = prefix + text + rng.choice(EN_SUFFIXES)
    if rng.random() < 0.3:
        text = text.lower()
    return text.strip()


def noise_zh(text: str, rng: random.Random) -> str:
    """Casual Chinese surface variation: colloquial words, politeness, punctuation."""
    text = text.rstrip(_TRAILING_PUNCT)
    if rng.random() < 0.35:
        old, new = rng.choice(ZH_COLLOQUIAL)
        text = text.replace(old, new, 1)
    if rng.random() < 0.05:
        text = text.replace("的", rng.choice(["得", "滴", "地"]), 1)
    return (rng.choice(ZH_PREFIXES) + text + rng.choice(ZH_SUFFIXES)).strip()


def _is_zh(text: str) -> bool:
    return any("\u4e00" <= ch <= "\u9fff" for ch in text)


def noise(text: str, rng: random.Random) -> str:
    """Apply the noise model of the text's dominant language."""
    return noise_zh(text, rng) if _is_zh(text) else noise_en(text, rng)


def generate() -> tuple[list[dict], list[dict]]:
    """Return ``(train, test)`` rows; deterministic for a given SEED and source files."""
    rng = random.Random(SEED)
    excluded = {_key(t) for t in HELD_OUT_EXAMPLES}
    independent = DATA_DIR / "independent.jsonl"
    if independent.exists():
        for line in independent.read_text(encoding="utf-8").splitlines():
            excluded.add(_key(json.loads(line)["prompt"]))

    train: list[dict] = []
    test: list[dict] = []
    templates = [
        *parse_templates(TEMPLATES_ZH + TEMPLATES_ZH_EXTRA, "zh"),
        *parse_templates(TEMPLATES_EN + TEMPLATES_EN_EXTRA, "en"),
    ]
    for t in templates:
        has_slots = "{" in t["template"]
        n = SAMPLES_PER_TEMPLATE if has_slots else 3
        target = test if _bucket(t["template"]) < TEST_PERCENT else train
        for i in range(n):
            text = fill(t["template"], t["lang"], rng)
            # Keep one clean copy of every template, noise the rest.
            if i > 0 or rng.random() < 0.3:
                text = noise(text, rng)
            target.append({"prompt": text, "route": t["route"], "domain": t["domain"]})

    for name in FREEFORM_FILES:
        for row in parse_freeform(DATA_DIR / name):
            if _bucket(row["prompt"]) < TEST_PERCENT:
                test.append(row)
            else:
                train.append(row)
                train.append({**row, "prompt": noise(row["prompt"], rng)})

    def dedupe(rows: list[dict], seen: set[str]) -> list[dict]:
        out = []
        for row in rows:
            k = _key(row["prompt"])
            if k and k not in seen and k not in excluded:
                seen.add(k)
                out.append(row)
        return out

    seen: set[str] = set()
    test = dedupe(test, seen)
    train = dedupe(train, seen)  # a prompt already in test is dropped from train: no leakage
    return train, test


def write_jsonl(path: Path, rows: list[dict]) -> None:
    """Write rows as UTF-8 JSON lines (readable Chinese, stable key order)."""
    lines = [json.dumps(r, ensure_ascii=False) for r in rows]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def main() -> None:
    """Regenerate train.jsonl and test.jsonl next to this file."""
    train, test = generate()
    write_jsonl(DATA_DIR / "train.jsonl", train)
    write_jsonl(DATA_DIR / "test.jsonl", test)
    for name, rows in (("train", train), ("test", test)):
        routes = sum(r["route"] == "cascade" for r in rows)
        print(f"{name}: {len(rows)} rows, {routes} cascade, {len(rows) - routes} direct")


if __name__ == "__main__":
    main()
