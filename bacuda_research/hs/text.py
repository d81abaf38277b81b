"""What the encoder reads: one string per row, built the same way in training and prediction.

Real inputs are noisy: declaration texts, or marketplace titles ("NEW 2pcs Women's Cotton Tee
Shirt ... Free Shipping") with a JSON string of attributes and a category path. ``compose_input``
turns (text, attributes, category) into one normalised string; ``augment_title`` makes a clean
nomenclature text look like such a title, so a model trained on nomenclature texts has seen the
kind of noise it will meet.
"""

from __future__ import annotations

import json
import random
import re
import unicodedata
from typing import Any, Mapping, Sequence

# Attribute keys that say what the goods are (HS classifies by material, function, state);
# brand, price, colour, size and the like only add noise. Matched case-insensitively as substrings.
USEFUL_ATTRIBUTES = (
    "material", "fabric", "composition", "type", "product", "item", "style", "use", "usage",
    "function", "ingredient", "content", "form", "fiber", "fibre", "metal", "power", "voltage",
    "gender", "department", "construction", "knit", "processing", "storage", "species", "origin",
)
_SPACES = re.compile(r"\s+")
# Marketplace boilerplate that never names goods (removed from titles by ``clean_title``).
_TITLE_BOILERPLATE = re.compile(
    r"\b(free shipping|fast (delivery|shipping)|hot sales?|best sellers?|new arrivals?|brand new|"
    r"high quality|top rated|limited edition|dropshipping|wholesale price|100% (original|genuine|brand new)|"
    r"(19|20)\d\d (new|newest|upgraded|version|model)|(new|newest|upgraded) (19|20)\d\d)\b", re.I)
_SYMBOLS = re.compile(r"[\u2600-\u27bf\U0001F000-\U0001FAFF\u2B00-\u2BFF\uFE0F]+")  # emoji, dingbats, stars
# Category levels that say nothing about the goods ("All Products", "Featured", "Others").
_GENERIC_LEVELS = {"all", "all products", "all categories", "featured", "other", "others", "more", "misc",
                   "miscellaneous", "general", "new arrivals", "best sellers", "deals", "sale"}
_NOISE_MARKS = re.compile(r"[|_*#~^<>\[\]{}()\"“”]+")
_NOMENCLATURE_MARKS = re.compile(r"(^|\s)[-–]\s*[-–\s]*")  # "- - Other" indent dashes


def normalize_text(text: Any) -> str:
    """NFKC, stray markup removed, whitespace collapsed. Case is kept: encoders decide themselves."""
    if text is None or (isinstance(text, float) and text != text):
        return ""
    s = unicodedata.normalize("NFKC", str(text))
    s = _NOISE_MARKS.sub(" ", s.replace("\n", " "))
    s = _NOMENCLATURE_MARKS.sub(" ", s)
    return _SPACES.sub(" ", s).strip(" ;,.")


def parse_attributes(attributes: Any) -> dict[str, str]:
    """A JSON object string (or dict) of attributes -> ``{key: value}``; anything else -> ``{}``."""
    if attributes is None or (isinstance(attributes, float) and attributes != attributes):
        return {}
    if isinstance(attributes, Mapping):
        data = dict(attributes)
    else:
        try:
            data = json.loads(str(attributes))
        except (ValueError, TypeError):
            return {}
    if not isinstance(data, dict):
        return {}
    out = {}
    for k, v in data.items():
        if isinstance(v, (list, tuple)):
            v = ", ".join(str(x) for x in v)
        if v is None or str(v).strip() == "":
            continue
        out[str(k)] = str(v)
    return out


def clean_title(text: Any) -> str:
    """``normalize_text`` plus removal of emoji and marketplace boilerplate ("Free Shipping",
    "2025 New", "Hot Sale"): phrases that never name goods. Goods words are never removed."""
    s = normalize_text(_SYMBOLS.sub(" ", "" if text is None else str(text)))
    return _SPACES.sub(" ", _TITLE_BOILERPLATE.sub(" ", s)).strip(" ;,.-")


