"""The data-quality report of a valid file, and the ``bacuda-validate`` command around it."""

from __future__ import annotations

import io
import json
import os
from pathlib import Path

import pandas as pd
import pytest

from bacuda_research.cli.validate import main as validate_main
from bacuda_research.declarations.quality import print_report, quality_report, report_file
from bacuda_research.declarations.schema import SchemaOptions, load_declarations


def frame() -> pd.DataFrame:
    """Six rows with known answers: 2 illicit (one with revenue 0), 1 zero quantity, 2 zero weights."""
    return pd.DataFrame({
        "sgd.id": ["A1", "A2", "A3", "A4", "A5", "A6"],
        "sgd.date": ["13-01-05", "13-01-05", "13-02-10", "13-03-01", "13-03-02", "13-12-31"],
        "importer.id": ["I1", "I2", "I1", "I3", "I1", "I2"],
        "declarant.id": ["D1", "D1", "D1", "D2", "D2", "D1"],
        "country": ["C1", "C2", "C1", "C1", "C3", "C1"],
        "office.id": ["O1", "O1", "O2", "O1", "O1", "O1"],
        # HS10: two codes share HS6 843210; 979922773 is 0979922773 with its leading zero lost
        "tariff.code": ["8432106340", "8432109900", "979922773", "8432106340", "6204620000", "6204620000"],
        "quantity": ["10", "0", "5", "7", "1", "2"],
        "gross.weight": ["100", "20", "0", "70", "0", "3.5"],
        "fob.value": ["1000", "200", "300", "400", "500", "600"],
        "cif.value": ["1100", "220", "330", "440", "550", "660"],
        "total.taxes": ["100", "20", "30", "40", "50", "60"],
        "illicit": ["0", "1", "0", "0", "1", "0"],
        "revenue": ["0", "300", "0", "0", "0", "0"],
        "notes": ["x", "", "y", "", "", "z"],  # an extra column with 3 empty cells
    })


@pytest.fixture
def csv_file(tmp_path: Path) -> Path:
    path = tmp_path / "decl.csv"
    frame().to_csv(path, index=False)
    return path


def test_report_counts(csv_file: Path) -> None:
    r = report_file(csv_file)
    assert r["rows"] == 6 and r["file"] == str(csv_file)
    assert r["date_range"]["min"] == "2013-01-05" and r["date_range"]["max"] == "2013-12-31"
    assert r["date_range"]["days"] == 5
    assert r["date_range"]["rows_per_month"] == {"2013-01": 2, "2013-02": 1, "2013-03": 2, "2013-12": 1}
    assert r["labels"] == {"illicit_rows": 2, "illicit_rate": pytest.approx(1 / 3), "illicit_zero_revenue_rows": 1}
    assert r["revenue"]["total"] == 300.0 and r["revenue"]["count"] == 2 and r["revenue"]["max"] == 300.0
    assert r["cardinality"] == {"sgd.id": 6, "importer.id": 3, "declarant.id": 2, "country": 3, "office.id": 2,
                                "tariff.code": 4}
    assert r["tariff"]["hs6"] == 3 and r["tariff"]["hs2"] == 3
    assert r["tariff"]["code_lengths"] == {"9": 1, "10": 5}
    assert r["zero_quantity_rows"] == 1 and r["zero_weight_rows"] == 2 and r["zero_quantity_or_weight_rows"] == 3
    assert r["missing"]["(extra) notes"] == 3
    assert all(r["missing"][c] == 0 for c in ("sgd.id", "cif.value", "revenue"))
    assert r["numeric"]["quantity"]["min"] == 0.0


def test_tariff_digits_changes_hs6(csv_file: Path) -> None:
    df = frame()  # 10-digit codes are refused with tariff_digits=8: use CN8-like codes
    df["tariff.code"] = ["84321063", "84321099", "09799227", "84321063", "62046200", "62046200"]
    typed = load_declarations(_write(df, csv_file), SchemaOptions(tariff_digits=8))
    r = quality_report(typed, options=SchemaOptions(tariff_digits=8))
    assert r["tariff"]["hs6"] == 3 and r["tariff"]["digits"] == 8 and r["file"] is None


def _write(df: pd.DataFrame, path: Path) -> Path:
    df.to_csv(path, index=False)
    return path


def test_report_without_labels_and_mapped_columns(tmp_path: Path) -> None:
    df = frame().drop(columns=["illicit", "revenue"]).rename(columns={"cif.value": "CIF"})
    path = _write(df, tmp_path / "d.csv")
    r = report_file(path, SchemaOptions(columns={"cif": "CIF"}, require_labels=False))
    assert r["labels"] is None and r["revenue"] is None
    assert r["columns"]["cif.value"] == "CIF" and "illicit" not in r["missing"]


def test_print_report_renders(csv_file: Path) -> None:
    from rich.console import Console

    buf = io.StringIO()
    print_report(report_file(csv_file), Console(file=buf, width=120))
    text = buf.getvalue()
    assert "33.33%" in text and "zero weight rows" in text and "notes" in text and "2013-12" in text


def test_cli_prints_report_and_writes_json(csv_file: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "reports" / "quality.json"
    assert validate_main([str(csv_file), "--json", str(out)]) == 0
    stdout = capsys.readouterr().out
    assert "illicit rate" in stdout and "6" in stdout
    data = json.loads(out.read_text())
    assert data["rows"] == 6 and data["labels"]["illicit_rows"] == 2
    assert [p.name for p in out.parent.iterdir()] == ["quality.json"]  # no temporary file left


def test_cli_options(tmp_path: Path, capsys) -> None:
    df = frame().drop(columns=["illicit", "revenue"]).rename(columns={"sgd.date": "DATE", "office.id": "BUREAU"})
    df["DATE"] = pd.to_datetime(df["DATE"], format="%y-%m-%d").dt.strftime("%Y-%m-%d")
    df["tariff.code"] = ["84321063", "84321099", "09799227", "84321063", "62046200", "62046200"]
    path = _write(df, tmp_path / "d.csv")
    out = tmp_path / "q.json"
    argv = [str(path), "--column", "date=DATE", "--column", "office=BUREAU", "--date-format", "iso",
            "--tariff-digits", "8", "--no-labels", "--json", str(out)]
    assert validate_main(argv) == 0
    data = json.loads(out.read_text())
    assert data["tariff"]["hs6"] == 3 and data["labels"] is None and data["columns"]["office.id"] == "BUREAU"
    # without the mapping the same file is refused, naming the missing column
    assert validate_main([str(path), "--no-labels"]) == 1
    assert "column 'sgd.date'" in capsys.readouterr().err


@pytest.mark.shared
def test_shared_file_report_if_present() -> None:
    """The shared DATE surrogate matches its README's statistics (skipped when absent)."""
    shared = Path(os.environ.get("BACUDA_SHARED_DIR") or Path(__file__).resolve().parents[2] / "shared")
    path = shared / "data" / "date-synthetic" / "surrogate-imports-declarations.csv"
    if not path.exists():
        pytest.skip("shared data not available")
    r = report_file(path)
    assert r["rows"] == 100_000 and r["cardinality"]["importer.id"] == 8595
    assert r["cardinality"]["tariff.code"] == 1894 and round(r["labels"]["illicit_rate"], 4) == 0.0766
