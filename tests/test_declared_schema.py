"""Declared schemas: every role lands under its canonical name, every refusal names file/column/row.

A small KCS-like file is built per test and broken in one place; the schema is YAML text as a user
would write it. Identifier values (``IMP...``, ``DEC...``, ``SELL...``) must never reach a message.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from bacuda_research.declarations.canonical import load_declared
from bacuda_research.declarations.declared import (
    ROLES,
    SchemaError,
    data_hash,
    load_schema,
    parse_schema_text,
    schema_from_config,
    shipped_schemas,
)
from bacuda_research.declarations.reading import DataValidationError
from bacuda_research.declarations.schema import SchemaOptions, load_declarations
from tests.conftest import shared_file

N = 12
SCHEMA = """
id: Declaration ID
date: {column: Date, format: "%Y-%m-%d"}
label: {column: Fraud, positive: [1], negative: [0]}
tariff: {column: HS6 Code, digits: 6}
importer: Importer ID
declarant: Declarant ID
office: Office ID
country: Country of Origin
value: Item Price
weight: Net Mass
tax_rate: Tax Rate
entities: [Seller ID]
categorical: [Process Type]
allow_missing: [Seller ID]
ignore: [Critical Fraud]
"""


def kcs_frame(n: int = N) -> pd.DataFrame:
    fraud = np.array([0, 1, 0, 0] * (n // 4))
    return pd.DataFrame({
        "Declaration ID": [str(97061800 + 13 * i) for i in range(n)],
        "Date": [f"2020-01-{1 + i:02d}" for i in range(n)],
        "Office ID": [str(30 + i % 3) for i in range(n)],
        "Process Type": ["B", "A"] * (n // 2),
        "Declarant ID": [f"DEC{7700 + i % 2}" for i in range(n)],
        "Importer ID": [f"IMP{555000 + i % 5}" for i in range(n)],
        "Seller ID": ["" if i % 4 == 3 else f"SELL{880 + i}" for i in range(n)],
        "HS6 Code": ["440890", "090111", "690722"] * (n // 3),
        "Country of Origin": ["CN", "BE", "US"] * (n // 3),
        "Tax Rate": [f"{(i % 3) * 4}.0" for i in range(n)],
        "Net Mass": [str(100 + 7 * i) for i in range(n)],
        "Item Price": [f"{1200 + 110 * i}.5" for i in range(n)],
        "Fraud": fraud.astype(str),
        "Critical Fraud": np.where(fraud == 1, 1 + np.arange(n) % 2, 0).astype(str),
    })


def write(df: pd.DataFrame, tmp_path: Path, name: str = "decl.csv", sep: str = ",") -> Path:
    path = tmp_path / name
    df.to_csv(path, index=False, sep=sep)
    return path


def schema(text: str = SCHEMA, **replace: str):
    for old, new in replace.items():
        text = text.replace(old, new)
    return parse_schema_text(text, source="test.yaml")


def refused(path: Path, sch, match: str, column: str | None = None, row: int | None = None) -> DataValidationError:
    with pytest.raises(DataValidationError, match=match) as info:
        load_declared(path, sch)
    err = info.value
    assert err.file == str(path)
    if column is not None:
        assert err.column == column
    if row is not None:
        assert row in err.rows
    for secret in ("IMP5550", "DEC770", "SELL88", "9706"):
        assert secret not in str(err), str(err)
    return err


# ------------------------------------------------------------------------------------------- roles

def test_every_role_has_its_canonical_name_and_type(tmp_path):
    df = kcs_frame().assign(**{"FOB": "10", "Qty": "3", "Taxes": "7.5", "Revenue": "0"})
    text = SCHEMA + "fob: FOB\nquantity: Qty\ntaxes: Taxes\nrevenue: Revenue\n"
    out = load_declared(write(df, tmp_path), schema(text))
    expected = {ROLES[r] for r in ROLES}
    assert expected <= set(out.columns)
    assert "Critical Fraud" not in out.columns  # ignored
    assert list(out.columns[-2:]) == ["Seller ID", "Process Type"]  # list columns keep their names, in order
    assert out["sgd.date"].dtype == "datetime64[ns]" and out["tariff.code"].dtype == np.int64
    for col in ("cif.value", "fob.value", "quantity", "gross.weight", "total.taxes", "tax.rate", "revenue"):
        assert out[col].dtype == np.float64, col
    assert out["illicit"].dtype == np.int8 and out["illicit"].tolist() == df["Fraud"].astype(int).tolist()
    assert out["importer.id"].iloc[0] == "IMP555000" and out["office.id"].iloc[0] == "30"
    assert out["cif.value"].iloc[0] == 1200.5 and out["tax.rate"].iloc[1] == 4.0


def test_without_an_id_the_row_numbers_are_the_ids(tmp_path):
    sch = schema(**{"id: Declaration ID\n": "", "ignore: [Critical Fraud]": "ignore: [Critical Fraud, Declaration ID]"})
    out = load_declared(write(kcs_frame(), tmp_path), sch)
    assert out["sgd.id"].tolist() == [str(i) for i in range(1, N + 1)]


def test_text_label_values_map_to_0_1_and_others_are_refused(tmp_path):
    df = kcs_frame()
    df["Fraud"] = np.where(df["Fraud"] == "1", "FRAUD", "CLEAR")
    sch = schema(**{"positive: [1], negative: [0]": "positive: [FRAUD], negative: [CLEAR]"})
    assert load_declared(write(df, tmp_path), sch)["illicit"].sum() == 3
    df.loc[4, "Fraud"] = "MAYBE"
    err = refused(write(df, tmp_path), sch, "label value outside positive", column="Fraud", row=5)
    assert "MAYBE" in str(err)  # labels are not confidential: showing them makes the fix quick


def test_without_negative_every_other_label_value_is_negative(tmp_path):
    df = kcs_frame()
    df.loc[0, "Fraud"] = "7"
    out = load_declared(write(df, tmp_path), schema(**{", negative: [0]": ""}))
    assert out["illicit"].iloc[0] == 0 and out["illicit"].sum() == 3


def test_empty_cells_only_where_allow_missing_says(tmp_path):
    df = kcs_frame()
    out = load_declared(write(df, tmp_path), schema())
    assert (out["Seller ID"] == "").sum() == 3  # an empty entity is a category of its own
    df.loc[2, "Net Mass"] = ""
    refused(write(df, tmp_path), schema(), "missing value", column="Net Mass", row=3)
    out = load_declared(write(df, tmp_path), schema(**{"allow_missing: [Seller ID]": "allow_missing: [Seller ID, Net Mass]"}))
    assert np.isnan(out["gross.weight"].iloc[2])
    refused(write(kcs_frame(), tmp_path), schema(**{"allow_missing: [Seller ID]": ""}), "empty cell",
            column="Seller ID", row=4)


def test_a_lost_leading_zero_is_padded_back(tmp_path):
    df = kcs_frame()
    df["HS6 Code"] = ["440890", "90111", "690722"] * (N // 3)
    out = load_declared(write(df, tmp_path), schema())
    assert (out["tariff.code"] // 10 ** 4).tolist()[:3] == [44, 9, 69]  # HS2 of 090111 is 09


# ----------------------------------------------------------------------------------- schema refusals

@pytest.mark.parametrize("text, match", [
    (SCHEMA + "exporter: Seller ID\n", r"unknown key\(s\) \['exporter'\]"),
    (SCHEMA.replace("date: {column: Date, format: \"%Y-%m-%d\"}\n", ""), "date: required"),
    (SCHEMA.replace("categorical: [Process Type]", "categorical: [Process Type, Importer ID]"),
     "'Importer ID' is both in role importer and in list categorical"),
    (SCHEMA.replace("office: Office ID", "office: Importer ID"), "has two roles"),
    (SCHEMA.replace("entities: [Seller ID]", "entities: [Seller ID, Process Type]"), "both in list entities"),
    (SCHEMA.replace("allow_missing: [Seller ID]", "allow_missing: [Fraud]"), "can never be missing"),
    (SCHEMA.replace('"%Y-%m-%d"', '"%Y-%m"'), "does not round-trip a date"),
    (SCHEMA.replace("digits: 6", "digits: 4"), "from 6 \\(HS6\\)"),
    (SCHEMA.replace("negative: [0]", "negative: [1]"), "both positive and negative"),
    (SCHEMA.replace("date: {column", "date: {colum"), "unknown option"),
    (SCHEMA + "importer: Seller ID\n", "appears twice"),
    (SCHEMA + "delimiter: ','\ndecimal: ','\n", "decimal comma needs another field delimiter"),
])
def test_bad_schemas_are_refused_before_any_data_is_read(text, match):
    with pytest.raises(SchemaError, match=match) as info:
        parse_schema_text(text, source="s.yaml")
    assert str(info.value).startswith("schema s.yaml: ")


def test_data_columns_and_a_schema_are_never_both_given():
    with pytest.raises(ValueError, match="data.columns and data.schema are both given"):
        schema_from_config({"cif": "CIF"}, "kcs")
    assert schema_from_config(None, "kcs").roles["label"] == "Fraud"
    assert schema_from_config({"cif": "CIF"}, None) is None


# ------------------------------------------------------------------------------------- file refusals

def test_a_role_naming_a_column_not_in_the_file(tmp_path):
    refused(write(kcs_frame().drop(columns=["Net Mass"]), tmp_path), schema(), r"\['Net Mass'\] named by the schema",
            column="Net Mass")


def test_a_file_column_in_no_role_or_list(tmp_path):
    refused(write(kcs_frame().assign(Remarks="x"), tmp_path), schema(), "in no role or list", column="Remarks")


def test_ambiguous_dates_without_a_format(tmp_path):
    df = kcs_frame()
    df["Date"] = [f"{1 + i:02d}/02/2020" for i in range(N)]
    refused(write(df, tmp_path), schema(**{', format: "%Y-%m-%d"': ""}), "ambiguous date", column="Date", row=1)
    out = load_declared(write(df, tmp_path), schema(**{"%Y-%m-%d": "%d/%m/%Y"}))
    assert out["sgd.date"].iloc[0] == pd.Timestamp("2020-02-01")


def test_unparsable_date(tmp_path):
    df = kcs_frame()
    df.loc[5, "Date"] = "2020-13-01"
    err = refused(write(df, tmp_path), schema(), "unparsable date", column="Date", row=6)
    assert "2020-13-01" in str(err)


def test_latin1_text_is_refused_with_line_and_column(tmp_path):
    df = kcs_frame()
    df.loc[6, "Process Type"] = "Dédouané"
    path = tmp_path / "latin1.csv"
    path.write_bytes(df.to_csv(index=False).encode("latin-1"))
    refused(path, schema(), "not valid UTF-8", column="Process Type", row=7)


def test_semicolon_file_and_decimal_commas_need_the_schema_to_say_so(tmp_path):
    df = kcs_frame()
    for col in ("Item Price", "Tax Rate"):
        df[col] = df[col].str.replace(".", ",", regex=False)
    path = write(df, tmp_path, sep=";")
    refused(path, schema(), "';'-separated but the schema says delimiter: ','")
    semicolon = schema(SCHEMA + 'delimiter: ";"\n')
    refused(path, semicolon, "decimal comma, but the schema says decimal: '.'", column="Item Price", row=1)
    out = load_declared(path, schema(SCHEMA + 'delimiter: ";"\ndecimal: ","\n'))
    assert out["cif.value"].iloc[0] == 1200.5


def test_mixed_tariff_code_lengths(tmp_path):
    df = kcs_frame()
    df.loc[8, "HS6 Code"] = "4408901000"
    err = refused(write(df, tmp_path), schema(), "mixed tariff-code lengths", column="HS6 Code", row=9)
    assert "[10]-digit" in str(err)


def test_duplicate_ids_and_empty_identifiers_never_show_the_values(tmp_path):
    df = kcs_frame()
    df.loc[3, "Declaration ID"] = df.loc[0, "Declaration ID"]
    refused(write(df, tmp_path), schema(), "duplicate declaration ids", column="Declaration ID", row=4)
    df = kcs_frame()
    df.loc[2, "Importer ID"] = " "
    refused(write(df, tmp_path), schema(), "empty identifier", column="Importer ID", row=3)


# ----------------------------------------------------------------------------- DATE, digests, hashes

def test_the_date_schema_gives_exactly_load_declarations_frame(tmp_path):
    from bacuda_research.declarations.synthetic import synthetic_file

    path = synthetic_file(tmp_path, rows=2000, seed=3)
    pd.testing.assert_frame_equal(load_declared(path, load_schema("date")), load_declarations(path, SchemaOptions()),
                                  check_exact=True)


@pytest.mark.shared
def test_the_date_schema_on_the_shared_date_file():
    path = shared_file("data/date-synthetic/surrogate-imports-declarations.csv")
    pd.testing.assert_frame_equal(load_declared(path, load_schema("date")), load_declarations(path, SchemaOptions()),
                                  check_exact=True)


def test_the_digest_is_of_the_content_not_the_layout(tmp_path):
    a = schema()
    b = schema(**{"importer: Importer ID": "importer: {column: Importer ID}  # the importer",
                  "entities: [Seller ID]": "entities:\n  - Seller ID"})
    assert a.digest() == b.digest() and len(a.digest()) == 64
    assert schema(**{"digits: 6": "digits: 7"}).digest() != a.digest()
    path = tmp_path / "kcs.yaml"
    path.write_text(SCHEMA)
    assert load_schema(path).digest() == a.digest()


def test_data_hash_of_one_file_is_its_sha256_and_of_several_covers_all(tmp_path):
    a, b = write(kcs_frame(), tmp_path, "a.csv"), write(kcs_frame(24), tmp_path, "b.csv")
    assert data_hash([a]) == hashlib.sha256(a.read_bytes()).hexdigest()
    both = data_hash([a, b])
    (tmp_path / "renamed.csv").write_bytes(b.read_bytes())
    assert data_hash([a, tmp_path / "renamed.csv"]) == both
    b.write_bytes(b.read_bytes() + b"\n")
    assert data_hash([a, b]) != both and data_hash([b, a]) != data_hash([a, b])


def test_the_shipped_schemas_load_and_are_package_data():
    assert {"date", "kcs"} <= set(shipped_schemas())
    assert load_schema("kcs").ignore == ("Critical Fraud",)
    setup = (Path(__file__).parents[1] / "setup.py").read_text()
    assert '"bacuda_research.declarations": ["schemas/*.yaml"]' in setup
    with pytest.raises(SchemaError, match="no shipped schema of that name"):
        load_schema("nosuch")


def test_a_folder_named_like_a_shipped_schema_does_not_hide_it(tmp_path, monkeypatch):
    """A run folder called ``kcs`` in the working directory (hydra.run.dir=kcs) is not the schema ``kcs``."""
    from bacuda_research.declarations.declared import load_schema

    monkeypatch.chdir(tmp_path)
    (tmp_path / "kcs").mkdir()
    import bacuda_research.declarations as pkg

    shipped = Path(pkg.__file__).parent / "schemas" / "kcs.yaml"
    assert load_schema("kcs").digest() == load_schema(shipped).digest()
