"""bacuda-bench: suites expand, run in-process, resume, reproduce exactly; tables refuse mixed reports."""

from __future__ import annotations

import json
import shutil

import pandas as pd
import pytest

from bacuda_research.bench import suites as bench
from bacuda_research.cli.bench import main as bench_main


@pytest.fixture(scope="module")
def tiny_runs(tmp_path_factory):
    """The tiny suite's xgboost run (seed 0) and its DATE run, once per module."""
    root = tmp_path_factory.mktemp("bench")
    assert bench_main(["tiny", "--root", str(root), "--seeds", "0"]) == 0
    return root / "experiments" / "tiny"


def test_every_suite_expands_and_composes(tmp_path):
    for name in bench.suite_names():
        suite = bench.load_suite(name)
        runs = bench.plan(suite, root=tmp_path)
        assert runs and len({r.run_dir for r in runs}) == len(runs)
        for g in {r.group: r for r in runs}.values():  # compose one run per group
            cfg, choices = bench.compose_run(g.overrides)
            assert cfg.seed == g.seed and "hydra" not in cfg and "model" in choices


def test_date_synthetic_suite_is_the_committed_layout(tmp_path):
    runs = bench.plan(bench.load_suite("date_synthetic"), root=tmp_path)
    rel = {str(r.run_dir.relative_to(tmp_path)) for r in runs}
    assert len(runs) == 3 * 5 + 7 * 2 * 5
    assert "experiments/date_synthetic/baselines/xgb_revenue-out_of_fold-s4" in rel
    assert "experiments/date_synthetic/baselines/largest-reference-s0" in rel
    assert "experiments/date_synthetic/baselines/xgb_expected-out_of_fold-s4" in rel
    assert "experiments/date_synthetic/date/date_synthetic_oof-s0" in rel


