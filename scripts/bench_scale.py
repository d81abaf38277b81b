"""Rows/s and peak memory of the declarations pipeline, stage by stage, at 1M / 5M / 10M rows.

    python scripts/bench_scale.py --rows 1000000 5000000 10000000 --threads 1 \
        --out experiments/benchmarks/scale

Each size runs in a fresh child process (so one size's memory never shows in the next) through
the same functions a run uses: synthetic generator -> Parquet file, ``read_table`` (pyarrow),
``validate_declarations``, ``time_split``, ``DeclarationFeatures`` (fit on train, transform
valid/test, float32 matrices), the XGBoost stage (``hist``, 100 trees of depth 4, the DATE
reference), leaf ids (chunked, int16), ``LeafEncoder`` (global leaf indices, int16) and the
whole-split tensors DATE trains from (``split_tensors``). Nothing is kept that a run would not keep.

Memory: the peak resident set size of each stage (Linux ``VmHWM`` from /proc/self/status, reset
before the stage by writing 5 to /proc/self/clear_refs), the resident size after it (``VmRSS``:
what the run still holds), and the process's overall peak (``ru_maxrss``). Writes
``<out>.json`` and ``<out>.md`` (machine, load average, command).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

GIB = 1024 ** 3


def _status_kib(field: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"{field} not in /proc/self/status")


def _reset_peak() -> bool:
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


class Stages:
    """Times each stage and records its peak and final resident memory."""

    def __init__(self) -> None:
        self.rows: list[dict] = []

    def run(self, name: str, n_rows: int, fn, *args, **kwargs):
        import gc

        gc.collect()
        exact = _reset_peak()
        t0 = time.perf_counter()
        out = fn(*args, **kwargs)
        dt = time.perf_counter() - t0
        self.rows.append({
            "stage": name, "rows": int(n_rows), "seconds": round(dt, 3),
            "rows_per_s": round(n_rows / dt) if dt > 0 else None,
            "peak_rss_gib": round(_status_kib("VmHWM") / 1024 ** 2, 3),
            "rss_after_gib": round(_status_kib("VmRSS") / 1024 ** 2, 3),
            "peak_is_per_stage": exact,
        })
        print(json.dumps(self.rows[-1]), flush=True)
        return out


def child(rows: int, seed: int, threads: int, workdir: Path, result_file: Path) -> None:
    """One size, in this process: every stage of the declarations pipeline."""
    import numpy as np

    import torch

    torch.set_num_threads(threads)
    from bacuda_research.declarations.features import DeclarationFeatures
    from bacuda_research.declarations.schema import SchemaOptions, read_table, validate_declarations
    from bacuda_research.declarations.split import time_split
    from bacuda_research.declarations.synthetic import generate_declarations
    from bacuda_research.fraud import xgb_stage
    from bacuda_research.fraud.recipe import split_tensors

    st = Stages()
    path = workdir / f"declarations-{rows}.parquet"

    def generate():
        df = generate_declarations(rows=rows, seed=seed, days=365)
        df.to_parquet(path, index=False, row_group_size=1 << 20)

    st.run("generate + write Parquet", rows, generate)
    raw = st.run("read Parquet (pyarrow)", rows, read_table, path)
    opts = SchemaOptions()
    df = st.run("validate", rows, validate_declarations, raw, path, opts)
    del raw
    parts = st.run("time split", rows, time_split, df, source=str(path))
    del df
    train, valid, test = parts
    del parts
    n_train = len(train)
    feats = DeclarationFeatures(seed=seed)

    def features(train, valid, test):
        frames = {"train": feats.fit_transform(train), "valid": feats.transform(valid), "test": feats.transform(test)}
        return frames, {k: feats.matrix(f) for k, f in frames.items()}

    frames, X = st.run("features (fit train, transform all) + float32 matrix", rows, features, train, valid, test)
    del train, valid, test
    params, rounds = xgb_stage.xgb_params({"n_estimators": 100, "max_depth": 4, "learning_rate": 0.3,
                                           "tree_method": "hist"}, "binary:logistic", seed, threads)
    y = frames["train"]["illicit"].to_numpy(np.float32)
    booster = st.run("XGBoost stage fit (hist, 100 trees, train rows)", n_train,
                     xgb_stage.fit_booster, X["train"], y, params, rounds, feats.columns, None)
    stage = xgb_stage.TreeStage([booster], feats.columns)
    node_ids = st.run("leaf ids (pred_leaf, chunked, int16)", rows, lambda: {k: stage.leaves(v) for k, v in X.items()})
    encoder = st.run("leaf encoder fit (train)", n_train, lambda: xgb_stage.LeafEncoder().fit(node_ids["train"]))

    def encode():
        out = {}
        for k in list(node_ids):
            out[k] = encoder.transform(node_ids.pop(k))
        return out

    leaves = st.run("leaf encoding (global indices)", rows, encode)
    scale = float(np.log1p(frames["train"]["revenue"].to_numpy()).max()) or 1.0

    def tensors():
        return {k: split_tensors(leaves[k], feats.importer_index(f), feats.item_index(f),
                                 f["illicit"].to_numpy(np.float32), f["revenue"].to_numpy(np.float64), scale)
                for k, f in frames.items()}

    t = st.run("DATE tensors (whole splits)", rows, tensors)
    held = {k: {n: int(v.element_size() * v.nelement()) for n, v in d.items()} for k, d in t.items()}
    result = {
        "rows": rows, "train_rows": n_train, "stages": st.rows,
        # the largest stage peak (ru_maxrss is reset with VmHWM by clear_refs, so not used when it is)
        "process_peak_rss_gib": max(max(s["peak_rss_gib"] for s in st.rows),
                                    round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 ** 2, 3)),
        "leaf_dtype": str(leaves["train"].dtype), "node_id_dtype": "int16",
        "n_leaves": encoder.n_leaves, "n_trees": encoder.n_trees,
        "tensor_bytes_gib": round(sum(sum(d.values()) for d in held.values()) / GIB, 3),
        "leaf_tensor_gib": round(sum(d["leaves"] for d in held.values()) / GIB, 3),
        "leaf_tensor_gib_if_int64": round(rows * encoder.n_trees * 8 / GIB, 3),
        "parquet_file_mib": round(path.stat().st_size / 1024 ** 2, 1),
    }
    result_file.write_text(json.dumps(result, indent=1))


def machine() -> dict:
    import numpy
    import pandas
    import pyarrow
    import xgboost

    cpu = platform.processor()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next((ln.split(":", 1)[1].strip() for ln in f if ln.startswith("model name")), cpu)
    except OSError:
        pass
    mem = None
    try:
        with open("/proc/meminfo") as f:
            mem = round(int(f.readline().split()[1]) / 1024 ** 2, 1)
    except OSError:
        pass
    return {"cpu": cpu, "cores": os.cpu_count(), "memory_gib": mem, "python": platform.python_version(),
            "numpy": numpy.__version__, "pandas": pandas.__version__, "pyarrow": pyarrow.__version__,
            "xgboost": xgboost.__version__, "platform": platform.platform()}


def markdown(results: list[dict], meta: dict) -> str:
    lines = [
        "# Declarations pipeline at scale: rows/s and peak memory per stage",
        "",
        f"Command: `{meta['command']}`",
        "",
        f"Machine: {meta['machine']['cpu']}, {meta['machine']['cores']} cores, {meta['machine']['memory_gib']} GiB; "
        f"Python {meta['machine']['python']}, numpy {meta['machine']['numpy']}, pandas {meta['machine']['pandas']}, "
        f"pyarrow {meta['machine']['pyarrow']}, xgboost {meta['machine']['xgboost']}; {meta['threads']} thread(s).",
        "",
        "Load: other jobs shared the machine while this ran, so rows/s are indicative only; memory is "
        "what this benchmark is for. Load average (1/5/15 min) before each size: "
        + "; ".join(f"{r['rows']:,} rows: {r['load_before']}" for r in results) + ".",
        "",
        "Peak RSS = the largest resident set during the stage (the stage's own peak: reset before it); "
        "RSS after = what the run still holds when the stage ends. The process peak is the whole child process.",
        "",
    ]
    for r in results:
        lines += [f"## {r['rows']:,} declarations ({r['train_rows']:,} training rows)", "",
                  "| stage | rows | seconds | rows/s | peak RSS (GiB) | RSS after (GiB) |",
                  "|---|---:|---:|---:|---:|---:|"]
        for s in r["stages"]:
            lines.append(f"| {s['stage']} | {s['rows']:,} | {s['seconds']:.1f} | {s['rows_per_s']:,} | "
                         f"{s['peak_rss_gib']:.2f} | {s['rss_after_gib']:.2f} |")
        lines += ["", f"Process peak RSS: **{r['process_peak_rss_gib']:.2f} GiB**; wall time {r['wall_s']:.0f} s; "
                  f"Parquet file {r['parquet_file_mib']:.0f} MiB; leaves {r['leaf_dtype']} ({r['n_trees']} trees, "
                  f"{r['n_leaves']} indices): {r['leaf_tensor_gib']:.2f} GiB of tensors "
                  f"({r['leaf_tensor_gib_if_int64']:.2f} GiB as int64); all DATE tensors {r['tensor_bytes_gib']:.2f} GiB.", ""]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rows", type=int, nargs="+", default=[1_000_000, 5_000_000, 10_000_000])
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--out", default="experiments/benchmarks/scale")
    ap.add_argument("--workdir", default=None, help="where the Parquet files go (default: a temp dir)")
    ap.add_argument("--merge", action="store_true", help="keep the other sizes already in <out>.json")
    ap.add_argument("--child", type=int, default=None, help=argparse.SUPPRESS)
    ap.add_argument("--result", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child is not None:
        child(args.child, args.seed, args.threads, Path(args.workdir), Path(args.result))
        return

    env = dict(os.environ, OMP_NUM_THREADS=str(args.threads), OPENBLAS_NUM_THREADS=str(args.threads),
               MKL_NUM_THREADS=str(args.threads))
    out = Path(args.out)
    results: list[dict] = []
    if args.merge and out.with_suffix(".json").exists():  # keep other sizes measured earlier
        old = json.loads(out.with_suffix(".json").read_text())["results"]
        results = [r for r in old if r["rows"] not in args.rows]
    for rows in args.rows:
        with tempfile.TemporaryDirectory(dir=args.workdir) as tmp:
            result_file = Path(tmp) / f"result-{rows}.json"
            load = " / ".join(f"{x:.2f}" for x in os.getloadavg())
            t0 = time.perf_counter()
            proc = subprocess.run([sys.executable, __file__, "--child", str(rows), "--threads", str(args.threads),
                                   "--seed", str(args.seed), "--workdir", tmp, "--result", str(result_file)], env=env)
            if proc.returncode != 0:  # e.g. killed by the OOM killer when other jobs hold the memory
                print(f"{rows} rows: child exited with {proc.returncode}; not recorded", file=sys.stderr)
                continue
            r = json.loads(result_file.read_text())
        r["wall_s"] = round(time.perf_counter() - t0, 1)
        r["load_before"] = load
        results = sorted([x for x in results if x["rows"] != rows] + [r], key=lambda x: x["rows"])
        write_outputs(out, results, args.threads)  # after every size: a long run keeps what it measured


def write_outputs(out: Path, results: list[dict], threads: int) -> None:
    from bacuda_research.core.io import write_json
    from bacuda_research.core.portable import write_markdown

    meta = {"command": "python scripts/bench_scale.py " + " ".join(sys.argv[1:]), "machine": machine(),
            "threads": threads, "load_after": " / ".join(f"{x:.2f}" for x in os.getloadavg()),
            "date_utc": time.strftime("%Y-%m-%d %H:%M", time.gmtime())}
    out.parent.mkdir(parents=True, exist_ok=True)
    write_json(out.with_suffix(".json"), {"meta": meta, "results": results})
    write_markdown(out.with_suffix(".md"), markdown(results, meta))
    print(markdown(results, meta))


if __name__ == "__main__":
    main()
