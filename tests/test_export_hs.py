"""Export bundles of HS classifiers (ONNX parity, bundle = checkpoint, lexical side, calibration,
explanations, abstention), and one subprocess that scores DATE and HS bundles with torch unimportable."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch


def _checkpoint_and_bundle(module, root: Path, nom):
    """Save ``module`` as a run's checkpoint under ``root/run`` and export it to ``root/bundle``."""
    from bacuda_research.bundle.export import export_model

    ckpt = {"state_dict": module.state_dict(), "hyper_parameters": dict(module.hparams)}
    module.on_save_checkpoint(ckpt)
    (root / "run" / "checkpoints").mkdir(parents=True)
    torch.save(ckpt, root / "run" / "checkpoints" / "model.ckpt")
    return root / "run", root / "bundle", export_model(root / "run", root / "bundle"), nom


# -- fixtures --------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def date_run(tiny_date_export):
    """A DATE run (1 epoch, two boosters, dense branch) and its bundle (one per session: conftest)."""
    return tiny_date_export


@pytest.fixture(scope="module")
def hs_run(tmp_path_factory):
    """A tiny HS classifier from a config (random weights, kNN vote on) as a checkpoint, and its bundle."""
    from bacuda_research.hs.models import small_bert_config
    from bacuda_research.hs.module import HSLitModule
    from bacuda_research.hs.nomenclature import load_nomenclature
    from bacuda_research.hs.synthetic import write_fixture
    from bacuda_research.hs.tokenization import train_wordpiece

    root = tmp_path_factory.mktemp("hs_export")
    nom = load_nomenclature(write_fixture(root / "fx") / "data/hs/harmonized_system/harmonized-system.csv")
    tok = train_wordpiece(list(nom.descriptions.values()), vocab_size=300, min_frequency=1)
    cfg = small_bert_config(tok.get_vocab_size(), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                            intermediate_size=64, max_position_embeddings=34)
    torch.manual_seed(0)
    module = HSLitModule(nom.to_dict(), cfg, tok.to_str(), max_length=32, head_hidden=16, retrieval_weight=0.3,
                         retrieval_k=5)
    module.set_index(torch.randn(60, 32), torch.randint(-1, len(nom.hs6), (60,)))
    if hasattr(module, "mix"):  # mixture weights as chosen on validation (not retrieval_weight's 0.7/0.3)
        module.mix = torch.tensor([0.55, 0.45, 0.0])
    return _checkpoint_and_bundle(module, root, nom)


@pytest.fixture(scope="module")
def hs_lex_run(hs_run):
    """The same tiny classifier with the lexical side (hashed TF-IDF bag + lexical kNN vote), and its bundle."""
    from bacuda_research.hs.module import HSLitModule
    from bacuda_research.hs.tfidf import LexicalFeaturizer

    run_dir, _, _, nom = hs_run
    root = run_dir.parent / "lex"
    base = torch.load(run_dir / "checkpoints" / "model.ckpt", map_location="cpu", weights_only=True)
    torch.manual_seed(1)
    module = HSLitModule(nom.to_dict(), base["hs"]["encoder_config"], base["hs"]["tokenizer"], max_length=32,
                         head_hidden=16, retrieval_weight=0.3, retrieval_k=5, lexical_bits=8, lexical_dim=8,
                         lexical_k=3)
    with torch.no_grad():  # a bag that moves the logits (its init is std 0.02)
        module.model.lexical.weight.normal_(0, 2.0)
    texts = [nom.describe(c) for c in nom.hs6]
    f = LexicalFeaturizer(8).fit(texts)
    labels = torch.arange(len(texts))
    labels[::7] = -1  # rows without an HS6 never vote
    module.set_lexical(f.idf, f.transform(texts), labels)
    module.set_index(torch.randn(60, 32), torch.randint(-1, len(nom.hs6), (60,)))
    module.mix = torch.tensor([0.4, 0.2, 0.4])
    return _checkpoint_and_bundle(module, root, nom)