def compose_input(text: Any, attributes: Any = None, category: Any = None, category_levels: int = 3) -> str:
    """One string from a title, its attributes and its category path.

    Order matters under truncation: the (cleaned, ``clean_title``) title first, then the last
    ``category_levels`` informative category levels (the specific end of "Clothing > Women > Tops
    > T-Shirts"; generic levels such as "All Products" are skipped), then the attributes that
    describe the goods (``USEFUL_ATTRIBUTES``).
    """
    parts = [clean_title(text) if not (isinstance(text, float) and text != text) else ""]
    if category is not None and not (isinstance(category, float) and category != category):
        # split before normalising: ">" is also stray markup that normalize_text removes
        levels = [normalize_text(c) for c in re.split(r"\s*(?:>|/|›|»|\\|\|)\s*", str(category))]
        levels = [c for c in levels if c and c.lower() not in _GENERIC_LEVELS]
        if levels:
            parts.append("category: " + " > ".join(levels[-category_levels:]))
    attrs = parse_attributes(attributes)
    useful = [f"{k.replace('_', ' ')}: {normalize_text(v)}" for k, v in attrs.items()
              if any(u in k.lower() for u in USEFUL_ATTRIBUTES)]
    if useful:
        parts.append("; ".join(useful))
    return " | ".join(p for p in parts if p)


_MARKETING = (
    "new", "hot sale", "premium", "high quality", "2024", "2025", "free shipping", "best seller", "original",
    "wholesale", "for home", "for men", "for women", "1 pc", "2pcs", "pack of 3", "set", "portable", "durable",
    "deluxe", "genuine", "oem", "bulk", "eco friendly", "gift",
)
_STOP = {"of", "the", "a", "an", "or", "and", "for", "with", "whether", "not", "other", "than", "n.e.c", "nes",
         "in", "its", "their", "but", "including", "excluding", "heading", "subheading", "chapter"}


def augment_title(text: str, rng: random.Random) -> str:
    """A noisy, title-like variant of a clean description (random, reproducible through ``rng``).

    Imitates marketplace titles: only some clauses kept (most specific first), function words
    dropped, words shuffled a little, marketing filler and quantities added, casing varied.
    Labels are unchanged: every operation keeps the goods' identity words.
    """
    clauses = [c.strip() for c in re.split(r"[;:>|]", text) if c.strip()]
    if not clauses:
        return text
    # The last clauses are the most specific in chained texts ("Fish > Frozen > Tuna").
    keep = clauses[-rng.randint(1, min(3, len(clauses))):]
    if rng.random() < 0.5:
        rng.shuffle(keep)
    words = " ".join(keep).replace(",", " ").split()
    if rng.random() < 0.7:
        words = [w for w in words if w.lower() not in _STOP] or words
    words = [w for w in words if rng.random() > 0.12] or words
    if len(words) > 3 and rng.random() < 0.3:
        i = rng.randrange(len(words) - 1)
        words[i], words[i + 1] = words[i + 1], words[i]
    if rng.random() < 0.6:
        filler = rng.choice(_MARKETING)
        words = [filler] + words if rng.random() < 0.5 else words + [filler]
    if rng.random() < 0.3:
        words.append(rng.choice(["500g", "1kg", "10 pcs", "250ml", "xl", "20x30cm", "12v", "100%"]))
    out = " ".join(words)
    r = rng.random()
    return out.lower() if r < 0.4 else out.title() if r < 0.6 else out


def compose_inputs(texts: Sequence[Any], attributes: Sequence[Any] | None = None,
                   categories: Sequence[Any] | None = None) -> list[str]:
    """``compose_input`` row by row; missing ``attributes``/``categories`` columns count as empty."""
    n = len(texts)
    attributes = attributes if attributes is not None else [None] * n
    categories = categories if categories is not None else [None] * n
    return [compose_input(t, a, c) for t, a, c in zip(texts, attributes, categories)]
