#!/usr/bin/env python
"""DATE speed benchmark: training samples/s (per epoch), inference declarations/s, peak memory.

    python scripts/bench_date.py                               # reference settings, shared file
    python scripts/bench_date.py --epochs 3 --threads 2 --out experiments/benchmarks/date_speed.json
    python scripts/bench_date.py model.net.self_attention=false   # any config override

Reference settings: all training rows of the shared file (74,594), batch 256, 100 trees of depth 4,
self-attention on (experiment=date_synthetic_paper, the default; --experiment date_synthetic for
the 50 + 50 dual-task tree stage, also 100 leaves per declaration). Falls back to the embedded synthetic data when the
shared file is absent (and says so). Training time is measured per epoch (Lightning loop included,
validation excluded) and the median over epochs is reported.
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import statistics
import time
from pathlib import Path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--experiment", default="date_synthetic_paper",
                    help="experiment config (default: the paper's network, 100 classifier trees)")
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--out", default=None, help="write the result as JSON (atomically)")
    ap.add_argument("overrides", nargs="*", help="Hydra overrides")
    args = ap.parse_args()

    import lightning.pytorch as pl

    from bacuda_research.core.config import compose
    from bacuda_research.fraud.task import build_datamodule
    from bacuda_research.fraud import recipe as date_module
    from bacuda_research.core.paths import shared_path
    from bacuda_research.core.runtime import keep_freed_memory, set_threads, versions

    data = "date_synthetic" if shared_path("data/date-synthetic/surrogate-imports-declarations.csv").exists() else "synthetic"
    cfg = compose([f"experiment={args.experiment}", f"data={data}", f"trainer.max_epochs={args.epochs}",
                   "trainer.enable_progress_bar=false", "logger=csv", "predictions_file=null",
                   "model.explain_top_k=0", *args.overrides])
    threads = set_threads(args.threads)
    keep_freed_memory(bool(cfg.get("malloc_keep_freed", True)))  # as bacuda-train does
    pl.seed_everything(0, verbose=False)

    t0 = time.perf_counter()
    dm = build_datamodule(cfg)
    dm.setup()
    t_data = time.perf_counter() - t0

    epoch_times: list[float] = []

    val_times: list[float] = []

    class EpochTimer(pl.Callback):
        # Lightning runs the epoch's validation inside the training epoch (before
        # on_train_epoch_end), so it is timed on its own and subtracted for the training loop alone.
        def on_train_epoch_start(self, trainer, module):
            self.t, self.val = time.perf_counter(), 0.0

        def on_validation_start(self, trainer, module):
            self.tv = time.perf_counter()

        def on_validation_end(self, trainer, module):
            if not trainer.sanity_checking:
                self.val += time.perf_counter() - self.tv

        def on_train_epoch_end(self, trainer, module):
            epoch_times.append(time.perf_counter() - self.t)
            val_times.append(self.val)

    import tempfile

    from bacuda_research.fraud.recipe import predict_split

    from bacuda_research.fraud.predictor import DATEPredictor

    with tempfile.TemporaryDirectory() as tmp:
        t1 = time.perf_counter()
        out = date_module.fit_date(cfg, dm, Path(tmp), [], callbacks=(EpochTimer(),))
        t_fit = time.perf_counter() - t1
        predictor = DATEPredictor.from_run(out["extra"]["best_checkpoint"])
    raw_test = dm.splits["test"].frame
    t3 = time.perf_counter()
    predictor.predict(raw_test)
    e2e_rate = len(raw_test) / (time.perf_counter() - t3)
    n_train = len(dm.splits["train"].frame)

    # inference: the network alone on precomputed test leaves, then raw rows end to end
    # (features -> XGBoost leaves -> network) through the checkpoint-free predictor path
    test = dm.tensors["test"]
    t2 = time.perf_counter()
    predict_split(out["module"], test, 4096)
    net_rate = len(test["illicit"]) / (time.perf_counter() - t2)
    result = {
        "config": {"data": cfg.data.name, "train_rows": n_train, "batch_size": int(cfg.data.batch_size),
                   "experiment": args.experiment,
                   "trees": int(cfg.model.xgb.n_estimators) + int((cfg.model.get("xgb_revenue") or {}).get("n_estimators", 0)),
                   "self_attention": bool(cfg.model.net.self_attention),
                   "overrides": args.overrides},
        "epoch_seconds": [round(t, 3) for t in epoch_times],
        "median_epoch_s": round(statistics.median(epoch_times), 3),
        "train_samples_per_s": round(n_train / statistics.median(epoch_times), 1),
        "validation_seconds": [round(t, 3) for t in val_times],
        "train_loop_seconds": [round(t - v, 3) for t, v in zip(epoch_times, val_times)],
        "median_train_loop_s": round(statistics.median(t - v for t, v in zip(epoch_times, val_times)), 3),
        "data_and_features_s": round(t_data, 2),
        "fit_total_s": round(t_fit, 2),
        "inference_network_decl_per_s": round(net_rate, 1),
        "inference_end_to_end_decl_per_s": round(e2e_rate, 1),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "machine": {"processor": platform.processor() or platform.machine(), "threads": threads,
                    "torch": versions().get("torch")},
    }
    print(json.dumps(result, indent=2))
    if args.out:
        from bacuda_research.core.io import write_json

        write_json(args.out, result)


if __name__ == "__main__":
    main()