# -- HS ------------------------------------------------------------------------------------------
def test_hs_onnx_logits_match_pytorch(hs_run):
    from bacuda_research.bundle.hs_export import _ONNXHS, random_batch, torch_outputs
    from bacuda_research.hs.module import HSLitModule
    from bacuda_research.bundle.runtime import load_bundle

    run_dir, bundle_dir, manifest, nom = hs_run
    assert max(manifest["parity"]["max_abs_diff"].values()) <= 1e-4
    module = HSLitModule.from_checkpoint_file(run_dir / "checkpoints" / "model.ckpt")
    wrapper = _ONNXHS(module.model).eval()
    bundle = load_bundle(bundle_dir, threads=1)
    real = bundle.encode(["knitted cotton shirts", "Welded steel tubes 2pcs | category: Pipes",
                          "insulated copper wires for industrial use, braided, new"])
    vocab = bundle.tokenizer.get_vocab_size()
    for x in (random_batch(vocab, 1, 2), random_batch(vocab, 9, 32, seed=3), real):
        got = bundle.session.run(None, x)
        for name, g, w in zip(("pooled", "hs2", "hs4", "hs6"), got, torch_outputs(wrapper, x)):
            np.testing.assert_allclose(g, w, rtol=0, atol=1e-4, err_msg=name)


def test_hs_bundle_predicts_like_the_checkpoint(hs_run, tmp_path, capsys):
    from bacuda_research.cli.hs import main as hs_main
    from bacuda_research.cli.score import main as score_main
    from bacuda_research.bundle.runtime import load_model
    from bacuda_research.hs.predict import HSPredictor

    run_dir, bundle_dir, manifest, nom = hs_run
    texts = [nom.describe(c) for c in nom.hs6] + ["knitted cotton shirts", "", "obsolete gadget"]
    want = HSPredictor.from_run(run_dir).predict(texts, top_k=5)
    got = load_model(bundle_dir).predict(texts, top_k=5)  # bacuda-hs accepts a bundle folder
    # ONNX Runtime vs PyTorch in float32: probabilities within 1e-5 (measured: 1.3e-7). Every text's
    # top-1 leads its runner-up by far more than twice that (measured: >= 0.15), so the bundle's top-1
    # must be the checkpoint's, always
    assert len(got) == len(want) == len(texts)
    for w, g in zip(want, got):
        np.testing.assert_allclose([s.probability for s in g], [s.probability for s in w], atol=1e-5)
        assert w[0].probability - w[1].probability > 2e-5
        assert g[0].hs6 == w[0].hs6
    assert manifest["model"]["retrieval_index_rows"] == 60  # the kNN vote is part of the bundle
    src = tmp_path / "titles.csv"
    pd.DataFrame({"text": ["knitted cotton shirts", "Welded steel tubes 2pcs"],
                  "attributes": ['{"material": "cotton"}', ""], "category": ["Clothing > Shirts", ""]}).to_csv(src, index=False)
    assert score_main([str(bundle_dir), str(src), str(tmp_path / "a.jsonl"), "--top-k", "3"]) == 0
    assert hs_main([str(run_dir), "--input", str(src), "--output", str(tmp_path / "b.jsonl"), "--top-k", "3"]) == 0
    a = [json.loads(line) for line in (tmp_path / "a.jsonl").read_text().splitlines()]
    b = [json.loads(line) for line in (tmp_path / "b.jsonl").read_text().splitlines()]
    assert [r["text"] for r in a] == [r["text"] for r in b]
    for ra, rb in zip(a, b):
        assert [p["hs6"] for p in ra["predictions"]] == [p["hs6"] for p in rb["predictions"]]
        assert [p["description"] for p in ra["predictions"]] == [p["description"] for p in rb["predictions"]]
        np.testing.assert_allclose([p["probability"] for p in ra["predictions"]],
                                   [p["probability"] for p in rb["predictions"]], atol=2e-6)
    assert hs_main([str(bundle_dir), "knitted cotton shirts", "--top-k", "2"]) == 0
    assert "HS6 suggestions" in capsys.readouterr().out


