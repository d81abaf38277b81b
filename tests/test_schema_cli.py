"""bacuda-schema drafts, bacuda-validate --schema and bacuda-anonymize --schema, in-process.

A refused command exits 1 with one line on stderr and leaves no output file (not even a partial
one); drafts and messages never quote an identifier's value.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from bacuda_research.cli.anonymize import main as anonymize_main
from bacuda_research.cli.schema import main as schema_main
from bacuda_research.cli.validate import main as validate_main
from bacuda_research.declarations.canonical import load_declared
from bacuda_research.declarations.declared import load_schema
from tests.conftest import shared_file
from tests.test_declared_schema import kcs_frame, write

SECRETS = ("IMP5550", "DEC770", "SELL88", "9706")
KEY = "k" * 32


def big_frame(n: int = 240) -> pd.DataFrame:
    """kcs_frame with enough rows that a 25% label is far from what any one column predicts."""
    df = kcs_frame(n)
    df["Date"] = pd.date_range("2020-01-01", periods=n, freq="D").strftime("%Y-%m-%d")
    df["Item Price"] = [f"{1200 + 17 * i}.5" for i in range(n)]
    df["Freight"] = [f"{3 + 0.37 * i:.2f}" for i in range(n)]  # an amount: unique per row, still a number
    return df


def draft(tmp_path: Path, df: pd.DataFrame, *args: str, sep: str = ",", capsys=None) -> tuple[int, Path]:
    path = write(df, tmp_path, sep=sep)
    out = tmp_path / "schema.yaml"
    return schema_main([str(path), *args, "--output", str(out)]), out


def test_draft_roles_lists_and_reasons(tmp_path, capsys):
    rc, out = draft(tmp_path, big_frame(), "--label", "Fraud")
    assert rc == 0, capsys.readouterr().err
    assert "the draft validates" in capsys.readouterr().err
    sch = load_schema(out)
    assert sch.roles == {"id": "Declaration ID", "date": "Date", "label": "Fraud", "tariff": "HS6 Code",
                         "importer": "Importer ID", "declarant": "Declarant ID", "office": "Office ID",
                         "country": "Country of Origin", "value": "Item Price", "weight": "Net Mass",
                         "tax_rate": "Tax Rate"}
    assert sch.date_format == "%Y-%m-%d" and sch.tariff_digits == 6 and sch.positive == ("1",)
    assert sch.entities == ("Seller ID",) and sch.allow_missing == ("Seller ID",)
    assert sch.categorical == ("Process Type",) and sch.numeric == ("Freight",)
    text = out.read_text()
    assert "Critical Fraud" in sch.ignore and "an outcome, not a feature" in text
    assert "revenue: null" in text and "no --revenue" in text
    for line in text.splitlines():
        if not line.startswith("#") and line.strip():
            assert "#" in line or line.endswith(":"), f"no reason given: {line}"
    assert not any(s in text for s in SECRETS)


def test_a_label_that_is_not_0_1_needs_positive(tmp_path, capsys):
    df = big_frame()
    df["Fraud"] = np.where(df["Fraud"] == "1", "Y", "N")
    rc, out = draft(tmp_path, df, "--label", "Fraud")
    err = capsys.readouterr().err
    assert rc == 1 and "not 0/1" in err and "--positive" in err and not out.exists()
    rc, out = draft(tmp_path, df, "--label", "Fraud", "--positive", "Y")
    assert rc == 0 and load_schema(out).negative == ("N",)


def test_semicolons_and_decimal_commas_are_detected_and_recorded(tmp_path, capsys):
    df = big_frame()
    for col in ("Item Price", "Tax Rate", "Freight"):
        df[col] = df[col].str.replace(".", ",", regex=False)
    rc, out = draft(tmp_path, df, "--label", "Fraud", sep=";")
    assert rc == 0 and "the draft validates" in capsys.readouterr().err
    text = out.read_text()
    assert 'delimiter: ";"' in text and 'decimal: ","' in text
    assert validate_main([str(tmp_path / "decl.csv"), "--schema", str(out)]) == 0


def test_ambiguous_dates_are_left_for_a_person(tmp_path, capsys):
    df = big_frame(24)
    df["Date"] = [f"{1 + i % 12:02d}/{1 + i % 12:02d}/2020" for i in range(24)]
    rc, out = draft(tmp_path, df, "--label", "Fraud")
    assert rc == 0 and "format: null" in out.read_text() and "day/month order" in out.read_text()
    assert "EDIT NEEDED" in capsys.readouterr().err


@pytest.mark.parametrize("args, break_file, match", [
    (["--label", "Verdict"], None, "'Verdict' is not a column"),
    (["--label", "Fraud"], "latin1", "not valid UTF-8"),
    (["--label", "Fraud", "--positive", "9"], None, "never found in label column"),
    (["--label", "Fraud"], "no_dates", "no column parses as dates"),
])
def test_refused_drafts_write_nothing(tmp_path, capsys, args, break_file, match):
    df = big_frame()
    if break_file == "no_dates":
        df["Date"] = "soon"
    path = write(df, tmp_path)
    if break_file == "latin1":
        df.loc[3, "Process Type"] = "Dédouané"
        path.write_bytes(df.to_csv(index=False).encode("latin-1"))
    out = tmp_path / "schema.yaml"
    assert schema_main([str(path), *args, "--output", str(out)]) == 1
    err = capsys.readouterr().err
    assert match in err and err.count("\n") == 1 and "Traceback" not in err
    assert not out.exists() and not list(tmp_path.glob(".schema.yaml.tmp-*"))


def test_validate_with_a_schema_refuses_a_bad_file_and_mixed_options(tmp_path, capsys):
    rc, out = draft(tmp_path, big_frame(), "--label", "Fraud")
    bad = big_frame()
    bad.loc[9, "Fraud"] = "2"
    path = write(bad, tmp_path, "bad.csv")
    assert validate_main([str(path), "--schema", str(out), "--json", str(tmp_path / "q.json")]) == 1
    err = capsys.readouterr().err
    assert "column 'Fraud'" in err and "row(s) 10" in err and not (tmp_path / "q.json").exists()
    with pytest.raises(SystemExit) as info:
        validate_main([str(path), "--schema", str(out), "--column", "cif=Item Price"])
    assert info.value.code == 2


def test_anonymize_with_a_schema_pseudonymises_roles_and_entities(tmp_path, capsys):
    rc, sch_path = draft(tmp_path, big_frame(), "--label", "Fraud")
    src, dst = tmp_path / "decl.csv", tmp_path / "anon.csv"
    key = tmp_path / "key"
    key.write_text(KEY)
    assert anonymize_main([str(src), str(dst), "--key-file", str(key), "--schema", str(sch_path)]) == 0
    text = dst.read_text()
    assert not any(s in text for s in SECRETS)
    anon = load_declared(dst, load_schema(sch_path))
    orig = load_declared(src, load_schema(sch_path))
    assert anon["Seller ID"].str.startswith("ENT-").sum() == (orig["Seller ID"] != "").sum()
    assert (anon["Seller ID"] == "").sum() == (orig["Seller ID"] == "").sum()  # empty stays empty
    assert anon["importer.id"].nunique() == orig["importer.id"].nunique()
    assert anon["illicit"].tolist() == orig["illicit"].tolist()
    assert "Critical Fraud" not in pd.read_csv(dst, nrows=1).columns


def test_anonymize_with_a_schema_writes_nothing_for_a_refused_file(tmp_path, capsys):
    rc, sch_path = draft(tmp_path, big_frame(), "--label", "Fraud")
    bad = big_frame()
    bad.loc[2, "Importer ID"] = ""
    src, dst = write(bad, tmp_path, "bad.csv"), tmp_path / "anon.csv"
    (tmp_path / "key").write_text(KEY)
    assert anonymize_main([str(src), str(dst), "--key-file", str(tmp_path / "key"), "--schema", str(sch_path)]) == 1
    err = capsys.readouterr().err
    assert "empty identifier" in err and not any(s in err for s in SECRETS)
    assert not dst.exists() and not list(tmp_path.glob(".anon.csv.tmp-*"))


def test_the_console_script_is_declared():
    scripts = tomllib.loads((Path(__file__).parents[1] / "pyproject.toml").read_text())["project"]["scripts"]
    assert scripts["bacuda-schema"] == "bacuda_research.cli.schema:main"


@pytest.mark.shared
def test_kcs_draft_validates_all_three_files_and_matches_the_shipped_schema(tmp_path, capsys):
    train = shared_file("data/kcs-synthetic/df_syn_train_eng.csv")
    out = tmp_path / "kcs.yaml"
    assert schema_main([str(train), "--label", "Fraud", "--output", str(out)]) == 0
    for part in ("train", "valid", "test"):
        assert validate_main([str(train.with_name(f"df_syn_{part}_eng.csv")), "--schema", str(out)]) == 0
    sch = load_schema(out)
    assert sch.digest() == load_schema("kcs").digest()
    assert sch.ignore == ("Critical Fraud",) and "Seller ID" in sch.entities and "Courier ID" in sch.entities
