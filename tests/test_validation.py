"""Malformed declarations files are refused with an error naming the file, the column and the rows.

Each case starts from one small valid file and breaks one thing. The cases double as the
"at least 15 distinct malformed inputs" of issue 2
(``test_cases_break_one_valid_file_in_at_least_15_distinct_ways``); ``test_cli_refuses_every_case`` runs them
all through ``bacuda-validate`` too (exit 1, one line on stderr, no traceback, no JSON left).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd
import pytest

from bacuda_research.cli.validate import main as validate_main
from bacuda_research.declarations.schema import DataValidationError, SchemaOptions, load_declarations, read_table

IDS = ("sgd.id", "importer.id", "declarant.id", "office.id")


def good_frame() -> pd.DataFrame:
    """Eight valid rows in the raw DATE format (every cell text, as read from a CSV)."""
    n = 8
    illicit = [0, 1, 0, 0, 1, 0, 1, 0]
    return pd.DataFrame({
        "sgd.id": [f"SGD{900 + i}" for i in range(n)],
        "sgd.date": [f"13-{1 + i:02d}-{10 + i:02d}" for i in range(n)],
        "importer.id": [f"IMP{555000 + i % 3}" for i in range(n)],
        "declarant.id": [f"DEC{7700 + i % 2}" for i in range(n)],
        "country": ["CNTRY830", "CNTRY102", "CNTRY830", "CNTRY007", "CNTRY102", "CNTRY830", "CNTRY007", "CNTRY102"],
        "office.id": [f"OFFICE{30 + i % 4}" for i in range(n)],
        "tariff.code": ["8432106340", "979922773", "8432106340", "6204620000", "979922773", "8703231990",
                        "6204620000", "8432106340"],
        "quantity": [str(10 + i) for i in range(n)],
        "gross.weight": [str(100 + 7 * i) for i in range(n)],
        "fob.value": [str(1000 + 100 * i) for i in range(n)],
        "cif.value": [str(1200 + 110 * i) for i in range(n)],
        "total.taxes": [str(300 + 10 * i) for i in range(n)],
        "illicit": [str(v) for v in illicit],
        "revenue": ["0", "250", "0", "0", "0", "0", "75.5", "0"],
    })


def _csv(df: pd.DataFrame, path: Path) -> Path:
    df.to_csv(path, index=False)
    return path


def _cell(column: str, row: int, value: str) -> Callable[[Path], Path]:
    """A builder that puts ``value`` into ``column`` at 1-based data row ``row``."""
    def build(tmp: Path) -> Path:
        df = good_frame()
        df.loc[row - 1, column] = value
        return _csv(df, tmp / "decl.csv")
    return build


def _frame(mutate: Callable[[pd.DataFrame], pd.DataFrame], name: str = "decl.csv") -> Callable[[Path], Path]:
    def build(tmp: Path) -> Path:
        df = mutate(good_frame())
        path = tmp / name
        if name.endswith(".parquet"):
            df.to_parquet(path, index=False)
        else:
            df.to_csv(path, index=False)
        return path
    return build


def _bytes(data: bytes, name: str = "decl.csv") -> Callable[[Path], Path]:
    def build(tmp: Path) -> Path:
        path = tmp / name
        path.write_bytes(data)
        return path
    return build


def _text_edit(edit: Callable[[str], str], encoding: str = "utf-8") -> Callable[[Path], Path]:
    def build(tmp: Path) -> Path:
        path = tmp / "decl.csv"
        path.write_bytes(edit(good_frame().to_csv(index=False)).encode(encoding))
        return path
    return build


def _dup_ids(df: pd.DataFrame) -> pd.DataFrame:
    df.loc[4, "sgd.id"] = df.loc[1, "sgd.id"]
    return df


def _licit_revenue(df: pd.DataFrame) -> pd.DataFrame:
    df.loc[2, "revenue"] = "40"
    return df


def _numeric_parquet(df: pd.DataFrame) -> pd.DataFrame:
    df["quantity"] = df["quantity"].astype(float)
    df.loc[5, "quantity"] = np.nan
    return df


def _bool_parquet(df: pd.DataFrame) -> pd.DataFrame:
    df["gross.weight"] = [True] * len(df)
    return df


def _extra_field(text: str) -> str:
    lines = text.splitlines(keepends=True)
    lines[3] = lines[3].rstrip("\n") + ",999\n"  # data row 3 gets a 15th field
    return "".join(lines)


def _trailing_delimiter(text: str) -> str:
    return "".join(line.rstrip("\n") + ",\n" if i else line for i, line in enumerate(text.splitlines(keepends=True)))


def _short_row(text: str) -> str:
    lines = text.splitlines(keepends=True)
    lines[6] = lines[6].rsplit(",", 1)[0] + "\n"  # data row 6 loses its last field (revenue)
    return "".join(lines)


def _blank_line(text: str) -> str:
    lines = text.splitlines(keepends=True)
    return "".join(lines[:3] + ["\n"] + lines[3:])  # a blank line becomes data row 3


# (case id, builder, expected column (None: the whole file), expected first rows, text in the message)
CASES = [
    ("missing_column", _frame(lambda d: d.drop(columns=["cif.value"])), "cif.value", [], "missing column"),
    ("non_numeric", _cell("quantity", 3, "12kg"), "quantity", [3], "not a finite number"),
    ("thousands_separator", _cell("fob.value", 2, "1,234"), "fob.value", [2], "not a finite number"),
    ("arabic_digits", _cell("cif.value", 5, "\u0661\u0662"), "cif.value", [5], "not a finite number"),
    ("empty_cell", _cell("fob.value", 2, ""), "fob.value", [2], "missing value"),
    ("inf", _cell("cif.value", 4, "inf"), "cif.value", [4], "not a finite number"),
    ("nan_text", _cell("total.taxes", 7, "NaN"), "total.taxes", [7], "not a finite number"),
    ("unparsable_date", _cell("sgd.date", 5, "2013-13-45"), "sgd.date", [5], "unparsable date"),
    ("impossible_date", _cell("sgd.date", 6, "13-02-30"), "sgd.date", [6], "unparsable date"),
    ("empty_date", _cell("sgd.date", 1, " "), "sgd.date", [1], "missing date"),
    ("negative_quantity", _cell("quantity", 2, "-3"), "quantity", [2], "negative value"),
    ("negative_taxes", _cell("total.taxes", 6, "-0.5"), "total.taxes", [6], "negative value"),
    ("label_2", _cell("illicit", 4, "2"), "illicit", [4], "label outside {0, 1}"),
    ("label_minus_1", _cell("illicit", 1, "-1"), "illicit", [1], "label outside {0, 1}"),
    ("label_yes", _cell("illicit", 8, "yes"), "illicit", [8], "label outside {0, 1}"),
    ("label_half", _cell("illicit", 3, "0.5"), "illicit", [3], "label outside {0, 1}"),
    ("revenue_on_licit", _frame(_licit_revenue), "revenue", [3], "revenue on licit rows"),
    ("negative_revenue", _cell("revenue", 2, "-250"), "revenue", [2], "negative revenue"),
    ("empty_file", _bytes(b""), None, [], "empty"),
    ("only_newline", _bytes(b"\n"), None, [], "empty"),
    ("header_only", _bytes(",".join(good_frame().columns).encode() + b"\n"), None, [], "no data rows"),
    ("duplicate_ids", _frame(_dup_ids), "sgd.id", [2, 5], "duplicate declaration ids"),
    ("empty_identifier", _cell("importer.id", 7, ""), "importer.id", [7], "empty identifier"),
    ("latin1", _text_edit(lambda t: t.replace("CNTRY007", "C\u00d4TE007"), "latin-1"), "country", [4],
     "not valid UTF-8"),
    ("utf16", _text_edit(lambda t: t, "utf-16"), None, [], "the file is UTF-16"),
    ("tariff_letters", _cell("tariff.code", 2, "84A2106340"), "tariff.code", [2], "not all digits"),
    ("tariff_too_long", _cell("tariff.code", 3, "84321063401"), "tariff.code", [3], "longer than"),
    ("tariff_overflow", _cell("tariff.code", 1, "9" * 25), "tariff.code", [1], "longer than"),
    ("tariff_decimal", _cell("tariff.code", 8, "8432.5"), "tariff.code", [8], "not all digits"),
    ("bad_parquet", _bytes(b"PAR1 this is not a parquet file", "decl.parquet"), None, [], "not a readable Parquet"),
    ("parquet_nan_number", _frame(_numeric_parquet, "decl.parquet"), "quantity", [6], "missing value"),
    ("parquet_bool_number", _frame(_bool_parquet, "decl.parquet"), "gross.weight", [], "boolean column"),
    ("unsupported_suffix", _bytes(b"PK\x03\x04", "decl.xlsx"), None, [], "unsupported format"),
    ("missing_file", lambda tmp: tmp / "nope.csv", None, [], "file not found"),
    ("directory", lambda tmp: (tmp / "dir.csv").mkdir() or tmp / "dir.csv", None, [], "not a regular file"),
    ("extra_field", _text_edit(_extra_field), None, [3], "15 fields"),
    ("trailing_delimiter", _text_edit(_trailing_delimiter), "revenue", [1], "more fields than the header"),
    ("short_row", _text_edit(_short_row), "revenue", [6], "missing value"),
    ("blank_line", _text_edit(_blank_line), "sgd.id", [3], "empty identifier"),
    ("duplicate_header", _frame(lambda d: pd.concat([d, d[["quantity"]]], axis=1)), "quantity", [],
     "duplicate column name"),
]


@pytest.mark.parametrize(("build", "column", "rows", "problem"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_malformed_input_is_refused(tmp_path: Path, build, column, rows, problem) -> None:
    path = build(tmp_path)
    with pytest.raises(DataValidationError) as info:
        load_declarations(path)
    err = info.value
    msg = str(err)
    assert err.file == str(path) and msg.startswith(f"{path}: ")
    assert err.column == column
    if column:
        assert f"column '{column}'" in msg
    assert err.rows[: len(rows)] == rows and len(err.rows) >= len(rows)
    if rows:
        assert "row(s) " + ", ".join(map(str, rows)) in msg
    assert problem in msg
    # identifiers are confidential: no id value may appear in an error
    for col in IDS:
        for value in good_frame()[col]:
            assert value not in msg


def test_cases_break_one_valid_file_in_at_least_15_distinct_ways(tmp_path: Path) -> None:
    """The base file the cases start from is valid (else every case would be refused for the same
    reason), and the cases are refused for at least 15 different reasons (column, problem)."""
    base = load_declarations(_csv(good_frame(), tmp_path / "good.csv"))
    assert len(base) == 8 and base["illicit"].tolist() == [0, 1, 0, 0, 1, 0, 1, 0]
    reasons = set()
    for i, (_, build, *_) in enumerate(CASES):
        folder = tmp_path / f"case{i}"
        folder.mkdir()
        with pytest.raises(DataValidationError) as info:
            load_declarations(build(folder))
        err = info.value  # the reason as the error states it: without file, rows and offending values
        reason = re.split(r" at row\(s\)|; offending values", str(err).replace(err.file, ""))[0]
        reasons.add((err.column, re.sub(r"\d+", "#", reason)))
    assert len(reasons) >= 15, sorted(reasons, key=str)


def test_row_numbers_match_csv_lines(tmp_path: Path) -> None:
    """Row r of an error is line r + 1 of the CSV (the header is line 1)."""
    path = _cell("sgd.date", 6, "13-06-99")(tmp_path)
    with pytest.raises(DataValidationError) as info:
        load_declarations(path)
    line = path.read_text().splitlines()[info.value.rows[0]]  # 0-based list index r == line r + 1
    assert line.split(",")[1] == "13-06-99"


def test_latin1_deep_in_a_large_file_names_the_right_line(tmp_path: Path) -> None:
    """pandas reports the offset inside its read buffer; the error must still name the true line."""
    df = pd.concat([good_frame()] * 2000, ignore_index=True)
    df["sgd.id"] = [f"SGD{i}" for i in range(len(df))]
    df.loc[12345, "country"] = "C\u00d4TE"
    path = tmp_path / "big.csv"
    path.write_bytes(df.to_csv(index=False).encode("latin-1"))
    with pytest.raises(DataValidationError) as info:
        read_table(path)
    assert info.value.rows == [12346] and info.value.column == "country"


def test_gzip_csv_and_parquet_load(tmp_path: Path) -> None:
    df = good_frame()
    df.to_csv(tmp_path / "d.csv.gz", index=False)
    typed = df.assign(**{c: pd.to_numeric(df[c]) for c in ("quantity", "gross.weight", "tariff.code", "illicit")})
    typed.to_parquet(tmp_path / "d.parquet", index=False)
    a = load_declarations(tmp_path / "d.csv.gz")
    b = load_declarations(tmp_path / "d.parquet")
    pd.testing.assert_frame_equal(a, b)
    assert a["tariff.code"].dtype == np.int64 and a["illicit"].dtype == np.int8
    assert a["sgd.date"].iloc[0] == pd.Timestamp("2013-01-10")


def test_parquet_native_dates_and_bool_labels(tmp_path: Path) -> None:
    df = good_frame()
    df["sgd.date"] = pd.to_datetime(df["sgd.date"], format="%y-%m-%d").dt.date
    df["illicit"] = df["illicit"] == "1"
    df.to_parquet(tmp_path / "d.parquet", index=False)
    out = load_declarations(tmp_path / "d.parquet")
    assert out["sgd.date"].iloc[1] == pd.Timestamp("2013-02-11")
    assert out["illicit"].tolist() == [0, 1, 0, 0, 1, 0, 1, 0]


def test_column_mapping_date_format_and_tariff_digits(tmp_path: Path) -> None:
    df = good_frame().rename(columns={"cif.value": "CIF", "sgd.date": "DATE"})
    df["DATE"] = pd.to_datetime(df["DATE"], format="%y-%m-%d").dt.strftime("%d/%m/%Y")
    df["extra"] = "x"
    path = _csv(df, tmp_path / "d.csv")
    opts = SchemaOptions(columns={"cif": "CIF", "date": "DATE"}, date_format="%d/%m/%Y")
    out = load_declarations(path, opts)
    assert list(out.columns)[:6] == ["sgd.id", "importer.id", "declarant.id", "country", "office.id", "sgd.date"]
    assert out["cif.value"].iloc[0] == 1200.0 and "extra" not in out
    with pytest.raises(DataValidationError, match="longer than data.tariff_digits=8") as info:
        load_declarations(path, SchemaOptions(columns={"cif": "CIF", "date": "DATE"}, date_format="%d/%m/%Y",
                                              tariff_digits=8))
    assert info.value.column == "tariff.code" and info.value.rows[0] == 1


def test_bad_mappings_are_config_errors() -> None:
    with pytest.raises(ValueError, match="unknown keys"):
        SchemaOptions(columns={"cost": "x"}).mapping()
    with pytest.raises(ValueError, match="both map to file column 'V'"):
        SchemaOptions(columns={"fob": "V", "cif": "V"}).mapping()


def test_headerless_file_does_not_echo_identifiers(tmp_path: Path) -> None:
    path = tmp_path / "noheader.csv"
    good_frame().to_csv(path, index=False, header=False)
    with pytest.raises(DataValidationError, match="is the first line a header") as info:
        load_declarations(path)
    assert "SGD900" not in str(info.value) and "IMP555000" not in str(info.value)


def test_labels_optional(tmp_path: Path) -> None:
    path = _csv(good_frame().drop(columns=["illicit", "revenue"]), tmp_path / "d.csv")
    with pytest.raises(DataValidationError, match="missing column"):
        load_declarations(path)
    out = load_declarations(path, SchemaOptions(require_labels=False))
    assert "illicit" not in out and len(out) == 8


def test_zero_quantity_and_weight_are_valid(tmp_path: Path) -> None:
    df = good_frame()
    df.loc[0, "quantity"] = "0"
    df.loc[1, "gross.weight"] = "0.0"
    out = load_declarations(_csv(df, tmp_path / "d.csv"))
    assert out["quantity"].iloc[0] == 0 and out["gross.weight"].iloc[1] == 0


def test_max_rows_reads_a_prefix(tmp_path: Path) -> None:
    df = good_frame()
    df.loc[6, "quantity"] = "bad"  # beyond the prefix: not read, so not refused
    path = _csv(df, tmp_path / "d.csv")
    assert len(load_declarations(path, max_rows=5)) == 5
    df.to_parquet(tmp_path / "d.parquet", index=False)
    with pytest.raises(DataValidationError):
        load_declarations(tmp_path / "d.parquet")
    assert len(load_declarations(tmp_path / "d.parquet", max_rows=3)) == 3


@pytest.mark.parametrize(("build", "column", "rows", "problem"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_cli_refuses_every_case(tmp_path: Path, capsys, build, column, rows, problem) -> None:
    path = build(tmp_path)
    out_json = tmp_path / "out" / "report.json"
    assert validate_main([str(path), "--json", str(out_json)]) == 1
    captured = capsys.readouterr()
    err = captured.err.strip()
    assert err.count("\n") == 0 and "Traceback" not in err
    assert err.startswith("bacuda-validate: error: ") and str(path) in err and problem in err
    if column:
        assert f"column '{column}'" in err
    assert not out_json.exists() and not (tmp_path / "out").exists()


def test_cli_bad_column_argument(tmp_path: Path, capsys) -> None:
    path = _csv(good_frame(), tmp_path / "d.csv")
    assert validate_main([str(path), "--column", "cost=X"]) == 1
    assert "unknown key 'cost'" in capsys.readouterr().err
    assert validate_main([str(path), "--column", "cif"]) == 1
    assert "expected key=name" in capsys.readouterr().err


def test_semicolon_file_and_crlf(tmp_path: Path) -> None:
    path = tmp_path / "semi.csv"
    good_frame().to_csv(path, index=False, sep=";")
    with pytest.raises(DataValidationError, match="one column containing ';'"):
        load_declarations(path)
    crlf = tmp_path / "crlf.csv"
    crlf.write_bytes(good_frame().to_csv(index=False).replace("\n", "\r\n").encode())
    assert load_declarations(crlf)["revenue"].iloc[-1] == 0.0


def test_gzip_latin1_is_located(tmp_path: Path) -> None:
    import gzip

    df = good_frame()
    df.loc[5, "country"] = "C\u00d4TE"
    path = tmp_path / "d.csv.gz"
    path.write_bytes(gzip.compress(df.to_csv(index=False).encode("latin-1")))
    with pytest.raises(DataValidationError) as info:
        load_declarations(path)
    assert info.value.column == "country" and info.value.rows == [6]


def test_error_survives_pickling(tmp_path: Path) -> None:
    import pickle

    with pytest.raises(DataValidationError) as info:
        load_declarations(_cell("quantity", 3, "-2")(tmp_path))
    err = pickle.loads(pickle.dumps(info.value))
    assert str(err) == str(info.value) and err.column == "quantity" and err.rows == [3]