def test_hs_lexical_knn_only_bundle(hs_run, tmp_path):
    """lexical.dim=0: no bag (the graph keeps two inputs), only the lexical kNN vote is mixed in."""
    from bacuda_research.bundle.export import export_model
    from bacuda_research.hs.module import HSLitModule
    from bacuda_research.bundle.runtime import load_model
    from bacuda_research.hs.predict import HSPredictor
    from bacuda_research.hs.tfidf import LexicalFeaturizer
    from bacuda_research.hs.train import predict_texts

    run_dir, _, _, nom = hs_run
    base = torch.load(run_dir / "checkpoints" / "model.ckpt", map_location="cpu", weights_only=True)
    module = HSLitModule(nom.to_dict(), base["hs"]["encoder_config"], base["hs"]["tokenizer"], max_length=32,
                         head_hidden=16, lexical_bits=6, lexical_dim=0, lexical_k=2)
    texts = [nom.describe(c) for c in nom.hs6]
    f = LexicalFeaturizer(6).fit(texts)
    module.set_lexical(f.idf, f.transform(texts), torch.arange(len(texts)))
    module.mix = torch.tensor([0.5, 0.0, 0.5])
    ckpt = {"state_dict": module.state_dict(), "hyper_parameters": dict(module.hparams)}
    module.on_save_checkpoint(ckpt)
    torch.save(ckpt, tmp_path / "knn.ckpt")
    manifest = export_model(tmp_path / "knn.ckpt", tmp_path / "bundle")
    assert manifest["model"]["lexical"] == {"features": 128, "dim": 0, "index_rows": len(texts)}
    bundle = load_model(tmp_path / "bundle")
    queries = texts + ["knitted cotton shirts", "welded steel tubes"]
    parts = bundle.components(queries)
    tied = parts["lexical_knn_tied"]
    assert "lexical" not in bundle.inputs(queries[:1])[0] and (~tied).sum() > len(queries) // 2
    want = predict_texts(HSLitModule.from_checkpoint_file(tmp_path / "knn.ckpt"), queries).numpy()
    np.testing.assert_allclose(bundle.mixed(parts)[~tied], want[~tied], atol=1e-5)


# -- torch not importable ----------------------------------------------------------------------
BLOCKER = """
import importlib.abc, sys
BLOCKED = ("torch", "lightning", "pytorch_lightning", "hydra", "omegaconf", "transformers", "torchmetrics")
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            raise ImportError(f"{name} is blocked in this test (scoring must not need it)")
        return None
sys.meta_path.insert(0, Block())
from bacuda_research.cli.score import main
codes = [main(a) for a in ARGS]
leaked = sorted(m for m in sys.modules if m.split(".")[0] in BLOCKED)
print(codes, leaked)
sys.exit(1 if any(codes) or leaked else 0)
"""


def test_score_runs_with_torch_unimportable(date_run, hs_run, hs_lex_run, tmp_path):
    _, report, date_bundle, _ = date_run
    _, hs_bundle, _, _ = hs_run
    _, lex_bundle, _, _ = hs_lex_run
    decl = tmp_path / "decl.csv"
    pd.read_csv(report["data"]["path"]).drop(columns=["illicit", "revenue"]).head(50).to_csv(decl, index=False)
    titles = tmp_path / "titles.csv"
    pd.DataFrame({"text": ["knitted cotton shirts", "copper wires"]}).to_csv(titles, index=False)
    args = [[str(date_bundle), str(decl), str(tmp_path / "d.jsonl")], [str(hs_bundle), str(titles), str(tmp_path / "h.jsonl")],
            [str(lex_bundle), str(titles), str(tmp_path / "lex.jsonl")]]
    code = BLOCKER.replace("ARGS", repr(args))
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                          cwd=Path(__file__).resolve().parents[1])
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert len((tmp_path / "d.jsonl").read_text().splitlines()) == 50
    assert len((tmp_path / "h.jsonl").read_text().splitlines()) == 2
    assert len((tmp_path / "lex.jsonl").read_text().splitlines()) == 2


