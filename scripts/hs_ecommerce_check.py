"""A GENERATED e-commerce-style sanity check for ``bacuda-hs --input`` (not a benchmark).

    python scripts/hs_ecommerce_check.py make experiments/hs/ecommerce_GENERATED_sanity_check.csv [--n 300] [--seed 7]
    bacuda-hs MODEL --input experiments/hs/ecommerce_GENERATED_sanity_check.csv --output /tmp/check.jsonl
    python scripts/hs_ecommerce_check.py score experiments/hs/ecommerce_GENERATED_sanity_check.csv /tmp/check.jsonl

``make`` writes rows shaped like the marketplace data the model will be judged on: an English
marketing-style ``text`` (title), a JSON string of ``attributes`` (brand, material, origin, ...),
a 5-level ``category`` path and a 10-digit ``code`` (the HS6 code + "0000", US-tariff length).
Everything is generated from the HS 2022 nomenclature texts alone (a different noise generator
than training's ``augment_title``, but the same source texts the model trained on), so a good
score here only shows that the file path (columns, attributes, category, 10-digit prefix scoring)
works and that titles with marketing noise still land near their nomenclature text. It says
nothing about accuracy on real product titles; never report it as a benchmark.

``score`` reads the JSON lines of ``bacuda-hs`` and prints top-1/top-5 accuracy at HS2/HS4/HS6
by code prefix.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import sys
from pathlib import Path

# Marketplace-like departments by HS section (invented taxonomy; levels 2-3 come from the
# chapter and heading words, levels 4-5 are generic marketplace filler).
_DEPARTMENTS = {
    "I": "Grocery", "II": "Grocery", "III": "Grocery", "IV": "Grocery & Gourmet Food", "V": "Industrial & Scientific",
    "VI": "Industrial & Scientific", "VII": "Home & Kitchen", "VIII": "Clothing, Shoes & Accessories",
    "IX": "Home & Garden", "X": "Office Products", "XI": "Clothing, Shoes & Jewelry", "XII": "Shoes & Accessories",
    "XIII": "Home Improvement", "XIV": "Jewelry", "XV": "Tools & Home Improvement", "XVI": "Electronics",
    "XVII": "Automotive", "XVIII": "Electronics", "XIX": "Sports & Outdoors", "XX": "Home & Kitchen",
    "XXI": "Collectibles & Fine Art",
}
_MATERIALS = ["cotton", "wool", "silk", "leather", "steel", "stainless", "iron", "copper", "aluminium", "plastic",
              "plastics", "rubber", "glass", "wood", "wooden", "paper", "ceramic", "porcelain", "gold", "silver",
              "synthetic", "polyester", "nylon", "bamboo"]
_BRANDS = ["Acmeo", "Brightway", "Zentro", "Kovalux", "Nordhaus", "Ubiqo", "Pellmark", "Tarvio"]
_FILLER = ["NEW", "Hot Sale", "2025 Upgraded", "Premium Quality", "Free Shipping", "Best Gift", "Professional",
           "Heavy Duty", "for Home Office", "Fast Delivery", "Top Rated"]
_STOP = {"of", "the", "a", "an", "or", "and", "for", "with", "whether", "not", "other", "than", "n.e.c.", "in",
         "its", "their", "but", "including", "excluding", "heading", "subheading", "chapter", "n.e.c", "nes"}
_OTHER = re.compile(r"^\W*(other|others)\W*$", re.I)


def _words(text: str) -> list[str]:
    return [w for w in re.split(r"[\s;,:()]+", text) if w and w.lower() not in _STOP]


def make(out: Path, n: int, seed: int) -> None:
    import pandas as pd

    from bacuda_research.core.config import compose
    from bacuda_research.hs.nomenclature import load_nomenclature

    cfg = compose(["data=hs_public"])
    nom = load_nomenclature(cfg.data.nomenclature)
    raw = pd.read_csv(cfg.data.nomenclature, dtype=str, keep_default_na=False)
    section = dict(zip(raw["hscode"], raw["section"]))
    rng = random.Random(seed)
    usable = [c for c in nom.hs6 if not _OTHER.match(nom.describe(c).split(";")[-1])]
    rows = []
    for code in rng.sample(usable, n):
        desc = nom.describe(code)
        own = _words(desc.split(";")[-1]) or _words(desc)
        head = _words(nom.describe(code[:4]))[:3]
        words = own[:8]
        if rng.random() < 0.5:
            words = head[:2] + words
        rng.shuffle(words) if rng.random() < 0.3 else None
        title = " ".join([rng.choice(_BRANDS)] * (rng.random() < 0.6) + words
                         + [rng.choice(_FILLER)] + [rng.choice(["1 Pack", "2 Pcs", "500g", "XL", "10 Count"])] * (rng.random() < 0.4))
        title = title.title() if rng.random() < 0.5 else title
        material = next((w for w in _words(desc.lower()) if w in _MATERIALS), None)
        attrs = {"brand": rng.choice(_BRANDS), "origin": rng.choice(["CN", "VN", "IN", "US", "DE"]),
                 "color": rng.choice(["black", "white", "multicolor"])}
        if material:
            attrs["material"] = material
        chapter = " ".join(_words(nom.describe(code[:2]))[:2]).title()
        cat = [_DEPARTMENTS.get(section.get(code[:2], ""), "Everything Else"), chapter, " ".join(head[:2]).title(),
               "All Products", "Featured"]
        rows.append({"text": title, "attributes": json.dumps(attrs), "category": " > ".join(cat), "code": code + "0000",
                     "origin_of_row": "GENERATED from HS 2022 texts (sanity check, not a benchmark)"})
    df = pd.DataFrame(rows)
    from bacuda_research.core.io import write_text

    write_text(out, df.to_csv(index=False))
    print(f"{len(df)} generated rows -> {out}", file=sys.stderr)


def read_check(path: Path):
    import pandas as pd

    return pd.read_csv(path, dtype=str, keep_default_na=False)


def score(check: Path, predictions: Path) -> dict[str, float]:
    df = read_check(check)
    preds = [json.loads(line) for line in predictions.read_text().splitlines() if line.strip()]
    if len(preds) != len(df):
        raise ValueError(f"{predictions}: {len(preds)} rows, {check} has {len(df)}")
    out: dict[str, float] = {"n": float(len(df))}
    for lvl in (2, 4, 6):
        for k in (1, 5):
            hits = [any(p["hs6"][:lvl] == code[:lvl] for p in row["predictions"][:k])
                    for row, code in zip(preds, df["code"])]
            out[f"hs{lvl}/acc@{k}"] = sum(hits) / max(1, len(hits))
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    m = sub.add_parser("make")
    m.add_argument("output", type=Path)
    m.add_argument("--n", type=int, default=300)
    m.add_argument("--seed", type=int, default=7)
    s = sub.add_parser("score")
    s.add_argument("check", type=Path)
    s.add_argument("predictions", type=Path)
    args = p.parse_args(argv)
    if args.cmd == "make":
        make(args.output, args.n, args.seed)
    else:
        print(json.dumps(score(args.check, args.predictions), indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
