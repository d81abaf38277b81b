"""``bacuda-anonymize``: keyed pseudonyms that join across files, never leak the key, and validate."""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import pytest

from bacuda_research.cli.anonymize import main as anonymize_main
from bacuda_research.declarations.anonymize import AnonymizationError, pseudonymize, read_key
from bacuda_research.declarations.schema import SchemaOptions, load_declarations

KEY = b"correct horse battery staple 42!"  # 32 bytes of text: easy to search for in output bytes
OTHER_KEY = b"another secret key, also 32 byte"


def frame(ids: range = range(6), importers: tuple[str, ...] = ("IMP1", "IMP2", "IMP1")) -> pd.DataFrame:
    n = len(ids)
    return pd.DataFrame({
        "sgd.id": [f"SGD{i}" for i in ids],
        "sgd.date": [f"13-0{1 + i % 9}-2{i % 8}" for i in ids],
        "importer.id": [importers[i % len(importers)] for i in ids],
        "declarant.id": ["IMP1" if i % 2 else "DEC9" for i in ids],  # shares a value with importer.id
        "country": ["CNTRY1", "CNTRY2"] * (n // 2) + ["CNTRY1"] * (n % 2),
        "office.id": [f"OFFICE{i % 2}" for i in ids],
        "tariff.code": ["8432106340"] * n,
        "quantity": [str(1 + i) for i in ids],
        "gross.weight": [str(10 + i) for i in ids],
        "fob.value": [str(100 + i) for i in ids],
        "cif.value": [str(110 + i) for i in ids],
        "total.taxes": [str(11 + i) for i in ids],
        "illicit": [str(i % 2) for i in ids],
        "revenue": [str(7 * (i % 2)) for i in ids],
        "importer.name": [f"ACME {i} Ltd" for i in ids],  # an extra column that must not leak by default
    })


@pytest.fixture
def key_file(tmp_path: Path) -> Path:
    path = tmp_path / "keys" / "k.key"
    path.parent.mkdir()
    path.write_bytes(KEY + b"\n")
    return path


def _csv(df: pd.DataFrame, path: Path) -> Path:
    df.to_csv(path, index=False)
    return path


def test_same_key_same_pseudonym_across_files(tmp_path: Path, key_file: Path) -> None:
    a = _csv(frame(range(0, 6)), tmp_path / "a.csv")
    b = _csv(frame(range(6, 12), importers=("IMP2", "IMP3")), tmp_path / "b.csv")
    assert anonymize_main([str(a), str(tmp_path / "a_out.csv"), "--key-file", str(key_file)]) == 0
    assert anonymize_main([str(b), str(tmp_path / "b_out.parquet"), "--key-file", str(key_file)]) == 0
    oa = pd.read_csv(tmp_path / "a_out.csv", dtype=str)
    ob = pd.read_parquet(tmp_path / "b_out.parquet")
    ia = dict(zip(frame(range(0, 6))["importer.id"], oa["importer.id"]))
    ib = dict(zip(frame(range(6, 12), importers=("IMP2", "IMP3"))["importer.id"], ob["importer.id"]))
    assert ia["IMP2"] == ib["IMP2"] and ia["IMP1"] != ib["IMP3"]
    assert len(set(oa["importer.id"])) == 2  # entities are kept apart, not merged
    assert all(re.fullmatch(r"IMP-[0-9a-f]{16}", v) for v in oa["importer.id"])
    assert all(re.fullmatch(r"SGD-[0-9a-f]{16}", v) for v in oa["sgd.id"])
    # domain separation: importer IMP1 and declarant IMP1 get different pseudonyms
    assert not set(oa["importer.id"].str[4:]) & set(oa["declarant.id"].str[4:])
    assert oa["country"].tolist() == frame(range(0, 6))["country"].tolist()  # not an id column by default


def test_different_keys_differ_and_env_key_equals_file_key(tmp_path: Path, key_file: Path, monkeypatch) -> None:
    src = _csv(frame(), tmp_path / "in.csv")
    other = tmp_path / "other.key"
    other.write_bytes(OTHER_KEY)
    monkeypatch.setenv("BACUDA_TEST_KEY", KEY.decode())
    assert anonymize_main([str(src), str(tmp_path / "k1.csv"), "--key-file", str(key_file)]) == 0
    assert anonymize_main([str(src), str(tmp_path / "k2.csv"), "--key-file", str(other)]) == 0
    assert anonymize_main([str(src), str(tmp_path / "k3.csv"), "--key-env", "BACUDA_TEST_KEY"]) == 0
    o1, o2, o3 = (pd.read_csv(tmp_path / f"k{i}.csv", dtype=str) for i in (1, 2, 3))
    assert not set(o1["importer.id"]) & set(o2["importer.id"])
    pd.testing.assert_frame_equal(o1, o3)


def test_key_and_ids_never_written(tmp_path: Path, key_file: Path, capsys) -> None:
    src = _csv(frame(), tmp_path / "in.csv")
    out_dir = tmp_path / "out"
    for name in ("o.csv", "o.parquet"):
        assert anonymize_main([str(src), str(out_dir / name), "--key-file", str(key_file),
                               "--date-shift-days", "3", "--value-scale", "2"]) == 0
        data = (out_dir / name).read_bytes()
        for secret in (KEY, KEY.hex().encode(), KEY[:16]):
            assert secret not in data
        for ident in (b"SGD1", b"IMP1", b"DEC9", b"OFFICE0", b"ACME"):
            assert ident not in data
    assert sorted(p.name for p in out_dir.iterdir()) == ["o.csv", "o.parquet"]  # no sidecar, no temp file
    assert sorted(p.name for p in key_file.parent.iterdir()) == ["k.key"]
    printed = capsys.readouterr()
    assert KEY.decode() not in printed.out + printed.err and "importer.name" in printed.out


def test_date_shift_and_value_scale(tmp_path: Path, key_file: Path) -> None:
    src = _csv(frame(), tmp_path / "in.csv")
    out = tmp_path / "o.csv"
    assert anonymize_main([str(src), str(out), "--key-file", str(key_file), "--date-shift-days", "-40",
                           "--value-scale", "0.37"]) == 0
    before, after = load_declarations(src), load_declarations(out)  # the output validates as it is
    assert ((after["sgd.date"] - before["sgd.date"]).dt.days == -40).all()
    for col in ("fob.value", "cif.value", "total.taxes", "revenue"):
        pd.testing.assert_series_equal(after[col], before[col] * 0.37, check_names=False, rtol=1e-11)
    for col in ("quantity", "gross.weight", "tariff.code", "illicit"):
        pd.testing.assert_series_equal(after[col], before[col])
    text = out.read_text()
    assert "40.7" in text and "0.37000000000000005" not in text  # 110 * 0.37 = 40.7, tidy digits


def test_parquet_in_with_native_dates_and_mapping(tmp_path: Path, key_file: Path) -> None:
    df = frame().rename(columns={"importer.id": "IMPORTER", "sgd.date": "D"})
    df["D"] = pd.to_datetime(df["D"], format="%y-%m-%d")
    for c in ("quantity", "fob.value", "illicit"):
        df[c] = pd.to_numeric(df[c])
    src = tmp_path / "in.parquet"
    df.to_parquet(src, index=False)
    mapping = ["--column", "importer=IMPORTER", "--column", "date=D"]
    out = tmp_path / "o.parquet"
    assert anonymize_main([str(src), str(out), "--key-file", str(key_file), "--date-shift-days", "1",
                           "--keep-extra", "--id-columns", "importer,country", *mapping]) == 0
    res = pd.read_parquet(out)
    assert "importer.name" in res and res["sgd.id"].tolist() == df["sgd.id"].tolist()
    assert res["country"].str.startswith("CTY-").all()
    assert (res["D"] - df["D"]).dt.days.eq(1).all()
    # same pseudonym as the CSV with the default column name: the schema key, not the name, is hashed
    plain = _csv(frame(), tmp_path / "plain.csv")
    assert anonymize_main([str(plain), str(tmp_path / "p.csv"), "--key-file", str(key_file)]) == 0
    assert pd.read_csv(tmp_path / "p.csv")["importer.id"].tolist() == res["IMPORTER"].tolist()
    load_declarations(out, SchemaOptions(columns={"importer": "IMPORTER", "date": "D"}))


def test_short_or_missing_keys_are_refused(tmp_path: Path, monkeypatch, capsys) -> None:
    src = _csv(frame(), tmp_path / "in.csv")
    short = tmp_path / "short.key"
    short.write_bytes(b"tooshort-secret\n")  # 15 bytes once the newline is dropped
    out = tmp_path / "o.csv"
    assert anonymize_main([str(src), str(out), "--key-file", str(short)]) == 1
    err = capsys.readouterr().err
    assert "shorter than 16 bytes" in err and "tooshort" not in err and "Traceback" not in err
    monkeypatch.setenv("BACUDA_SHORT", "abc")
    assert anonymize_main([str(src), str(out), "--key-env", "BACUDA_SHORT"]) == 1
    assert "abc" not in capsys.readouterr().err
    monkeypatch.delenv("BACUDA_UNSET", raising=False)
    assert anonymize_main([str(src), str(out), "--key-env", "BACUDA_UNSET"]) == 1
    assert "is not set" in capsys.readouterr().err
    assert anonymize_main([str(src), str(out), "--key-file", str(tmp_path / "none.key")]) == 1
    assert not out.exists()
    with pytest.raises(AnonymizationError):
        read_key()
    with pytest.raises(SystemExit):  # argparse: a key source is required
        anonymize_main([str(src), str(out)])


def test_bad_input_and_options_leave_no_output(tmp_path: Path, key_file: Path, capsys) -> None:
    df = frame()
    df.loc[3, "quantity"] = "-1"
    bad = _csv(df, tmp_path / "bad.csv")
    good = _csv(frame(), tmp_path / "in.csv")
    out = tmp_path / "out" / "o.csv"
    assert anonymize_main([str(bad), str(out), "--key-file", str(key_file)]) == 1
    err = capsys.readouterr().err
    assert str(bad) in err and "column 'quantity'" in err and "row(s) 4" in err
    for argv in (["--value-scale", "0"], ["--value-scale", "nan"], ["--id-columns", "tariff"]):
        assert anonymize_main([str(good), str(out), "--key-file", str(key_file), *argv]) == 1
    assert anonymize_main([str(good), str(tmp_path / "o.xlsx"), "--key-file", str(key_file)]) == 1
    assert anonymize_main([str(good), str(good), "--key-file", str(key_file)]) == 1
    assert "overwrite the input" in capsys.readouterr().err
    assert not out.parent.exists() or not list(out.parent.iterdir())
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.csv", "in.csv", "keys"]


def test_synthetic_round_trip(tmp_path: Path, key_file: Path) -> None:
    """A realistic file from the project's generator anonymises and re-validates unchanged in shape."""
    from bacuda_research.declarations.synthetic import generate_declarations

    df = generate_declarations(rows=2000, seed=3)
    src = _csv(df, tmp_path / "syn.csv")
    out = tmp_path / "syn_anon.parquet"
    assert anonymize_main([str(src), str(out), "--key-file", str(key_file), "--value-scale", "1.5"]) == 0
    before, after = load_declarations(src), load_declarations(out)
    assert len(after) == len(before)
    for col in ("importer.id", "declarant.id", "office.id", "sgd.id"):
        assert after[col].nunique() == before[col].nunique()
    assert after["illicit"].tolist() == before["illicit"].tolist()


def test_pseudonymize_is_keyed_hmac() -> None:
    import hashlib
    import hmac

    s = pd.Series(["IMP1", "IMP2", "IMP1"])
    out = pseudonymize(s, KEY, "importer")
    expected = hmac.new(KEY, b"importer\x1fIMP1", hashlib.sha256).hexdigest()[:16]
    assert out.tolist()[0] == f"IMP-{expected}" and out[0] == out[2] != out[1]
    assert hashlib.sha256(b"IMP1").hexdigest()[:16] not in out[0]  # not a plain (reversible) hash