# -- the lexical side, calibration, explanations ------------------------------------------------
def test_hs_lexical_onnx_matches_pytorch_with_the_bag_outside_the_graph(hs_lex_run):
    import onnx
    from safetensors.numpy import load_file

    from bacuda_research.bundle.hs_export import _ONNXHS, random_batch, random_rows, torch_outputs
    from bacuda_research.hs.module import HSLitModule
    from bacuda_research.bundle.runtime import load_bundle

    run_dir, bundle_dir, manifest, nom = hs_lex_run
    assert max(manifest["parity"]["max_abs_diff"].values()) <= 1e-4
    assert manifest["model"]["lexical"] == {"features": 512, "dim": 8, "index_rows": len(nom.hs6)}
    assert "lexical.safetensors" in manifest["files"] and "lexical" in (bundle_dir / "MODEL_CARD.md").read_text()
    # the n-gram table is stored once, float32, in lexical.safetensors: not in the graph, not in weights
    lex = load_file(bundle_dir / "lexical.safetensors")
    assert lex["embedding"].dtype == np.float32 and lex["embedding"].shape == (512, 8)
    assert "weights.safetensors" not in manifest["files"]  # every weight once: ONNX initializers + this table
    graph = onnx.load(str(bundle_dir / "model.onnx"))
    assert not [i.name for i in graph.graph.initializer if list(i.dims) == [512, 8]]
    assert [i.name for i in graph.graph.input] == ["input_ids", "attention_mask", "lexical"]

    module = HSLitModule.from_checkpoint_file(run_dir / "checkpoints" / "model.ckpt")
    wrapper = _ONNXHS(module.model).eval()
    bundle = load_bundle(bundle_dir, threads=1)
    vocab = bundle.tokenizer.get_vocab_size()
    texts = ["knitted cotton shirts", "Welded steel tubes 2pcs | category: Pipes", ""]
    real, rows = bundle.inputs(texts)
    for x, r in ((random_batch(vocab, 9, 32, seed=3), random_rows(512, 9, seed=2)), (real, rows)):
        feed = dict(x)
        if "lexical" not in feed:
            from bacuda_research.hs.tfidf import bag_sum

            feed["lexical"] = bag_sum(bundle.lexical.table, r, bundle.lexical.row_ids, bundle.lexical.scale)
        got = bundle.session.run(None, feed)
        for name, g, w in zip(("pooled", "hs2", "hs4", "hs6"), got, torch_outputs(wrapper, x, module.model, r)):
            np.testing.assert_allclose(g, w, rtol=0, atol=1e-4, err_msg=name)


def test_hs_lexical_bundle_predicts_like_the_checkpoint(hs_lex_run, tmp_path, capsys):
    from bacuda_research.cli.hs import main as hs_main
    from bacuda_research.cli.score import main as score_main
    from bacuda_research.bundle.runtime import load_model
    from bacuda_research.hs.predict import HSPredictor
    from bacuda_research.hs.train import predict_texts

    run_dir, bundle_dir, manifest, nom = hs_lex_run
    texts = [nom.describe(c) for c in nom.hs6] + ["knitted cotton shirts", "obsolete gadget", "Steel TUBES, welded", ""]
    checkpoint, bundle = HSPredictor.from_run(run_dir), load_model(bundle_dir)
    want = predict_texts(checkpoint.module, texts).numpy()
    parts = bundle.components(texts)
    assert set(parts) >= {"heads", "embed_knn", "lexical_knn", "lexical_knn_tied"}
    got = bundle.mixed(parts)
    np.testing.assert_allclose(got, bundle.path_probs(texts), atol=1e-12)
    # an empty text shares no n-gram with the index: its k nearest rows are ties torch.topk breaks its own way
    tied = parts["lexical_knn_tied"] | parts["embed_knn_tied"]
    assert tied[-1] and tied.sum() < len(texts) // 4
    np.testing.assert_allclose(got[~tied], want[~tied], atol=1e-5)
    assert (got[~tied].argmax(1) == want[~tied].argmax(1)).all()
    # the lexical vote matters here: without it the bundle would not match
    assert np.abs(parts["lexical_knn"][~tied] - parts["heads"][~tied]).max() > 0.1
    src = tmp_path / "titles.csv"
    pd.DataFrame({"text": texts[:5]}).to_csv(src, index=False)
    assert score_main([str(bundle_dir), str(src), str(tmp_path / "a.jsonl"), "--top-k", "3"]) == 0
    a = [json.loads(line) for line in (tmp_path / "a.jsonl").read_text().splitlines()]
    b = checkpoint.predict(texts[:5], top_k=3)
    assert [[p["hs6"] for p in r["predictions"]] for r in a] == [[s.hs6 for s in r] for r in b]
    assert hs_main([str(bundle_dir), "knitted cotton shirts", "--top-k", "2"]) == 0  # bacuda-hs BUNDLE
    assert "HS6 suggestions" in capsys.readouterr().out


