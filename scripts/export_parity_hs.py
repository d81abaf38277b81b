"""Parity of an exported HS bundle (lexical TF-IDF side included) with its trained model.

    python scripts/export_parity_hs.py experiments/hs/runs/hs_minilm_s1 --bundle /tmp/hs_bundle \
        --output experiments/export/hs_minilm_s1_parity.json

(the checkpoint ``RUN/checkpoints/model.ckpt`` is not committed: retrain it with
``bacuda-train experiment=hs_minilm seed=1``.) Exports RUN to a bundle (``--bundle``, default a
temporary folder; ``--reuse`` scores an existing bundle instead) and compares, on the first ``--n``
descriptions of the run's test split (``predictions.csv``, written at training) and on random inputs:

- features: the run's training texts rebuilt from ``report.json`` (same data, seed and noisy copies)
  and featurised by today's ``hs.tfidf``; the IDF vector and the lexical kNN index must equal the
  checkpoint's bit for bit (the checkpoint was trained with the scikit-learn featuriser);
- ONNX Runtime (with the NumPy TF-IDF bag) vs PyTorch (``EmbeddingBag``): pooled vector and logits;
- the bundle's HS6 path probabilities (``HSBundle``) vs the checkpoint's (``HSPredictor`` /
  ``hs.train.predict_texts``): max abs difference, top-5 identical, kNN ties (see ``score.hs``);
- the bundle's top-5 vs the training-time ``predictions.csv`` (probabilities rounded to 5 decimals);
- bundle size per file.
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


def check_features(run: Path, report: dict, module) -> dict:
    """Rebuild the run's training texts and compare today's featuriser with the checkpoint's buffers."""
    from omegaconf import OmegaConf

    from bacuda_research.hs.task import add_noisy_copies, build_data
    from bacuda_research.hs.tfidf import LexicalFeaturizer

    cfg = OmegaConf.create(report["config"])
    seed = int(report["seed"])
    _, splits, _, digest = build_data(cfg.data, seed)
    if digest != report.get("data_sha256"):
        return {"checked": False, "reason": "the data files differ from the run's (sha256)"}
    train = add_noisy_copies(splits["train"], int(cfg.data.augment_copies), seed)
    f = LexicalFeaturizer(int(cfg.model.lexical.bits)).fit(list(train["text"]))
    idf_equal = f.idf.tobytes() == module.lex_idf.numpy().tobytes()
    out = {"checked": True, "train_texts": int(len(train)), "idf_bitwise_equal": bool(idf_equal)}
    if cfg.model.lexical.index == "clean":
        clean = ~train["source"].str.endswith("~aug").to_numpy()
        x = f.transform(list(train["text"][clean]))
        out.update({"index_rows": int(clean.sum()),
                    "index_bitwise_equal": bool(np.array_equal(x.indptr, module.lex_indptr.numpy())
                                                and np.array_equal(x.indices, module.lex_indices.numpy())
                                                and x.data.astype(np.float16).tobytes()
                                                == module.lex_data.numpy().tobytes())})
    return out


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("run", help="HS run folder (report.json, predictions.csv, checkpoints/model.ckpt)")
    p.add_argument("--bundle", help="bundle folder to write (default: a temporary folder)")
    p.add_argument("--reuse", action="store_true", help="score the existing --bundle instead of exporting")
    p.add_argument("--n", type=int, default=500, help="test-split descriptions compared (first N)")
    p.add_argument("--output", help="write the JSON result here (atomically)")
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args()
    os.environ.setdefault("OMP_NUM_THREADS", str(args.threads))
    import torch

    torch.set_num_threads(args.threads)
    from bacuda_research.bundle.export import export_model
    from bacuda_research.bundle.hs_export import ONNXHS, random_batch, random_rows, torch_outputs
    from bacuda_research.hs.predict import HSPredictor
    from bacuda_research.hs.tfidf import bag_sum
    from bacuda_research.hs.train import predict_texts
    from bacuda_research.bundle.runtime import load_bundle
    from bacuda_research.core.io import sha256_file, write_json

    run = Path(args.run)
    report = json.loads((run / "report.json").read_text())
    bundle_dir = Path(args.bundle) if args.bundle else Path(tempfile.mkdtemp(prefix="bundle-")) / "bundle"
    t0 = time.perf_counter()
    if not args.reuse:
        export_model(run, bundle_dir, overwrite=True)
    export_s = time.perf_counter() - t0
    manifest = json.loads((bundle_dir / "manifest.json").read_text())

    predictor = HSPredictor.from_run(run, threads=args.threads)
    module = predictor.module
    features = check_features(run, report, module) if int(module.hparams.lexical_bits) else None
    t0 = time.perf_counter()
    bundle = load_bundle(bundle_dir, threads=args.threads)
    load_s = time.perf_counter() - t0
    preds = pd.read_csv(run / "predictions.csv", dtype=str, keep_default_na=False)
    test = preds.head(args.n)
    texts = test["text"].tolist()

    # ONNX Runtime vs PyTorch: pooled and logits (the TF-IDF bag in NumPy vs EmbeddingBag)
    wrapper = ONNXHS(module.model).eval()
    names = ("pooled", "logits_hs2", "logits_hs4", "logits_hs6")
    onnx_diff: dict[str, float] = {}
    real_batches = [bundle.inputs(texts[s:s + 64]) for s in range(0, len(texts), 64)]
    random_inputs = [(random_batch(bundle.tokenizer.get_vocab_size(), 32, int(module.hparams.max_length), seed=s),
                      random_rows(int(module.lex_idf.shape[0]), 32, seed=s) if wrapper.lexical_dim else None)
                     for s in range(4)]
    for kind, batches in (("random", random_inputs), ("test_texts", real_batches)):
        for x, rows in batches:
            feed = dict(x)
            if wrapper.lexical_dim and "lexical" not in feed:
                feed["lexical"] = bag_sum(bundle.lexical.table, rows, bundle.lexical.row_ids, bundle.lexical.scale)
            got = bundle.session.run(list(names), feed)
            want = torch_outputs(wrapper, {k: x[k] for k in ("input_ids", "attention_mask")}, module.model, rows)
            for n, g, w in zip(names, got, want):
                key = f"{n} ({kind})"
                onnx_diff[key] = max(onnx_diff.get(key, 0.0), float(np.abs(g.astype(np.float64) - w).max()))

    # whole path probabilities: checkpoint (PyTorch) vs bundle
    want = predict_texts(module, texts).numpy().astype(np.float64)
    parts = bundle.components(texts)
    got = bundle.mixed(parts)
    tied = np.zeros(len(texts), bool)
    for k in ("embed_knn_tied", "lexical_knn_tied"):
        if k in parts:
            tied |= parts[k]
    top_w = np.argsort(-want, axis=1, kind="stable")[:, :5]
    top_g = np.argsort(-got, axis=1, kind="stable")[:, :5]
    same5 = (top_w == top_g).all(axis=1)
    diff = np.abs(got - want)
    # vs the training-time predictions.csv (top-5 codes, probabilities rounded to 5 decimals)
    nom = bundle.nom
    csv_codes = test[[f"pred{i}" for i in range(1, 6)]].to_numpy()
    csv_probs = test[[f"prob{i}" for i in range(1, 6)]].astype(float).to_numpy()
    got_codes = np.asarray([[nom.hs6[j] for j in row] for row in top_g])
    got_probs = np.take_along_axis(got, top_g, 1)
    sizes = {rel: meta["bytes"] for rel, meta in manifest["files"].items()}
    result = {
        "run": str(run), "checkpoint_sha256": manifest["training"]["checkpoint"]["sha256"],
        "bundle_manifest_sha256": sha256_file(bundle_dir / "manifest.json"),
        "export_s": round(export_s, 1) if not args.reuse else None, "bundle_load_s": round(load_s, 1),
        "bundle_bytes": int(sum(sizes.values())), "bundle_files_bytes": sizes,
        "mix": manifest["model"].get("mix"), "lexical": manifest["model"].get("lexical"),
        "features_vs_checkpoint": features,
        "descriptions": len(texts), "descriptions_source": f"first {len(texts)} rows of {run / 'predictions.csv'} (test split)",
        "onnx_vs_pytorch_max_abs_diff": onnx_diff,
        "bundle_vs_checkpoint": {
            "path_probability_max_abs_diff": float(diff.max()),
            "path_probability_max_abs_diff_untied_rows": float(diff[~tied].max()) if (~tied).any() else 0.0,
            "rows_with_tied_kth_neighbour": int(tied.sum()),
            "top5_identical_rows": int(same5.sum()), "top1_identical_rows": int((top_w[:, 0] == top_g[:, 0]).sum()),
        },
        "bundle_vs_training_predictions_csv": {
            "top5_identical_rows": int((csv_codes == got_codes).all(axis=1).sum()),
            "top5_probability_max_abs_diff": float(np.abs(csv_probs - got_probs).max()),
        },
        "export_parity_in_manifest": manifest["parity"]["max_abs_diff"],
        "command": "python scripts/export_parity_hs.py " + " ".join(sys.argv[1:]),
    }
    b = result["bundle_vs_checkpoint"]
    result["within_1e-4"] = bool(max(onnx_diff.values()) <= 1e-4 and b["path_probability_max_abs_diff"] <= 1e-4
                                 and b["top5_identical_rows"] == len(texts))
    print(json.dumps(result, indent=2))
    if args.output:
        write_json(args.output, result)
    return 0 if result["within_1e-4"] else 1


if __name__ == "__main__":
    sys.exit(main())
