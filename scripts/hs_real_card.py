"""Print the numbers of bacuda_research/hs/realdata/CARD.md: reading, split and overlap checks of the
held-out source (fpo_extra_references.csv) and of the training-only extra source (hmrc_references.csv).

    python scripts/hs_real_card.py            # needs the shared HS folder (BACUDA_SHARED_DIR or ../shared)
"""

from __future__ import annotations

import gzip
import hashlib

from bacuda_research.core.paths import shared_path
from bacuda_research.hs.corpus import eu_cn_corpus, hs2022_corpus, load_benchmark
from bacuda_research.hs.nomenclature import load_nomenclature
from bacuda_research.hs.realdesc import PACKAGED, PACKAGED_EXTRA, dedup_key, group_key, read_real, split_real


def main() -> None:
    hs = shared_path("data/hs")
    nom = load_nomenclature(hs / "harmonized_system/harmonized-system.csv")
    stats: dict[str, int] = {}
    real = read_real(PACKAGED, nom, stats=stats)
    parts = split_real(real, [0.6, 0.2, 0.2], stats=stats)
    raw = PACKAGED.read_bytes()
    print(f"file: {len(raw)} bytes, {len(gzip.compress(raw))} gzip, sha256 {hashlib.sha256(raw).hexdigest()}")
    print("counts:", stats)
    nom_keys = {dedup_key(t) for t in hs2022_corpus(nom)["text"]}
    for lang in ("en", "fr"):
        nom_keys |= {dedup_key(t) for t in eu_cn_corpus(hs / f"eu_cn_nomenclature_en_fr/nomenclature-{lang}.csv",
                                                         nom, lang)["text"]}
    bench = {dedup_key(t) for t in load_benchmark(hs / "hsclassify_micro_benchmark/benchmark_cases.csv", nom)["text"]}
    print("| part | rows | HS6 | HS4 | HS2 | = nomenclature text | = smoke-set text |")
    for name, df in parts.items():
        keys = set(df["text"].map(dedup_key))
        print(f"| {name} | {len(df)} | {df['hs6'].nunique()} | {df['hs4'].nunique()} | {df['hs2'].nunique()} "
              f"| {len(keys & nom_keys)} | {len(keys & bench)} |")
    print("HS2 of all kept rows:", real["hs2"].value_counts().head(8).to_dict())
    extra_card(nom, parts)


def extra_card(nom, parts) -> None:
    """hmrc_references.csv: file facts, rows per origin, and what ``data.real.extra`` keeps at seed 0."""
    import csv
    import io

    from bacuda_research.core.config import compose
    from bacuda_research.hs.task import build_data

    path = PACKAGED_EXTRA["hmrc_references"]
    raw = path.read_bytes()
    rows = list(csv.DictReader(io.StringIO(raw.decode("utf-8"))))
    origins: dict[str, int] = {}
    for r in rows:
        origins[r["origin"]] = origins.get(r["origin"], 0) + 1
    print(f"\nhmrc_references.csv: {len(raw)} bytes, {len(gzip.compress(raw))} gzip, sha256 "
          f"{hashlib.sha256(raw).hexdigest()}, {len(rows)} rows {origins}")
    _, splits, stats, _ = build_data(compose(["experiment=hs_minilm", "data.real.extra=[hmrc_references]"]).data, 0)
    print("kept at seed 0:", {k: v for k, v in stats.items() if k.startswith("real_extra")})
    extra = splits["train"][splits["train"]["source"] == "real_extra"]
    print(f"extra rows: {len(extra)}, HS6 {extra['hs6'].nunique()}, HS4 {extra['hs4'].nunique()}, "
          f"HS2 {extra['hs2'].nunique()}, heading-only rows {int(extra['hs6'].isna().sum())}")
    print("HS2 of extra rows:", extra["hs2"].value_counts().head(8).to_dict())
    groups = {name: set(df["text"].map(group_key)) for name, df in parts.items()}
    shared = extra["text"].map(group_key)
    print("extra rows sharing a first-word group with the real", {n: int(shared.isin(g).sum()) for n, g in groups.items()})


if __name__ == "__main__":
    main()