def test_hs_pruned_lexical_bundle_stores_used_rows_in_int8_and_predicts_like_the_checkpoint(hs_lex_run, tmp_path):
    """hs.train.prune_lexical zeroes the rows no training text uses and rounds each row to int8 codes times a
    scale: the bundle then stores only the used rows, int8, and still predicts exactly like the checkpoint."""
    from safetensors.numpy import load_file

    from bacuda_research.bundle.export import export_model
    from bacuda_research.bundle.runtime import load_model
    from bacuda_research.hs.module import HSLitModule
    from bacuda_research.hs.predict import HSPredictor
    from bacuda_research.hs.train import predict_texts, prune_lexical

    run_dir, _, _, nom = hs_lex_run
    module = HSLitModule.from_checkpoint_file(run_dir / "checkpoints" / "model.ckpt")
    used = module.featurizer().transform([nom.describe(c) for c in nom.hs6[:20]]).indices
    kept = prune_lexical(module.model.lexical.weight, used)
    assert 0 < kept < 512
    ckpt = {"state_dict": module.state_dict(), "hyper_parameters": dict(module.hparams)}
    module.on_save_checkpoint(ckpt)
    (tmp_path / "run" / "checkpoints").mkdir(parents=True)
    torch.save(ckpt, tmp_path / "run" / "checkpoints" / "model.ckpt")
    manifest = export_model(tmp_path / "run", tmp_path / "bundle")
    assert max(manifest["parity"]["max_abs_diff"].values()) <= 1e-4
    lex = load_file(tmp_path / "bundle" / "lexical.safetensors")
    assert lex["embedding"].dtype == np.int8 and lex["embedding"].shape == (kept, 8)
    assert lex["embedding_scale"].dtype == np.float32 and lex["embedding_scale"].shape == (kept,)
    assert list(lex["embedding_rows"]) == sorted(set(np.asarray(used).tolist()))
    # one copy of the encoder and heads: model.onnx's initializers
    assert not (tmp_path / "bundle" / "weights.safetensors").exists()
    texts = [nom.describe(c) for c in nom.hs6] + ["knitted cotton shirts", "Steel TUBES, welded"]
    want = predict_texts(HSPredictor.from_run(tmp_path / "run").module, texts).numpy()
    bundle = load_model(tmp_path / "bundle")
    parts = bundle.components(texts)
    tied = parts["lexical_knn_tied"] | parts["embed_knn_tied"]
    np.testing.assert_allclose(bundle.mixed(parts)[~tied], want[~tied], atol=1e-5)


