"""Hardening (issue 18): every failure on untrusted input ends in one clear line (file, and
row/column/tree where it applies) and exit status 2 (1 for bacuda-validate/-anonymize's refused
files, as documented), never a traceback: checkpoints that need unpickling or are truncated, a
truncated ``.csv.gz``, huge values (cut in messages), oversized or loosely protected key files."""

from __future__ import annotations

import gzip
import logging
import os
import sys

import pytest
import torch

from conftest import TINY_DATE, score_input


class Payload:
    """Any class: a checkpoint holding it needs unpickling (and could run code when unpickled)."""


def _one_line(err: str) -> None:
    assert err.count("\n") == 1 and "Traceback" not in err, err


def test_checkpoint_needing_unpickling_is_refused_without_torch_advice(tiny_date_export, tmp_path, capsys):
    from bacuda_research.cli.explain import main as explain
    from bacuda_research.cli.score import main as score
    from bacuda_research.core.checkpoints import load_checkpoint

    run_dir, report, _, _ = tiny_date_export
    ckpt = torch.load(run_dir / "checkpoints" / "best.ckpt", map_location="cpu", weights_only=True)
    ckpt["extra"] = Payload()
    path = tmp_path / "evil.ckpt"
    torch.save(ckpt, path)
    with pytest.raises(ValueError, match="need unpickling, which bacuda never does") as info:
        load_checkpoint(path)
    assert "weights_only" not in str(info.value)
    src = score_input(report, tmp_path / "in.csv")
    for main, argv in ((explain, [str(path), str(src), "--output", str(tmp_path / "e.jsonl")]),
                       (score, [str(path), str(src), str(tmp_path / "s.csv")])):
        assert main(argv) == 2
        err = capsys.readouterr().err
        _one_line(err)
        assert "evil.ckpt" in err and "weights_only" not in err
    assert not (tmp_path / "e.jsonl").exists() and not (tmp_path / "s.csv").exists()


def test_truncated_checkpoint_is_one_line(tiny_date_export, tmp_path, capsys):
    from bacuda_research.cli.explain import main as explain

    run_dir, report, _, _ = tiny_date_export
    path = tmp_path / "cut.ckpt"
    data = (run_dir / "checkpoints" / "best.ckpt").read_bytes()
    path.write_bytes(data[: len(data) // 2])
    assert explain([str(path), str(score_input(report, tmp_path / "in.csv"))]) == 2
    err = capsys.readouterr().err
    _one_line(err)
    assert "cut.ckpt: not a readable checkpoint, truncated or damaged" in err


def test_truncated_last_ckpt_on_resume_is_one_line(tiny_date_export, tmp_path, monkeypatch, capsys):
    """bacuda-train into an interrupted run whose last.ckpt was cut: exit 2, one line, no DONE."""
    run_dir, _, _, _ = tiny_date_export
    target = tmp_path / "interrupted"
    (target / "checkpoints").mkdir(parents=True)
    data = (run_dir / "checkpoints" / "last.ckpt").read_bytes()
    (target / "checkpoints" / "last.ckpt").write_bytes(data[: len(data) // 3])
    from bacuda_research.cli import train

    monkeypatch.setattr(sys, "argv", ["bacuda-train", "logger=csv", *TINY_DATE, f"hydra.run.dir={target}",
                                      "hydra/job_logging=disabled", "hydra/hydra_logging=disabled"])
    loggers = {n: lg.disabled for n, lg in logging.root.manager.loggerDict.items() if isinstance(lg, logging.Logger)}
    try:
        with pytest.raises(SystemExit) as info:
            train.main()
    finally:  # Hydra's disabled logging config disables every existing logger: restore them
        for name, lg in logging.root.manager.loggerDict.items():
            if isinstance(lg, logging.Logger):
                lg.disabled = loggers.get(name, False)
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert "bacuda-train: error: " in err and "last.ckpt: not a readable checkpoint, truncated or damaged" in err
    assert "Traceback" not in err and not (target / "DONE").exists()


def test_truncated_csv_gz_is_one_line(tiny_date_export, tmp_path, capsys):
    from bacuda_research.cli.score import main as score
    from bacuda_research.cli.validate import main as validate

    _, report, bundle, _ = tiny_date_export
    data = gzip.compress(score_input(report, tmp_path / "in.csv", rows=2000).read_bytes())
    src = tmp_path / "in.csv.gz"
    src.write_bytes(data[: len(data) // 2])
    assert validate([str(src), "--no-labels"]) == 1
    assert score([str(bundle), str(src), str(tmp_path / "s.csv")]) == 2
    err = capsys.readouterr().err
    assert err.count("in.csv.gz: truncated or damaged compressed file") == 2 and "Traceback" not in err
    assert not (tmp_path / "s.csv").exists()


def test_huge_values_are_cut_in_messages(tiny_date_export, tmp_path, capsys):
    import pandas as pd

    from bacuda_research.cli.score import main as score

    _, report, bundle, _ = tiny_date_export
    src = score_input(report, tmp_path / "in.csv", rows=10)
    df = pd.read_csv(src, dtype=str)
    df.loc[2, "cif.value"] = "9" * 5_000_000
    df.to_csv(src, index=False)
    assert score([str(bundle), str(src), str(tmp_path / "s.csv")]) == 2
    err = capsys.readouterr().err
    _one_line(err)
    assert "column 'cif.value'" in err and "row(s) 3" in err and "(5,000,000 characters)" in err and len(err) < 500


def test_key_file_is_read_with_a_size_cap(tmp_path):
    from bacuda_research.declarations.anonymize import MAX_KEY_FILE_BYTES, AnonymizationError, read_key

    with pytest.raises(AnonymizationError, match=f"larger than {MAX_KEY_FILE_BYTES} bytes"):
        read_key(key_file="/dev/urandom")  # endless: read no further than the cap
    big = tmp_path / "data.csv"
    big.write_bytes(b"x" * (MAX_KEY_FILE_BYTES + 1))
    big.chmod(0o600)
    with pytest.raises(AnonymizationError, match="not a key file"):
        read_key(key_file=big)


def test_group_or_world_readable_key_file_warns(tmp_path, caplog):
    from bacuda_research.declarations.anonymize import read_key

    key = tmp_path / "key"
    key.write_bytes(os.urandom(32).hex().encode())
    key.chmod(0o600)
    with caplog.at_level(logging.WARNING, logger="bacuda_research"):
        read_key(key_file=key)
        assert not caplog.records
        key.chmod(0o644)
        assert read_key(key_file=key) == key.read_bytes()
    assert len(caplog.records) == 1 and "readable by group or others" in caplog.text and "chmod 600" in caplog.text
    assert key.read_text() not in caplog.text  # the key itself never reaches a log


def test_unexpected_failures_are_one_line_and_debuggable(monkeypatch, capsys):
    from bacuda_research.cli import one_line, run_guarded

    def boom() -> int:
        raise KeyError("x" * 10_000)

    assert run_guarded("bacuda-x", boom) == 2
    err = capsys.readouterr().err
    _one_line(err)
    assert err.startswith("bacuda-x: error: KeyError: ") and len(err) < 600
    assert one_line(ValueError("a\nb")) == "a b"
    monkeypatch.setenv("BACUDA_DEBUG", "1")
    with pytest.raises(KeyError):
        run_guarded("bacuda-x", boom)
