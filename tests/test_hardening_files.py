"""Hardening (issue 18): no command writes over one of its inputs, bacuda-eval never writes into an
existing run, CSV outputs escape formula cells, numbers outside the float32-safe range are refused
with file/row/column, and a run whose metrics come out NaN fails without ``DONE``."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from conftest import score_input


# -- no command writes over one of its inputs ---------------------------------------------------
def _same_after(path: Path, before: bytes) -> None:
    assert path.read_bytes() == before, f"{path} was changed"


@pytest.mark.parametrize("how", ["same", "hardlink", "symlink", "inside_bundle"])
def test_score_never_overwrites_its_input(tiny_date_export, tmp_path, capsys, how):
    from bacuda_research.cli.score import main as score

    _, report, bundle, _ = tiny_date_export
    src = score_input(report, tmp_path / "in.csv")
    before = src.read_bytes()
    out = {"same": src, "hardlink": tmp_path / "link.csv", "symlink": tmp_path / "sym.csv",
           "inside_bundle": bundle / "scores.csv"}[how]
    if how == "hardlink":
        os.link(src, out)
    elif how == "symlink":
        out.symlink_to(src)
    assert score([str(bundle), str(src), str(out)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and ("would overwrite the input" in err or "inside the input folder" in err)
    _same_after(src, before)
    assert not (bundle / "scores.csv").exists() and not Path(f"{out}.meta.json").exists()


def test_validate_json_never_overwrites_its_input(tiny_date_export, tmp_path, capsys):
    from bacuda_research.cli.validate import main as validate

    _, report, _, _ = tiny_date_export
    src = score_input(report, tmp_path / "in.csv")
    before = src.read_bytes()
    assert validate([str(src), "--no-labels", "--json", str(src)]) == 2
    os.link(src, tmp_path / "link.json")
    assert validate([str(src), "--no-labels", "--json", str(tmp_path / "link.json")]) == 2
    assert capsys.readouterr().err.count("would overwrite the input") == 2
    _same_after(src, before)


def test_explain_output_never_overwrites_its_inputs(tiny_date_export, tmp_path, capsys):
    from bacuda_research.cli.explain import main as explain

    run_dir, report, _, _ = tiny_date_export
    src = score_input(report, tmp_path / "in.csv")
    ckpt = run_dir / "checkpoints" / "best.ckpt"
    before, ckpt_before = src.read_bytes(), ckpt.stat().st_mtime_ns
    assert explain([str(run_dir), str(src), "--output", str(src)]) == 2
    assert explain([str(ckpt), str(src), "--output", str(ckpt)]) == 2
    assert explain([str(run_dir), str(src), "--output", str(run_dir / "explained.jsonl")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 3 and "Traceback" not in err
    _same_after(src, before)
    assert ckpt.stat().st_mtime_ns == ckpt_before and not (run_dir / "explained.jsonl").exists()


def test_anonymize_never_overwrites_its_input_or_key(tmp_path, capsys):
    from bacuda_research.cli.anonymize import main as anonymize

    key = tmp_path / "key"
    key.write_bytes(os.urandom(32))
    key.chmod(0o600)
    src = tmp_path / "in.csv"
    src.write_text("x\n1\n")
    os.link(src, tmp_path / "link.csv")
    assert anonymize([str(src), str(tmp_path / "link.csv"), "--key-file", str(key)]) == 1
    assert anonymize([str(src), str(key), "--key-file", str(key)]) == 1
    assert capsys.readouterr().err.count("would overwrite the input") == 2
    assert src.read_text() == "x\n1\n" and len(key.read_bytes()) == 32


def test_eval_never_writes_into_an_existing_run(tiny_date_export, tmp_path, monkeypatch, capsys):
    from bacuda_research.cli import evaluate as cli_eval
    from bacuda_research.core.config import compose

    run_dir, _, _, _ = tiny_date_export
    before = {p.name: p.stat().st_mtime_ns for p in run_dir.iterdir() if p.is_file()}
    hydra_before = (run_dir / ".hydra" / "config.yaml").read_bytes() if (run_dir / ".hydra").exists() else None
    cfg = compose([f"model_path={run_dir}", "data=synthetic", "data.synthetic.rows=3000"], config_name="eval")
    with pytest.raises(ValueError, match="own run folder"):
        cli_eval.evaluate(cfg, run_dir)
    other = tmp_path / "other_run"
    other.mkdir()
    (other / "report.json").write_text("{}")
    with pytest.raises(ValueError, match=r"holds a finished run \(report.json\)"):
        cli_eval.evaluate(cfg, other)
    # the console script refuses hydra.run.dir=<a run> before Hydra writes its .hydra/ files there
    monkeypatch.setattr("sys.argv", ["bacuda-eval", f"model_path={run_dir}", f"hydra.run.dir={run_dir}"])
    with pytest.raises(SystemExit) as info:
        cli_eval.main()
    assert info.value.code == 2 and "own run folder" in capsys.readouterr().err
    assert {p.name: p.stat().st_mtime_ns for p in run_dir.iterdir() if p.is_file()} == before
    if hydra_before is not None:
        assert (run_dir / ".hydra" / "config.yaml").read_bytes() == hydra_before
    assert (other / "report.json").read_text() == "{}" and not (other / "DONE").exists()


# -- CSV formula cells ----------------------------------------------------------------------------
FORMULAS = ["=cmd|' /C calc'!A0", "+1+1", "-2+3", "@SUM(A1)", "\tx", "\rx"]


def test_score_csv_escapes_formula_ids_parquet_and_jsonl_keep_them(tiny_date_export, tmp_path):
    from bacuda_research.cli.score import main as score

    _, report, bundle, _ = tiny_date_export
    formulas = FORMULAS[:4]  # validation strips leading tabs / CRs from ids: write_table's test has them
    src = score_input(report, tmp_path / "in.csv", rows=len(formulas) + 4)
    df = pd.read_csv(src, dtype=str, keep_default_na=False)
    df.loc[: len(formulas) - 1, "sgd.id"] = formulas
    df.to_csv(src, index=False)
    for name in ("s.csv", "s.parquet", "s.jsonl"):
        assert score([str(bundle), str(src), str(tmp_path / name), "--top-k", "1"]) == 0
    ids = pd.read_csv(tmp_path / "s.csv", dtype=str, keep_default_na=False)["sgd.id"].tolist()
    assert ids[: len(formulas)] == ["'" + f for f in formulas]
    assert ids[len(formulas):] == df["sgd.id"].tolist()[len(formulas):]  # ordinary ids unchanged
    assert pd.read_parquet(tmp_path / "s.parquet")["sgd.id"].tolist() == df["sgd.id"].tolist()
    jsonl = [json.loads(line)["sgd.id"] for line in (tmp_path / "s.jsonl").read_text().splitlines()]
    assert jsonl == df["sgd.id"].tolist()


def test_write_table_escapes_text_not_numbers(tmp_path):
    from bacuda_research.core.io import write_table

    frame = pd.DataFrame({"sgd.id": FORMULAS + ["ok"], "score": [-1.5] * 7, "split": ["test"] * 7})
    write_table(frame, tmp_path / "p.csv")
    import csv

    # (pandas writes a bare CR unquoted, so a CR cell splits the row for any reader: checked as bytes)
    assert b"\n'\rx," in (tmp_path / "p.csv").read_bytes()
    write_table(frame.drop(index=5), tmp_path / "p.csv")
    with open(tmp_path / "p.csv", newline="", encoding="utf-8") as f:
        back = list(csv.DictReader(f))
    assert [r["sgd.id"] for r in back] == ["'" + f for f in FORMULAS[:5]] + ["ok"]
    assert {r["score"] for r in back} == {"-1.5"} and {r["split"] for r in back} == {"test"}  # numbers untouched
    assert frame["sgd.id"].tolist()[0] == FORMULAS[0]  # the caller's frame is not modified
    write_table(frame.drop(index=5), tmp_path / "p.csv", escape=False)  # data files the pipeline reads back
    with open(tmp_path / "p.csv", newline="", encoding="utf-8") as f:
        assert [r["sgd.id"] for r in csv.DictReader(f)] == FORMULAS[:5] + ["ok"]


# -- validation bounds ----------------------------------------------------------------------------
@pytest.mark.parametrize("column, value", [("cif.value", "1e308"), ("quantity", "5e-324"), ("revenue", "1e308"),
                                           ("fob.value", "-1e19"), ("gross.weight", "1e-30")])
def test_out_of_range_numbers_are_refused_with_row_and_column(tiny_date_export, tmp_path, capsys, column, value):
    from bacuda_research.cli.validate import main as validate

    _, report, _, _ = tiny_date_export
    df = pd.read_csv(report["data"]["path"], dtype=str).head(30)
    if column == "revenue":
        df.loc[6, "illicit"] = "1"
    df.loc[6, column] = value
    df.to_csv(tmp_path / "in.csv", index=False)
    assert validate([str(tmp_path / "in.csv")]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"column '{column}'" in err and "row(s) 7" in err
    assert "out of the supported range" in err or (value.startswith("-") and "negative" in err)


def test_limits_of_the_range_are_accepted(tmp_path):
    from bacuda_research.declarations.reading import MAX_ABS, MIN_ABS, out_of_range

    ok = np.array([0.0, MIN_ABS, MAX_ABS, -MAX_ABS, 1.0, np.nan])
    assert not out_of_range(ok).any()
    assert out_of_range(np.array([MAX_ABS * 1.01, MIN_ABS / 2, 5e-324, 1e308])).all()
    # any ratio of two accepted values is finite in float32
    assert np.isfinite(np.float32(MAX_ABS / MIN_ABS)) and np.float32(MIN_ABS / MAX_ABS) > 0


def test_infinite_derived_feature_is_refused_naming_the_column(tmp_path):
    from bacuda_research.declarations.reading import DataValidationError, float32_matrix

    frame = pd.DataFrame({"a": [1.0, 2.0, 1e39], "b": [np.nan, 1.0, 2.0]})  # 1e39 overflows float32
    with pytest.raises(DataValidationError, match=r"f.csv: column 'a': derived feature is infinite.*row\(s\) 3"):
        float32_matrix(frame, ["a", "b"], source="f.csv")
    assert np.isnan(float32_matrix(frame.iloc[:2], ["a", "b"])[0, 1])  # a missing value stays missing


def test_training_on_an_extreme_revenue_fails_before_done(tiny_date_export, tmp_path, compose_small):
    from bacuda_research.declarations.reading import DataValidationError
    from bacuda_research.run import run

    _, report, _, _ = tiny_date_export
    df = pd.read_csv(report["data"]["path"], dtype=str)
    row = int(np.flatnonzero(df["illicit"].to_numpy() == "1")[0])
    df.loc[row, "revenue"] = "1e308"
    df.to_csv(tmp_path / "data.csv", index=False)
    cfg = compose_small("model=random", "data=file", f"data.path={tmp_path / 'data.csv'}")
    with pytest.raises(DataValidationError, match=rf"column 'revenue'.*row\(s\) {row + 1}\b"):
        run(cfg, tmp_path / "run")
    assert not (tmp_path / "run" / "DONE").exists() and not (tmp_path / "run" / "report.json").exists()


def test_nan_metrics_fail_the_run_without_done(tmp_path, compose_small, monkeypatch):
    from bacuda_research.fraud import task
    from bacuda_research.run import run

    real = task.evaluate_scores

    def with_nan(*args, **kwargs):
        metrics = real(*args, **kwargs)
        return {**metrics, "test/revenue@1": float("nan"), "test/auc": float("nan")}

    monkeypatch.setattr(task, "evaluate_scores", with_nan)
    with pytest.raises(FloatingPointError, match=r"NaN or infinite \(test/revenue@1\)"):
        run(compose_small("model=random", "data.synthetic.rows=3000"), tmp_path / "run")
    assert not (tmp_path / "run" / "DONE").exists() and not (tmp_path / "run" / "report.json").exists()
    # a NaN AUC alone (one class in a split) is a sound run
    monkeypatch.setattr(task, "evaluate_scores", lambda *a, **k: {**real(*a, **k), "test/auc": float("nan")})
    run(compose_small("model=random", "data.synthetic.rows=3000"), tmp_path / "ok")
    assert (tmp_path / "ok" / "DONE").exists()
