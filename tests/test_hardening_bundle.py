"""Hardening (issue 18): the bundle trust anchor (``--expect-sha256``, the manifest digest in every
score file's sidecar), manifest rules (a regular file, well-formed entries, no pickle-type file even
when listed) and one-line refusals of malformed bundle content. Every refusal: exit 2, one line on
stderr, no output (nor sidecar) under the final name."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pytest

from conftest import rehash_bundle, score_input


@pytest.fixture
def copy(tiny_date_export, tmp_path):
    """A private copy of the session's DATE bundle, a small input file and the output path."""
    _, report, bundle_dir, _ = tiny_date_export
    bundle = tmp_path / "bundle"
    shutil.copytree(bundle_dir, bundle)
    return bundle, score_input(report, tmp_path / "in.csv"), tmp_path / "scores.csv"


def _digest(bundle: Path) -> str:
    return hashlib.sha256((bundle / "manifest.json").read_bytes()).hexdigest()


def _refused(argv: list[str], capsys, *parts: str) -> str:
    from bacuda_research.cli.score import main as score

    assert score(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err, err
    for part in parts:
        assert part in err, err
    out = Path(argv[2])
    assert not out.exists() and not Path(f"{out}.meta.json").exists()
    assert not list(out.parent.glob(f".{out.name}.tmp-*"))
    return err


def _constant_onnx(n_trees: int, dense: int) -> bytes:
    """A model with the bundle's inputs and outputs that calls every declaration fraud (logit 20)."""
    pytest.importorskip("onnx")
    from onnx import TensorProto, helper

    h = helper
    zero = h.make_tensor("zero", TensorProto.FLOAT, [], [0.0])
    big = h.make_tensor("big", TensorProto.FLOAT, [], [20.0])
    axes = h.make_tensor("axes", TensorProto.INT64, [1], [1])
    nodes = [h.make_node("Cast", ["leaves"], ["lf"], to=TensorProto.FLOAT),
             h.make_node("Mul", ["lf", "zero"], ["leaf_weights"]),
             h.make_node("ReduceSum", ["leaf_weights", "axes"], ["s"], keepdims=0),
             h.make_node("Add", ["s", "big"], ["logit"]),
             h.make_node("Identity", ["s"], ["revenue_score"])]
    inputs = [h.make_tensor_value_info("leaves", TensorProto.INT64, ["B", n_trees]),
              h.make_tensor_value_info("importer", TensorProto.INT64, ["B"]),
              h.make_tensor_value_info("item", TensorProto.INT64, ["B"])]
    if dense:
        inputs.append(h.make_tensor_value_info("dense", TensorProto.FLOAT, ["B", dense]))
    outputs = [h.make_tensor_value_info("logit", TensorProto.FLOAT, ["B"]),
               h.make_tensor_value_info("revenue_score", TensorProto.FLOAT, ["B"]),
               h.make_tensor_value_info("leaf_weights", TensorProto.FLOAT, ["B", n_trees])]
    model = h.make_model(h.make_graph(nodes, "swapped", inputs, outputs, [zero, big, axes]),
                         opset_imports=[h.make_opsetid("", 17)])
    model.ir_version = 9
    return model.SerializeToString()


def test_expect_sha256_accepts_the_exported_bundle_and_records_it(copy, capsys):
    import pandas as pd

    from bacuda_research.cli.score import main as score

    bundle, src, out = copy
    digest = _digest(bundle)
    assert score([str(bundle), str(src), str(out), "--expect-sha256", digest.upper()]) == 0
    meta = json.loads(Path(f"{out}.meta.json").read_text())
    assert meta["manifest_sha256"] == digest and meta["rows"] == len(pd.read_csv(out)) == 40
    assert meta["input_sha256"] == hashlib.sha256(src.read_bytes()).hexdigest()
    assert digest in capsys.readouterr().err


def test_wrong_expect_sha256_is_refused(copy, capsys):
    bundle, src, out = copy
    _refused([str(bundle), str(src), str(out), "--expect-sha256", "0" * 64], capsys,
             "bundle refused: sha256 of manifest.json is", "expected " + "0" * 64)


def test_swapped_onnx_is_caught_by_the_anchor_and_recorded_without_it(tiny_date_export, copy, capsys):
    import pandas as pd

    from bacuda_research.cli.score import main as score

    bundle, src, out = copy
    anchor = _digest(bundle)
    scoring = json.loads((bundle / "scoring.json").read_text())
    (bundle / "model.onnx").write_bytes(_constant_onnx(scoring["net"]["n_trees"], scoring["net"]["dense_features"]))
    rehash_bundle(bundle)  # whoever can edit the folder can recompute the manifest
    _refused([str(bundle), str(src), str(out), "--expect-sha256", anchor], capsys, "not the bundle you were given")
    # without the anchor the swap scores (nothing in the folder can tell), but the sidecar names
    # the manifest actually used, which differs from the one bacuda-export printed
    assert score([str(bundle), str(src), str(out)]) == 0
    assert (pd.read_csv(out)["illicit_probability"] > 0.999).all()
    assert json.loads(Path(f"{out}.meta.json").read_text())["manifest_sha256"] not in (anchor, None)


def test_symlinked_manifest_is_refused(copy, tmp_path, capsys):
    bundle, src, out = copy
    real = tmp_path / "elsewhere.json"
    shutil.move(bundle / "manifest.json", real)
    (bundle / "manifest.json").symlink_to(real)
    _refused([str(bundle), str(src), str(out)], capsys, "manifest.json: the manifest is a symlink")


@pytest.mark.parametrize("name", ["evil.pkl", "model.pickle", "x.joblib", "state.pt", "arr.npy", "notes.txt"])
def test_listed_pickle_type_file_is_refused(copy, capsys, name):
    bundle, src, out = copy
    data = b"\x80\x04K\x01."  # a pickle of the int 1
    (bundle / name).write_bytes(data)
    rehash_bundle(bundle, {name: {"bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}})
    _refused([str(bundle), str(src), str(out)], capsys, f"'{name}': refusing a file of this type")


@pytest.mark.parametrize("entry, expected", [
    ({"sha256": "ab"}, "malformed entry"), ("a string", "malformed entry"),
    ({"bytes": "12", "sha256": "0" * 64}, "malformed entry"), ({"bytes": 1}, "malformed entry")])
def test_malformed_manifest_entry_is_refused(copy, capsys, entry, expected):
    bundle, src, out = copy
    manifest = json.loads((bundle / "manifest.json").read_text())
    manifest["files"]["scoring.json"] = entry
    (bundle / "manifest.json").write_text(json.dumps(manifest))
    _refused([str(bundle), str(src), str(out)], capsys, expected, "scoring.json")


@pytest.mark.parametrize("target", ["manifest.json", "scoring.json"])
def test_deeply_nested_json_is_refused(copy, capsys, target):
    bundle, src, out = copy
    (bundle / target).write_text('{"a":' * 100_000 + "1" + "}" * 100_000)
    if target != "manifest.json":
        rehash_bundle(bundle)
    _refused([str(bundle), str(src), str(out)], capsys, target, "nested too deeply")


def test_missing_field_in_bundle_file_is_one_line(copy, capsys):
    bundle, src, out = copy
    scoring = json.loads((bundle / "scoring.json").read_text())
    del scoring["revenue_scale"]
    (bundle / "scoring.json").write_text(json.dumps(scoring))
    rehash_bundle(bundle)
    _refused([str(bundle), str(src), str(out)], capsys, "lacks a field", "revenue_scale")


def test_onnx_with_external_data_is_refused(copy, capsys):
    pytest.importorskip("onnx")
    from onnx import TensorProto, helper, numpy_helper
    import numpy as np

    bundle, src, out = copy
    (bundle.parent / "secret.bin").write_bytes(b"\0" * 8)
    w = numpy_helper.from_array(np.ones(2, np.float32), "w")
    w.data_location = TensorProto.EXTERNAL
    w.ClearField("raw_data")
    for k, v in (("location", "../secret.bin"), ("offset", "0"), ("length", "8")):
        w.external_data.add(key=k, value=v)
    graph = helper.make_graph([helper.make_node("Add", ["x", "w"], ["y"])], "g",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2])], [w])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 9
    (bundle / "model.onnx").write_bytes(model.SerializeToString())
    rehash_bundle(bundle)
    _refused([str(bundle), str(src), str(out)], capsys, "model.onnx", "external data")


def test_many_problems_are_summarised(copy, capsys):
    bundle, src, out = copy
    for i in range(30):
        (bundle / f"extra{i}.json").write_text("{}")
    err = _refused([str(bundle), str(src), str(out)], capsys, "not listed in the manifest", "and 25 more")
    assert len(err) < 1000
