"""Nomenclature, corpus builders, split and text composition on generated fixture data."""

from __future__ import annotations

import random

import pandas as pd
import pytest

from bacuda_research.hs.corpus import dedupe, eu_cn_corpus, hs2022_corpus, load_benchmark, pairs_corpus, split_groups
from bacuda_research.hs.nomenclature import Nomenclature, load_nomenclature, normalize_code
from bacuda_research.hs.synthetic import write_fixture
from bacuda_research.hs.text import augment_title, compose_input, normalize_text


@pytest.fixture(scope="module")
def fx(tmp_path_factory):
    root = write_fixture(tmp_path_factory.mktemp("hsfx"))
    hs = root / "data/hs"
    return {"nom": load_nomenclature(hs / "harmonized_system/harmonized-system.csv"),
            "en": hs / "eu_cn_nomenclature_en_fr/nomenclature-en.csv",
            "fr": hs / "eu_cn_nomenclature_en_fr/nomenclature-fr.csv",
            "bench": hs / "hsclassify_micro_benchmark/benchmark_cases.csv"}


@pytest.mark.parametrize("raw,expected", [
    ("0201.30", "020130"), ("0201 30 00 90", "020130"), (201300000, "020130"), ("20130", "020130"),
    ("8517.13.0000", "851713"), ("", None), (None, None), (float("nan"), None), ("12", None),
])
def test_normalize_code(raw, expected):
    assert normalize_code(raw) == expected


def test_nomenclature_parents_and_roundtrip(fx):
    nom = fx["nom"]
    assert len(nom.hs2) == 4 and len(nom.hs4) == 12 and len(nom.hs6) == 36
    for i, code in enumerate(nom.hs6):
        assert nom.hs4[nom.hs6_parent4[i]] == code[:4]
    again = Nomenclature.from_dict(nom.to_dict())
    assert again.hs6 == nom.hs6 and again.descriptions == nom.descriptions
    with pytest.raises(ValueError, match="orphan"):
        Nomenclature(hs2=["01"], hs4=["0101"], hs6=["020110"])


def test_missing_nomenclature_names_path(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.csv"):
        load_nomenclature(tmp_path / "nope.csv")


def test_eu_chains_include_ancestors_and_indent_headers(fx):
    df = eu_cn_corpus(fx["en"], fx["nom"], lang="en")
    other = df[df["group"] == "cn:1101109000"].iloc[0]
    # a bare "Other" leaf reads through its heading and its indent header
    assert other["text"] == "Shirts of cotton > Knitted shirts > Other"
    assert (other["hs2"], other["hs4"], other["hs6"]) == ("11", "1101", "110110")
    heading = df[df["group"] == "cn:1101000000"].iloc[0]
    assert pd.isna(heading["hs6"]) and heading["hs4"] == "1101"


def test_dedupe_keeps_only_agreeing_labels():
    df = pd.DataFrame({"text": ["a", "a", "b", "c", "c"], "hs2": ["11", "11", "11", "22", "22"],
                       "hs4": ["1101", "1101", "1102", "2201", "2201"], "hs6": ["110110", "110120", "110210", "220110", "220110"],
                       "source": "s", "lang": "en", "group": ["g1", "g2", "g3", "g4", "g5"]})
    stats = {}
    out = dedupe(df, stats).set_index("text")
    assert pd.isna(out.loc["a", "hs6"]) and out.loc["a", "hs4"] == "1101"  # ambiguous HS6, agreed HS4
    assert out.loc["c", "hs6"] == "220110" and out.loc["c", "group"] == "g4"
    assert stats["texts_with_ambiguous_hs6"] == 1 and stats["duplicate_texts_merged"] == 2


def test_split_keeps_language_twins_together(fx):
    nom = fx["nom"]
    corpus = dedupe(pd.concat([hs2022_corpus(nom), eu_cn_corpus(fx["en"], nom, "en"), eu_cn_corpus(fx["fr"], nom, "fr")]))
    parts = split_groups(corpus, [0.6, 0.2, 0.2], seed=0, always_train=["hs2022"])
    assert sum(map(len, parts.values())) == len(corpus)
    seen_in = {g: name for name, df in parts.items() for g in df["group"]}
    for name, df in parts.items():
        assert all(seen_in[g] == name for g in df["group"])  # a group never straddles splits
    assert set(parts["train"].query("source == 'hs2022'")["hs6"].dropna()) == set(nom.hs6)
    assert parts["test"]["hs6"].notna().all()
    assert split_groups(corpus, [0.6, 0.2, 0.2], seed=0, always_train=["hs2022"])["test"].equals(parts["test"])


def test_pairs_file_unknown_codes(tmp_path, fx):
    nom = fx["nom"]
    p = tmp_path / "pairs.csv"
    pd.DataFrame({"DESC": ["knitted shirts", "bad row", "pumps"], "HS": ["1101.10", "999999", "110210 0000"],
                  "attrs": ['{"material": "cotton", "brand": "X"}', "", "not json"],
                  "cat": ["Clothing > Men > Shirts", "", ""]}).to_csv(p, index=False)
    cols = {"text": "DESC", "code": "HS", "attributes": "attrs", "category": "cat", "lang": None}
    with pytest.raises(ValueError, match="1 codes are not HS6 codes"):
        pairs_corpus(p, nom, cols, on_unknown="error")
    stats = {}
    df = pairs_corpus(p, nom, cols, on_unknown="drop", stats=stats)
    assert stats["file_dropped_unknown_code"] == 1
    assert list(df["hs6"]) == ["110110", "110210"]
    assert df["text"].iloc[0] == "knitted shirts | category: Clothing > Men > Shirts | material: cotton"
    with pytest.raises(ValueError, match="data.columns.text"):
        pairs_corpus(p, nom, {**cols, "text": "nope"})


def test_benchmark_flags_codes_outside_nomenclature(fx):
    b = load_benchmark(fx["bench"], fx["nom"])
    assert (~b["in_nomenclature"]).sum() == 1 and set(b["lang"]) == {"en", "fr"}


def test_text_normalisation_and_augmentation():
    assert normalize_text("  - - Other:  of a weight|kg\n") == "Other: of a weight kg"
    assert compose_input("Tee", "{bad json", None) == "Tee"
    a = [augment_title("Horses; live, pure-bred breeding animals", random.Random(3)) for _ in range(2)]
    assert a[0] == a[1] and a[0]  # reproducible through the rng
    outs = {augment_title("Frozen fish > Tuna > Skipjack", random.Random(s)) for s in range(20)}
    assert len(outs) > 5  # actually varies


def test_titles_lose_boilerplate_and_generic_category_levels():
    s = compose_input("🔥 NEW 2025 Hot Sale Women's Cotton T-Shirt Free Shipping ⭐", '{"material": "cotton"}',
                      "Clothing > Women > Tops > All Products > Featured")
    assert s == "Women's Cotton T-Shirt | category: Clothing > Women > Tops | material: cotton"
    assert compose_input("Glass bottles, 2 pcs") == "Glass bottles, 2 pcs"  # goods words and quantities stay


def test_hs2022_texts_that_repeat_another_code_keep_their_hs6():
    nom = Nomenclature(hs2=["01"], hs4=["0101", "0102"], hs6=["010110", "010120", "010210"],
                       descriptions={"01": "Animals", "0101": "Horses", "0102": "Bovine animals",
                                     "010110": "Live", "010120": "Live", "010210": "Bovine animals"})
    df = dedupe(hs2022_corpus(nom))
    assert set(df["hs6"].dropna()) == {"010110", "010120", "010210"}
    assert df["text"].is_unique
