"""Parity of an exported DATE bundle with its trained model on the run's own test split.

    bacuda-train experiment=date_synthetic threads=1 hydra.run.dir=/tmp/export_run
    python scripts/export_parity.py /tmp/export_run --output experiments/export/date_synthetic_parity.json

Exports RUN to a bundle (``--bundle``, default a temporary folder), reads the run's data file with
the run's schema, keeps the run's test split (the ids of ``predictions.csv`` with split=test) and
compares, on those rows:

- ONNX Runtime vs PyTorch network outputs on the same inputs (logit, revenue score, leaf weights);
- the bundle's scores (``DATEBundle``: ONNX Runtime + XGBoost JSON + JSON features) vs the trained
  model's (``DATEPredictor`` on the checkpoint): probability, predicted revenue, ranks (rows ranked
  differently are counted, and the largest logit gap between them is reported: the issue's bar is
  "same ranks except between scores within 1e-5 of each other");
- the bundle's probabilities vs the training-time ``predictions.csv``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd


def rank_agreement(rank_a: np.ndarray, rank_b: np.ndarray, scores: np.ndarray) -> dict:
    by_rank = np.empty(len(scores))
    by_rank[rank_a - 1] = scores
    differ = np.flatnonzero(rank_a != rank_b)
    gap = np.abs(by_rank[rank_a[differ] - 1] - by_rank[rank_b[differ] - 1])
    return {"rows_ranked_differently": int(len(differ)), "max_score_gap_between_them": float(gap.max()) if len(gap) else 0.0}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("run", help="DATE run folder (report.json, predictions.csv, checkpoints/best.ckpt)")
    p.add_argument("--bundle", help="bundle folder to write (default: a temporary folder)")
    p.add_argument("--output", help="write the JSON result here (atomically)")
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args()
    os.environ.setdefault("OMP_NUM_THREADS", str(args.threads))
    import torch

    torch.set_num_threads(args.threads)
    from bacuda_research.declarations.schema import load_declarations
    from bacuda_research.bundle.export import export_model
    from bacuda_research.bundle.date_export import torch_outputs
    from bacuda_research.metrics.selection import rank_desc
    from bacuda_research.fraud.predictor import DATEPredictor
    from bacuda_research.bundle.runtime import load_bundle
    from bacuda_research.core.io import sha256_file, write_json

    run = Path(args.run)
    report = json.loads((run / "report.json").read_text())
    bundle_dir = Path(args.bundle) if args.bundle else Path(tempfile.mkdtemp(prefix="bundle-")) / "bundle"
    t0 = time.perf_counter()
    manifest = export_model(run, bundle_dir, overwrite=True)
    export_s = time.perf_counter() - t0

    predictor = DATEPredictor.from_run(run)
    bundle = load_bundle(bundle_dir, threads=args.threads)
    data_path = report["data"]["path"] if isinstance(report.get("data"), dict) and report["data"].get("path") \
        else report["config"]["data"]["path"]
    df = load_declarations(data_path, predictor.schema)
    preds = pd.read_csv(run / "predictions.csv", dtype={"sgd.id": str})
    test = preds[preds["split"] == "test"].set_index("sgd.id")
    df = df[df["sgd.id"].astype(str).isin(test.index)].reset_index(drop=True)

    x = {k: v.numpy() for k, v in predictor.inputs(df).items()}
    want_net = torch_outputs(predictor.net, x)
    got_net = bundle.run(x, batch_size=1024)
    onnx_diff = {n: float(np.abs(np.asarray(g, np.float64) - w).max())
                 for n, g, w in zip(("logit", "revenue_score", "leaf_weights"), got_net, want_net)}

    want, got = predictor.predict(df), bundle.predict(df)
    ids = df["sgd.id"].astype(str).to_numpy()
    result = {
        "run": str(run), "data_file": Path(data_path).name, "data_sha256": report.get("data_sha256"),
        "bundle_manifest_sha256": sha256_file(bundle_dir / "manifest.json"), "export_s": round(export_s, 1),
        "test_rows": int(len(df)),
        "onnx_vs_pytorch_max_abs_diff": onnx_diff,
        "bundle_vs_model": {
            "probability_max_abs_diff": float(np.abs(got["prob"] - want["prob"]).max()),
            "logit_max_abs_diff": float(np.abs(got["logit"] - want["logit"]).max()),
            "predicted_revenue_max_rel_diff": float((np.abs(got["revenue"] - want["revenue"])
                                                     / np.maximum(np.abs(want["revenue"]), 1.0)).max()),
            "rank": rank_agreement(rank_desc(want["logit"]), rank_desc(got["logit"]), want["logit"]),
            "revenue_rank": rank_agreement(rank_desc(want["rev_score"]), rank_desc(got["rev_score"]), want["rev_score"]),
        },
        "bundle_vs_training_predictions_csv": {
            "probability_max_abs_diff": float(np.abs(got["prob"] - test.loc[ids, "illicit_probability"].to_numpy()).max()),
        },
        "export_parity_in_manifest": manifest["parity"]["max_abs_diff"],
        "command": "python scripts/export_parity.py " + " ".join(sys.argv[1:]),
    }
    b = result["bundle_vs_model"]
    result["within_1e-5"] = bool(max(onnx_diff.values()) <= 1e-5 and b["probability_max_abs_diff"] <= 1e-5
                                 and b["rank"]["max_score_gap_between_them"] <= 1e-5)
    print(json.dumps(result, indent=2))
    if args.output:
        write_json(args.output, result)
    return 0 if result["within_1e-5"] else 1


if __name__ == "__main__":
    sys.exit(main())
