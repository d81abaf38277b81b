"""End to end on generated data, in process: bacuda-train's run() for the tiny model and the
baselines, the checkpoint read back without Hydra, and bacuda-hs (text and file modes)."""

from __future__ import annotations

import json

import pandas as pd
import pytest
import torch

from bacuda_research.core.config import compose
from bacuda_research.core.paths import REPO_ROOT
from bacuda_research.hs.synthetic import fixture_overrides, write_fixture
from bacuda_research.run import run


FAST = ["logger=csv", "trainer.enable_progress_bar=false", "data.augment_copies=1"]


@pytest.fixture(scope="module")
def fixture_root(tmp_path_factory):
    return write_fixture(tmp_path_factory.mktemp("hsdata"))


@pytest.fixture(scope="module")
def tiny_run(fixture_root, tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("tiny")
    cfg = compose(["experiment=hs_tiny", "trainer.max_epochs=6", f"cache_dir={run_dir}/cache", *FAST,
                   *fixture_overrides(fixture_root)])
    report = run(cfg, run_dir)
    return run_dir, report, cfg


def test_tiny_run_writes_report_with_contract_keys(tiny_run):
    run_dir, report, _ = tiny_run
    assert (run_dir / "DONE").is_file() and (run_dir / "report.json").is_file()
    m = report["metrics"]
    for split in ("val", "test", "bench/all", "bench/en", "bench/fr"):
        for lvl in (2, 4, 6):
            for k in (1, 3, 5):
                assert 0.0 <= m[f"{split}/hs{lvl}/acc@{k}"] <= 1.0
                if k > 1:  # top-k accuracy never falls as k grows
                    assert m[f"{split}/hs{lvl}/acc@{k}"] >= m[f"{split}/hs{lvl}/acc@{k - 2 if k == 5 else 1}"]
            assert f"{split}/hs{lvl}/macro_f1" in m
    assert m["test/n"] > 0 and m["test/hs6_seen_classes"] > 0 and m["train/hs6_classes"] == 36
    assert m["bench/n_not_in_nomenclature"] == 1
    assert report["hs"]["benchmark_codes_not_in_nomenclature"][0]["hs6"] == "999999"
    assert report["data_sha256"] and report["hs"]["counts"]["train_rows"] > 0
    # the tiny model learns the keyword structure of the fixture: far better than chance (1/4 for HS2)
    assert m["bench/all/hs2/acc@1"] > 0.5
    preds = pd.read_csv(run_dir / "predictions.csv", dtype=str)
    assert len(preds) == m["test/n"] and {"pred1", "prob1", "pred5"} <= set(preds.columns)


def test_checkpoint_describes_itself_and_reproduces_metrics(tiny_run):
    from bacuda_research.hs.module import HSLitModule
    from bacuda_research.hs.task import evaluate
    from bacuda_research.hs.predict import HSPredictor
    from bacuda_research.hs.train import predict_texts

    run_dir, report, _ = tiny_run
    ckpt = torch.load(run_dir / "checkpoints/model.ckpt", map_location="cpu", weights_only=True)  # no pickle
    assert {"nomenclature", "encoder_config", "tokenizer"} <= set(ckpt["hs"])
    module = HSLitModule.from_checkpoint_file(run_dir / "checkpoints/model.ckpt")
    bench = pd.read_csv(run_dir / "benchmark_predictions.csv", dtype=str)
    probs = predict_texts(module, list(bench["text"]))
    m = evaluate(probs, bench, module.nom, "bench/all")
    assert m["bench/all/hs6/acc@1"] == pytest.approx(report["metrics"]["bench/all/hs6/acc@1"])
    # the predictor (run folder) gives the same ranking as the training-time evaluation
    top = HSPredictor.from_run(run_dir).predict(list(bench["text"][:5]), top_k=3)
    assert [s[0].hs6 for s in top] == list(bench["pred1"][:5])
    assert all(abs(sum(x.probability for x in HSPredictor.from_run(run_dir).predict_one(t, top_k=36)) - 1) < 1e-4
               for t in bench["text"][:2])


def test_training_is_deterministic(fixture_root, tmp_path):
    """Golden check: same seed, same config -> identical logged losses and metrics."""
    runs = []
    for i in range(2):
        cfg = compose(["experiment=hs_tiny", "trainer.max_epochs=1", "data.max_train_samples=64",
                       "data.benchmark=null", *FAST, *fixture_overrides(fixture_root)])
        runs.append(run(cfg, tmp_path / f"r{i}"))
    a = pd.read_csv(tmp_path / "r0/csv/metrics.csv")
    b = pd.read_csv(tmp_path / "r1/csv/metrics.csv")
    torch.testing.assert_close(torch.tensor(a["train/loss_epoch"].dropna().to_numpy()),
                               torch.tensor(b["train/loss_epoch"].dropna().to_numpy()))
    assert runs[0]["metrics"]["test/hs6/acc@1"] == runs[1]["metrics"]["test/hs6/acc@1"]


@pytest.mark.parametrize("model", ["hs_tfidf_knn", "hs_tfidf_lr"])
def test_baselines_share_the_evaluation(model, fixture_root, tmp_path):
    cfg = compose([f"model={model}", "data=hs_public", *FAST, *fixture_overrides(fixture_root)]
                  + (["model.epochs=3"] if model == "hs_tfidf_lr" else []))
    report = run(cfg, tmp_path)
    m = report["metrics"]
    assert {"test/hs6/acc@1", "test/hs4/acc@5", "test/hs6/macro_f1", "bench/fr/hs2/acc@1"} <= set(m)
    assert m["bench/all/hs2/acc@1"] > 0.5


def test_unknown_config_keys_are_errors(fixture_root, tmp_path):
    cfg = compose(["experiment=hs_tiny", "+model.typo=1", *FAST, *fixture_overrides(fixture_root)])
    with pytest.raises(ValueError, match="unknown keys \\['typo'\\]"):
        run(cfg, tmp_path)


def test_cli_text_and_file_modes(tiny_run, tmp_path, capsys):
    from bacuda_research.cli.hs import main

    run_dir, _, _ = tiny_run
    assert main([str(run_dir), "knitted cotton shirts"]) == 0
    out = capsys.readouterr().out
    assert "HS6 suggestions" in out and "probability" in out
    src = tmp_path / "titles.csv"
    pd.DataFrame({"text": ["knitted cotton shirts", "Welded steel tubes 2pcs"],
                  "attributes": ['{"material": "cotton"}', ""],
                  "category": ["Clothing > Shirts", ""]}).to_csv(src, index=False)
    dst = tmp_path / "out.jsonl"
    assert main([str(run_dir / "checkpoints/model.ckpt"), "--input", str(src), "--output", str(dst), "--top-k", "3"]) == 0
    rows = [json.loads(line) for line in dst.read_text().splitlines()]
    assert [r["text"] for r in rows] == ["knitted cotton shirts", "Welded steel tubes 2pcs"]
    for r in rows:
        assert len(r["predictions"]) == 3
        # the contract's keys, plus the confidence calibrated on validation at training
        assert set(r["predictions"][0]) == {"hs6", "probability", "description", "confidence"}
        assert len(r["predictions"][0]["hs6"]) == 6 and r["predictions"][0]["description"]
        probs = [p["probability"] for p in r["predictions"]]
        assert probs == sorted(probs, reverse=True)


def test_cli_rejects_non_models(tmp_path, capsys):
    from bacuda_research.cli.hs import main

    assert main([str(tmp_path / "missing"), "x"]) == 2
    assert str(tmp_path / "missing") in capsys.readouterr().err
    (tmp_path / "notes.txt").write_text("hi")
    assert main([str(tmp_path / "notes.txt"), "x"]) == 2
    assert "notes.txt" in capsys.readouterr().err
    (tmp_path / "bundle").mkdir()
    (tmp_path / "bundle/manifest.json").write_text("{}")
    assert main([str(tmp_path / "bundle"), "x"]) == 2
    assert "bundle" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main([str(tmp_path), "--input", "a.csv"])  # --output missing


def test_rescore_rewrites_mixture_and_calibration_once_and_reports_what_training_reports(tiny_run, tmp_path):
    """scripts/hs_rescore.py --mixture-rows: the training run's own scoring (every val/test/smoke-set
    metric of the report), and the new weights and temperature both in the checkpoint."""
    import runpy
    import shutil

    from omegaconf import OmegaConf

    src, report, cfg = tiny_run
    run_dir = tmp_path / "run"
    shutil.copytree(src, run_dir)
    (run_dir / ".hydra").mkdir(exist_ok=True)
    OmegaConf.save(cfg, run_dir / ".hydra" / "config.yaml")
    (run_dir / "predictions.csv").unlink()
    rescore = runpy.run_path(str(REPO_ROOT / "scripts" / "hs_rescore.py"))
    out_file = tmp_path / "rescore.json"
    assert rescore["main"]([str(run_dir), "--output", str(out_file), "--mixture-rows", "all",
                            "--write-calibration"]) == 0
    out = json.loads(out_file.read_text())
    wanted = {k for k in report["metrics"] if k.split("/")[0] in ("val", "test", "bench")} - {"test/hs6_seen_classes"}
    assert not wanted - set(out["metrics"]), sorted(wanted - set(out["metrics"]))[:10]
    assert (run_dir / "predictions.csv").is_file()
    ckpt = torch.load(run_dir / "checkpoints/model.ckpt", map_location="cpu", weights_only=True)
    assert ckpt["state_dict"]["mix"].tolist() == pytest.approx(out["mixture"]["weights"])
    assert ckpt["hs"]["calibration"]["temperature"] == pytest.approx(out["calibration"]["temperature"])
