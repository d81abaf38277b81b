"""Generated files shaped like ``../shared/data/hs``, so tests and demos run without shared data.

``write_fixture(folder)`` writes a small nomenclature (``harmonized-system.csv`` layout), EU CN
style English and French files (10-digit codes, ``hier_pos``, bare "Other" leaves, repeated
indent-header codes) and a benchmark CSV, under the same relative paths as the shared folder.
Texts are built from per-level keywords, so a model can learn them in a few steps.
"""

from __future__ import annotations

import csv
import random
from pathlib import Path

_MATERIALS = ["cotton", "steel", "copper", "rubber", "glass", "wooden", "plastic", "leather"]
_OBJECTS = ["shirts", "tubes", "wires", "tyres", "bottles", "chairs", "boxes", "bags", "lamps", "pumps", "ropes", "cups"]
_MODIFIERS = ["knitted", "welded", "insulated", "retreaded", "coloured", "folding", "corrugated", "woven",
              "electric", "hydraulic", "braided", "printed"]
_FR = {"cotton": "coton", "steel": "acier", "copper": "cuivre", "rubber": "caoutchouc", "glass": "verre",
       "wooden": "bois", "plastic": "plastique", "leather": "cuir"}


def write_fixture(folder: str | Path, chapters: int = 4, headings: int = 3, subheadings: int = 3,
                  seed: int = 0) -> Path:
    """Write the fixture below ``folder`` (the returned path plays ``shared_dir()``)."""
    rng = random.Random(seed)
    root = Path(folder)
    hs_dir = root / "data/hs/harmonized_system"
    eu_dir = root / "data/hs/eu_cn_nomenclature_en_fr"
    bench_dir = root / "data/hs/hsclassify_micro_benchmark"
    for d in (hs_dir, eu_dir, bench_dir):
        d.mkdir(parents=True, exist_ok=True)
    hs_rows = [("section", "hscode", "description", "parent", "level")]
    eu = {"en": [("goods_code", "hier_pos", "language", "description")],
          "fr": [("goods_code", "hier_pos", "language", "description")]}
    bench = [("text", "expected_hs_code", "category", "language", "notes")]
    oi = 0
    for c in range(chapters):
        ch = f"{(c + 1) * 11:02d}"  # 11, 22, 33, ... (never 98-99)
        mat = _MATERIALS[c % len(_MATERIALS)]
        hs_rows.append(("I", ch, f"Articles of {mat}", "TOTAL", "2"))
        _eu(eu, ch + "00000000", 2, f"ARTICLES OF {mat.upper()}", f"OUVRAGES EN {_FR[mat].upper()}")
        for h in range(headings):
            obj = _OBJECTS[oi % len(_OBJECTS)]
            oi += 1
            hd = f"{ch}{h + 1:02d}"
            hs_rows.append(("I", hd, f"{obj.capitalize()} of {mat}", ch, "4"))
            _eu(eu, hd + "000000", 4, f"{obj.capitalize()} of {mat}", f"{obj.capitalize()} en {_FR[mat]}")
            for s in range(subheadings):
                mod = _MODIFIERS[(c * 5 + h * 3 + s) % len(_MODIFIERS)]
                sub = f"{hd}{s + 1}0"
                hs_rows.append(("I", sub, f"{obj.capitalize()}; of {mat}, {mod}", hd, "6"))
                # An indent header repeating the code, then CN leaves (one bare "Other").
                _eu(eu, sub + "0000", 6, f"{mod.capitalize()} {obj}", f"{obj} {mod}s")
                _eu(eu, sub + "1000", 8, f"{mod.capitalize()} {obj} for industrial use", f"{obj} {mod}s industriels")
                _eu(eu, sub + "9000", 8, "Other", "autres")
                bench.append((f"{mod} {mat} {obj} {rng.choice(['new', '2pcs', 'premium', ''])}".strip(), sub,
                              "easy", "en", "generated"))
                if s == 0:
                    bench.append((f"{obj} {mod}s en {_FR[mat]}", sub, "multilingual", "fr", "generated"))
    bench.append(("obsolete gadget", "999999", "known_failure", "en", "code not in the nomenclature"))
    _write(hs_dir / "harmonized-system.csv", hs_rows)
    _write(eu_dir / "nomenclature-en.csv", eu["en"])
    _write(eu_dir / "nomenclature-fr.csv", eu["fr"])
    _write(bench_dir / "benchmark_cases.csv", bench)
    return root


def _eu(eu: dict, code: str, pos: int, en: str, fr: str) -> None:
    eu["en"].append((code, str(pos), "EN", en))
    eu["fr"].append((code, str(pos), "FR", fr))


def _write(path: Path, rows: list) -> None:
    with open(path, "w", newline="", encoding="utf-8") as f:
        csv.writer(f).writerows(rows)


def fixture_overrides(root: str | Path) -> list[str]:
    """Config overrides that point ``data=hs_public`` at a fixture written by ``write_fixture(root)``."""
    hs = Path(root) / "data/hs"
    return [
        f"data.nomenclature={hs}/harmonized_system/harmonized-system.csv",
        f"data.eu_cn.en={hs}/eu_cn_nomenclature_en_fr/nomenclature-en.csv",
        f"data.eu_cn.fr={hs}/eu_cn_nomenclature_en_fr/nomenclature-fr.csv",
        f"data.benchmark={hs}/hsclassify_micro_benchmark/benchmark_cases.csv",
    ]