def test_hs_calibrated_explained_suggestions_and_abstention(hs_run, tmp_path, capsys):
    """confidence (temperature from the checkpoint), nomenclature path and supporting training texts, the
    same from checkpoint and bundle; --abstain-below is opt-in and the default output keeps k suggestions."""
    from bacuda_research.bundle.export import export_model
    from bacuda_research.bundle.runtime import load_model
    from bacuda_research.cli.hs import main as hs_main
    from bacuda_research.hs.module import HSLitModule
    from bacuda_research.hs.predict import HSPredictor

    run_dir, _, _, nom = hs_run
    module = HSLitModule.from_checkpoint_file(run_dir / "checkpoints" / "model.ckpt")
    n = module.index_emb.shape[0]
    module.set_index(module.index_emb.float(), module.index_labels, [f"training text {i}" for i in range(n)])
    module.calibration = {"temperature": 2.0, "fitted_on": "val"}
    ckpt = {"state_dict": module.state_dict(), "hyper_parameters": dict(module.hparams)}
    module.on_save_checkpoint(ckpt)
    (tmp_path / "run" / "checkpoints").mkdir(parents=True)
    torch.save(ckpt, tmp_path / "run" / "checkpoints" / "model.ckpt")
    export_model(tmp_path / "run", tmp_path / "bundle")
    texts = [nom.describe(c) for c in nom.hs6[:6]]
    a = HSPredictor.from_run(tmp_path / "run").predict(texts, top_k=3, explain=True)
    b = load_model(tmp_path / "bundle").predict(texts, top_k=3, explain=True)
    for ra, rb in zip(a, b):
        assert [s.hs6 for s in ra] == [s.hs6 for s in rb]
        for sa, sb in zip(ra, rb):
            assert sa.confidence is not None and abs(sa.confidence - sb.confidence) < 1e-4
            assert [p["code"] for p in sa.path] == [sa.hs6[:2], sa.hs6[:4], sa.hs6]
            assert [x["text"] for x in sa.support] == [x["text"] for x in sb.support]
            labels = module.index_labels.tolist()
            assert all(labels[int(x["text"].split()[-1])] == nom.hs6.index(sa.hs6) for x in sa.support)
        assert ra[0].confidence < ra[0].probability  # T = 2 flattens: the top-1 loses confidence
    assert any(s.support for r in a for s in r)
    src = tmp_path / "t.csv"
    pd.DataFrame({"text": texts}).to_csv(src, index=False)
    for model in (tmp_path / "run", tmp_path / "bundle"):
        out = tmp_path / "plain.jsonl"
        assert hs_main([str(model), "--input", str(src), "--output", str(out), "--top-k", "3"]) == 0
        rows = [json.loads(x) for x in out.read_text().splitlines()]
        assert all(len(r["predictions"]) == 3 and "abstained" not in r for r in rows)
        assert set(rows[0]["predictions"][0]) == {"hs6", "probability", "description", "confidence"}
        assert hs_main([str(model), "--input", str(src), "--output", str(out), "--abstain-below", "1.0",
                        "--explain"]) == 0
        rows = [json.loads(x) for x in out.read_text().splitlines()]
        assert all(r["predictions"] == [] and r["abstained"] and r["top_confidence"] < 1 for r in rows)
        assert hs_main([str(model), "--input", str(src), "--output", str(out), "--abstain-below", "0",
                        "--explain"]) == 0
        first = json.loads(out.read_text().splitlines()[0])["predictions"][0]
        assert {"path", "support"} <= set(first)
    with pytest.raises(SystemExit):  # a probability threshold outside 0..1 is a usage error
        hs_main([str(tmp_path / "bundle"), "x", "--abstain-below", "2"])
    capsys.readouterr()


def test_hs_lexical_index_rebuilt_from_support_texts(hs_lex_run, tmp_path):
    """When the lexical kNN index is the TF-IDF of the support texts, the bundle stores the texts once and
    rebuilds the index at load; predictions stay those of the checkpoint."""
    from safetensors.numpy import load_file

    from bacuda_research.bundle.export import export_model
    from bacuda_research.bundle.runtime import load_model
    from bacuda_research.hs.module import HSLitModule
    from bacuda_research.hs.predict import HSPredictor
    from bacuda_research.hs.train import predict_texts

    run_dir, _, _, nom = hs_lex_run
    module = HSLitModule.from_checkpoint_file(run_dir / "checkpoints" / "model.ckpt")
    texts = [nom.describe(c) for c in nom.hs6]  # the rows of the fixture's lexical index
    module.set_index(torch.randn(len(texts), 32), module.lex_labels.clone(), texts)
    ckpt = {"state_dict": module.state_dict(), "hyper_parameters": dict(module.hparams)}
    module.on_save_checkpoint(ckpt)
    (tmp_path / "run" / "checkpoints").mkdir(parents=True)
    torch.save(ckpt, tmp_path / "run" / "checkpoints" / "model.ckpt")
    export_model(tmp_path / "run", tmp_path / "bundle")
    config = json.loads((tmp_path / "bundle" / "hs_config.json").read_text())
    assert config["lexical"]["index_from"] == "support.json"
    assert set(load_file(tmp_path / "bundle" / "lexical.safetensors")) == {"idf", "embedding", "index_labels"}
    queries = texts + ["knitted cotton shirts", "Steel TUBES, welded"]
    want = predict_texts(HSPredictor.from_run(tmp_path / "run").module, queries).numpy()
    bundle = load_model(tmp_path / "bundle")
    parts = bundle.components(queries)
    tied = parts["lexical_knn_tied"] | parts["embed_knn_tied"]
    assert (~tied).sum() > len(queries) // 2
    np.testing.assert_allclose(bundle.mixed(parts)[~tied], want[~tied], atol=1e-5)