def test_suite_runs_then_skips_and_dry_run_lists(tiny_runs, capsys):
    report = json.loads((tiny_runs / "xgboost-s0" / "report.json").read_text())
    assert report["seed"] == 0 and report["device"]["torch_threads"] == 1
    assert report["hydra_choices"]["model"] == "xgboost"
    assert (tiny_runs / "date-s0" / "DONE").exists() and (tiny_runs / "date-s0" / "train.log").exists()
    capsys.readouterr()
    assert bench_main(["tiny", "--root", str(tiny_runs.parent.parent), "--seeds", "0", "1", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "done     experiments/tiny/xgboost-s0" in out and "todo     experiments/tiny/xgboost-s1" in out
    assert "5 runs, 3 done, 2 to run" in out
    # a second invocation runs nothing (resumable: same config => skipped)
    assert bench_main(["tiny", "--root", str(tiny_runs.parent.parent), "--seeds", "0"]) == 0
    assert "3 done, 0 to run" in capsys.readouterr().out


def test_reruns_start_from_scratch_and_reproduce(tiny_runs, tmp_path):
    """--force on a finished DATE folder, and an interrupted one, train from scratch (never resume
    from a left-over last.ckpt) and, same seed and threads, give the same metrics."""
    root = tmp_path / "r"
    shutil.copytree(tiny_runs / "date-s0", root / "experiments" / "tiny" / "date-s0")
    before = json.loads((root / "experiments" / "tiny" / "date-s0" / "report.json").read_text())["metrics"]
    assert bench_main(["tiny", "--root", str(root), "--group", "date", "--force"]) == 0
    run = root / "experiments" / "tiny" / "date-s0"
    assert json.loads((run / "report.json").read_text())["metrics"] == before
    second = (run / "train.log").read_text().split("bacuda-bench:")[-1]  # the log of the forced run
    assert "resuming from" not in second and (run / "checkpoints" / "best.ckpt").exists()
    # an interrupted run (no DONE, checkpoints left) restarts from scratch, not from last.ckpt
    (run / "DONE").unlink()
    (run / "report.json").unlink()
    assert bench_main(["tiny", "--root", str(root), "--group", "date"]) == 0
    assert "resuming from" not in (run / "train.log").read_text().split("bacuda-bench:")[-1]
    assert json.loads((run / "report.json").read_text())["metrics"] == before


def test_changed_config_is_not_skipped(tiny_runs, tmp_path):
    root = tmp_path / "r"
    shutil.copytree(tiny_runs, root / "experiments" / "tiny")
    path = root / "experiments" / "tiny" / "xgboost-s0" / "report.json"
    rep = json.loads(path.read_text())
    rep["config"]["model"]["xgb"]["max_depth"] = 9
    path.write_text(json.dumps(rep))
    runs = bench.plan(bench.load_suite("tiny"), root=root, groups=["classic"], seeds=[0])
    bench.resolve_statuses(runs)
    status = {r.run_dir.name: (r.status, r.reason) for r in runs}
    assert status["random-s0"] == ("done", "")
    assert status["xgboost-s0"][0] == "changed" and "model.xgb.max_depth: 9 -> 4" in status["xgboost-s0"][1]


@pytest.mark.parametrize("run", ["xgboost-s0", "date-s0"])
def test_rerun_with_recorded_seed_and_threads_is_exact(tiny_runs, run, capsys):
    """Reproducibility: the recorded config, re-run in-process on a fresh cache, gives every metric exactly."""
    assert bench_main(["--check", str(tiny_runs / run / "report.json")]) == 0
    assert "every metric equal" in capsys.readouterr().out


def test_check_names_every_differing_metric(tiny_runs, tmp_path, capsys):
    run = tmp_path / "xgboost-s0"
    shutil.copytree(tiny_runs / "xgboost-s0", run)
    rep = json.loads((run / "report.json").read_text())
    rep["metrics"]["test/precision@5"] += 0.001
    (run / "report.json").write_text(json.dumps(rep))
    res = bench.check_report(run, reuse_cache=True)
    assert not res.ok and len(res.differences) == 1 and res.differences[0].startswith("test/precision@5: recorded")
    assert bench_main(["--check", str(run), "--reuse-cache"]) == 1
    assert "DIFFERENT" in capsys.readouterr().out


def _fake_run(root, name, seed, sha="a" * 64, depth=4, prec=0.5):
    d = root / name
    d.mkdir(parents=True)
    metrics = {f"test/{m}@{n}": prec / n for m in ("precision", "recall", "revenue") for n in (1, 2, 5, 10)}
    metrics.update({"test/hs2/acc@1": 0.9, "test/hs4/acc@1": 0.8, "test/hs6/acc@1": 0.7 - seed / 100})
    rep = {"metrics": metrics, "seed": seed, "data_sha256": sha,
           "config": {"seed": seed, "model": {"name": "m", "xgb": {"max_depth": depth}},
                      "features": {"risk_flags": "reference"}, "cache_dir": f"/c{seed}"}}
    (d / "report.json").write_text(json.dumps(rep))
    (d / "DONE").write_text("ok\n")
    return d


def test_table_refuses_other_config_or_data_naming_the_report(tmp_path):
    from bacuda_research.bench.tables import check_consistent, check_same_config, find_reports, load_rows

    group = ["model.name", "features.risk_flags"]
    for s in range(3):
        _fake_run(tmp_path / "ok", f"m-s{s}", s)
    df = load_rows(find_reports([tmp_path / "ok"]), group)
    check_same_config(df, group)  # seed and cache_dir differ only: accepted
    check_consistent(df)

    _fake_run(tmp_path / "ok", "m-s3", 3, depth=6)
    df = load_rows(find_reports([tmp_path / "ok"]), group)
    with pytest.raises(ValueError, match=r"m-s3/report\.json differs .*model\.xgb\.max_depth: 4 -> 6"):
        check_same_config(df, group)

    _fake_run(tmp_path / "sha", "m-s0", 0)
    _fake_run(tmp_path / "sha", "m-s1", 1)
    _fake_run(tmp_path / "sha", "m-s2", 2, sha="b" * 64)
    df = load_rows(find_reports([tmp_path / "sha"]), group)
    with pytest.raises(ValueError, match=r"m-s2/report\.json \(sha256 bbbbbbbbbbbb\)"):
        check_consistent(df)


def test_plots_are_written(tmp_path):
    from bacuda_research.bench.plots import plot_hs_levels, plot_selection_curves, selection_percents
    from bacuda_research.bench.tables import find_reports, load_rows

    for s in range(2):
        _fake_run(tmp_path / "runs", f"m-s{s}", s)
    df = load_rows(find_reports([tmp_path / "runs"]), ["model.name", "features.risk_flags"])
    assert selection_percents(df.columns) == [1, 2, 5, 10]
    for fn in (plot_selection_curves, plot_hs_levels):
        png = fn(df, ["model.name"], tmp_path / f"{fn.__name__}.png")
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert plot_selection_curves(pd.DataFrame({"seed": [0]}), [], tmp_path / "none.png") is None


def test_identity_ignores_only_what_cannot_change_numbers():
    base = {"seed": 1, "cache_dir": "/a", "trainer": {"max_epochs": 5, "enable_progress_bar": True},
            "data": {"path": "/x.csv", "batch_size": 256}}
    date = {**base, "model": {"family": "date"}}
    ident = bench.config_identity(date, ignore_seed=True)
    assert ident == {"trainer": {"max_epochs": 5}, "data": {"batch_size": 256}, "model": {"family": "date"}}
    # the classic baselines never read the Lightning trainer or batch settings
    assert bench.config_identity({**base, "model": {"family": "classic"}}) == {
        "seed": 1, "data": {}, "model": {"family": "classic"}}


def test_check_ignores_wall_clock_entries():
    assert bench.metric_differences({"test/auc": 0.7, "time/fit_s": 2296.0}, {"test/auc": 0.7, "time/fit_s": 659.2}) == []
    assert bench.metric_differences({"test/auc": 0.7}, {"test/auc": 0.71}) != []


def test_identity_drops_options_that_are_off():
    old = {"model": {"family": "date", "alpha": 10.0}}
    off = {"model": {"family": "date", "alpha": 10.0, "revenue_ranking": "head",
                     "revenue_given_illicit": {"n_estimators": 300}}}
    on = {"model": {**off["model"], "revenue_ranking": "expected"}}
    assert bench.config_identity(off) == bench.config_identity(old)
    assert bench.config_identity(on) != bench.config_identity(old)
