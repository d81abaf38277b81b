"""Scoring throughput of exported bundles (ONNX Runtime) against PyTorch eager, on N CPU threads.

    bacuda-train experiment=date_synthetic threads=1 hydra.run.dir=/tmp/export_run
    python scripts/bench_score.py --date-run /tmp/export_run \
        --hs-run experiments/hs/runs/hs_minilm --threads 2 --out experiments/benchmarks/score_throughput

DATE: 100,000 declarations (the shared DATE file when present, else generated ones), validated
once; then timed from the validated frame to scores: features -> XGBoost leaves -> network
(``DATEPredictor.predict`` on the checkpoint vs ``DATEBundle.predict`` on the bundle, same batch
size), the network alone on precomputed inputs, and the bundle's full output with top-5
explanations. File reading + validation (the same code for both) is timed once, separately.
HS: N title-like descriptions (noisy variants of the model's nomenclature texts, as
``scripts/bench_hs.py``), ``HSPredictor.predict`` on the checkpoint vs ``HSBundle.predict``: compose
-> tokenize (+ hashed TF-IDF featurisation and n-gram bag for a model with the lexical side) ->
encoder + heads -> (kNN votes) -> decoding -> top-5, batch 64 for both. The HS bundle is exported
into ``--bundles``/hs unless one is there already (pass the same ``--bundles`` to reuse it);
loading a bundle (sha256 checks, reading the n-gram table) is timed once, separately.

Every figure is the median of ``--repeat`` runs after a warm-up. Machine details and the load
average before and after go into the JSON: other processes on the machine make figures low.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path


CPU_SECONDS: dict[str, float] = {}


def _timed(fn, repeat: int, key: str | None = None) -> float:
    """Median wall seconds of ``repeat`` calls; the median CPU seconds of this process (all its
    threads) go to ``CPU_SECONDS[key]``: on a shared machine CPU time is the steadier comparison."""
    times, cpu = [], []
    for _ in range(repeat):
        t, c = time.perf_counter(), time.process_time()
        fn()
        times.append(time.perf_counter() - t)
        cpu.append(time.process_time() - c)
    if key:
        CPU_SECONDS[key] = statistics.median(cpu)
    return statistics.median(times)


def _rates(n: int, runs: dict[str, float], prefix: str) -> dict:
    return {"seconds": {k: round(v, 3) for k, v in runs.items()},
            "per_s": {k: round(n / v, 1) for k, v in runs.items()},
            "cpu_seconds": {k: round(CPU_SECONDS[f"{prefix}{k}"], 3) for k in runs},
            "per_cpu_s": {k: round(n / CPU_SECONDS[f"{prefix}{k}"], 1) for k in runs}}


def machine(threads: int) -> dict:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    from bacuda_research.bundle.common import export_versions

    return {"cpu": cpu, "logical_cpus": os.cpu_count(), "threads_used": threads, "python": platform.python_version(),
            "platform": platform.platform(), "versions": export_versions()}


def bench_date(run: str, bundle_dir: Path, rows: int, threads: int, repeat: int, batch: int) -> dict:
    import numpy as np
    import torch

    from bacuda_research.declarations.schema import load_declarations
    from bacuda_research.bundle.export import export_model
    from bacuda_research.bundle.date_export import torch_outputs
    from bacuda_research.fraud.predictor import DATEPredictor
    from bacuda_research.core.paths import shared_path
    from bacuda_research.bundle.runtime import load_bundle

    if not (bundle_dir / "manifest.json").is_file():
        export_model(run, bundle_dir, overwrite=True)
    predictor = DATEPredictor.from_run(run)
    for b in predictor.stage.boosters:
        b.set_param({"nthread": threads})
    bundle = load_bundle(bundle_dir, threads=threads)
    src = shared_path("data/date-synthetic/surrogate-imports-declarations.csv")
    if not src.is_file():
        from bacuda_research.declarations.synthetic import generate_declarations

        src = Path(tempfile.mkdtemp()) / "declarations.csv"
        generate_declarations(rows, seed=7).to_csv(src, index=False)
    t = time.perf_counter()
    df = load_declarations(src, predictor.schema, max_rows=rows)
    read_s = time.perf_counter() - t
    n = len(df)
    x = bundle.inputs(df)
    xt = {k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in x.items()}

    def torch_net():
        with torch.no_grad():
            for s in range(0, n, batch):
                predictor.net(*(xt[k][s:s + batch] if k in xt else None for k in ("leaves", "importer", "item", "dense")))

    warm = df.head(2048)
    predictor.predict(warm, batch_size=batch)
    bundle.predict(warm, batch_size=batch)
    res = {"source": src.name, "declarations": n, "batch_size": batch, "read_and_validate_s": round(read_s, 2)}
    fns = {
        "pytorch_eager.network": torch_net,
        "onnxruntime.network": lambda: bundle.run(x, batch_size=batch),
        "pytorch_eager.end_to_end": lambda: predictor.predict(df, batch_size=batch),
        "onnxruntime.end_to_end": lambda: bundle.predict(df, batch_size=batch),
        "onnxruntime.bundle_score_with_top5_explanations": lambda: bundle.score(df, top_k=5, batch_size=batch),
    }
    runs = {k: _timed(f, repeat, f"date.{k}") for k, f in fns.items()}
    r = _rates(n, runs, "date.")
    res.update({"seconds": r["seconds"], "declarations_per_s": r["per_s"], "cpu_seconds": r["cpu_seconds"],
                "declarations_per_cpu_s": r["per_cpu_s"]})
    got, want = bundle.run(x, batch_size=batch)[0], torch_outputs(predictor.net, x)[0]
    res["logit_max_abs_diff_onnx_vs_pytorch"] = float(np.abs(got - want).max())
    return res


def current_hs_checkpoint(run: str, workdir: Path) -> tuple[str, bool]:
    """``run`` itself, or (for a checkpoint written before buffers were added to ``HSLitModule``,
    e.g. ``mix``/``lex_*``) a copy re-saved by the current code with those buffers at their defaults
    (``mix`` = (1 - retrieval_weight, retrieval_weight, 0): what the older code computed)."""
    import shutil

    import torch

    from bacuda_research.hs.module import HSLitModule
    from bacuda_research.core.checkpoints import resolve_model

    path = resolve_model(run, expect="hs", bundles=False).path
    try:
        HSLitModule.from_checkpoint_file(path)
        return run, False
    except RuntimeError as e:
        if "Missing key(s)" not in str(e):
            raise
    ckpt = torch.load(path, map_location="cpu", weights_only=True)
    meta, hp, state = ckpt["hs"], dict(ckpt["hyper_parameters"]), ckpt["state_dict"]
    module = HSLitModule(meta["nomenclature"], meta["encoder_config"], meta["tokenizer"], **hp)
    module.set_index(state["index_emb"], state["index_labels"])
    missing, unexpected = module.load_state_dict(state, strict=False)
    if unexpected or any(not (k == "mix" or k.startswith("lex_")) for k in missing):
        raise RuntimeError(f"{path}: cannot upgrade (missing {missing}, unexpected {unexpected})")
    new = {"state_dict": module.state_dict(), "hyper_parameters": hp}
    module.on_save_checkpoint(new)
    out = workdir / "hs_upgraded"
    (out / "checkpoints").mkdir(parents=True, exist_ok=True)
    torch.save(new, out / "checkpoints" / "model.ckpt")
    report = Path(run) / "report.json"
    if report.is_file():
        shutil.copy(report, out / "report.json")
    return str(out), True


def bench_hs(run: str, bundle_dir: Path, n: int, threads: int, repeat: int, batch: int) -> dict:
    import random

    import numpy as np

    from bacuda_research.bundle.export import export_model
    from bacuda_research.hs.predict import HSPredictor
    from bacuda_research.hs.text import augment_title
    from bacuda_research.bundle.runtime import load_bundle

    run, upgraded = current_hs_checkpoint(run, bundle_dir.parent)
    if not (bundle_dir / "manifest.json").is_file():
        export_model(run, bundle_dir, overwrite=True)
    predictor = HSPredictor.from_run(run, threads=threads)
    predictor.batch_size = batch
    t0 = time.perf_counter()
    bundle = load_bundle(bundle_dir, threads=threads)
    load_s = time.perf_counter() - t0
    bundle.batch_size = batch
    nom = bundle.nom
    rng = random.Random(0)
    texts = [augment_title(nom.describe(rng.choice(nom.hs6)), rng) for _ in range(n)]
    predictor.predict(texts[:64])
    bundle.predict(texts[:64])
    runs = {"pytorch_eager": _timed(lambda: predictor.predict(texts, top_k=5), repeat, "hs.pytorch_eager"),
            "onnxruntime": _timed(lambda: bundle.predict(texts, top_k=5), repeat, "hs.onnxruntime")}
    r = _rates(n, runs, "hs.")
    n_cmp = min(n, 500)
    a, b = predictor.predict(texts[:n_cmp], top_k=1), bundle.predict(texts[:n_cmp], top_k=1)
    same_top1 = float(np.mean([x[0].hs6 == y[0].hs6 for x, y in zip(a, b)]))
    prob_diff = float(max(abs(x[0].probability - y[0].probability) for x, y in zip(a, b)))
    return {"model": str(run), "checkpoint_upgraded_to_current_code": upgraded, "descriptions": n, "batch_size": batch,
            "export_parity_max_abs_diff": bundle.manifest["parity"]["max_abs_diff"],
            "encoder": bundle.manifest["model"].get("encoder"), "parameters": bundle.manifest["model"].get("parameters"),
            "max_length": bundle.config["max_length"], "retrieval_index_rows": bundle.manifest["model"].get("retrieval_index_rows"),
            "lexical": bundle.manifest["model"].get("lexical"), "mix": bundle.manifest["model"].get("mix"),
            "bundle_bytes": int(sum(f["bytes"] for f in bundle.manifest["files"].values())),
            "bundle_load_s": round(load_s, 2),
            "seconds": r["seconds"], "descriptions_per_s": r["per_s"], "cpu_seconds": r["cpu_seconds"],
            "descriptions_per_cpu_s": r["per_cpu_s"],
            "compared": n_cmp, "top1_agreement": same_top1, "top1_probability_max_abs_diff": prob_diff}


def markdown(result: dict) -> str:
    m = result["machine"]
    lines = [f"# Scoring throughput: ONNX Runtime bundle vs PyTorch eager ({m['threads_used']} threads)", "",
             f"Machine: {m['cpu']}, {m['logical_cpus']} logical CPUs, {m['threads_used']} threads used; "
             f"load average before {result['load_before']}, after {result['load_after']} "
             f"({'LOADED: other processes were running, figures are low' if result['loaded'] else 'quiet'}).", "",
             "| task | what is timed | PyTorch eager | ONNX Runtime | speed-up | per CPU-second: PyTorch | ONNX Runtime | ratio |",
             "|---|---|---:|---:|---:|---:|---:|---:|"]
    d = result.get("date")
    if d:
        r, c = d["declarations_per_s"], d["declarations_per_cpu_s"]
        for what, key in (("network on precomputed inputs", "network"), ("features + XGBoost + network", "end_to_end")):
            a, b = r[f"pytorch_eager.{key}"], r[f"onnxruntime.{key}"]
            ca, cb = c[f"pytorch_eager.{key}"], c[f"onnxruntime.{key}"]
            lines.append(f"| DATE, {d['declarations']:,} declarations | {what} | {a:,.0f} decl/s | {b:,.0f} decl/s | "
                         f"{b / a:.2f}x | {ca:,.0f} | {cb:,.0f} | {cb / ca:.2f}x |")
        k = "onnxruntime.bundle_score_with_top5_explanations"
        lines.append(f"| DATE | bundle scores + top-5 explanations | - | {r[k]:,.0f} decl/s | - | - | {c[k]:,.0f} | - |")
    h = result.get("hs")
    if h:
        r, c = h["descriptions_per_s"], h["descriptions_per_cpu_s"]
        lines.append(f"| HS ({h['encoder']}, {h['parameters']:,} parameters), {h['descriptions']:,} descriptions | "
                     f"compose + tokenize + encoder + decoding + top-5 | {r['pytorch_eager']:,.1f} desc/s | "
                     f"{r['onnxruntime']:,.1f} desc/s | {r['onnxruntime'] / r['pytorch_eager']:.2f}x | "
                     f"{c['pytorch_eager']:,.1f} | {c['onnxruntime']:,.1f} | {c['onnxruntime'] / c['pytorch_eager']:.2f}x |")
    lines += ["", f"Median of {result['repeat']} runs after a warm-up. Command: `{result['command']}`", ""]
    if d:
        lines.append(f"DATE: reading and validating the file (same code for both) took {d['read_and_validate_s']} s; "
                     f"logit max |ONNX - PyTorch| {d['logit_max_abs_diff_onnx_vs_pytorch']:.1e}.")
    if h:
        lex = h.get("lexical")
        if lex:
            lines.append(f"HS model with the lexical side ({lex['features']:,} hashed TF-IDF features, bag width "
                         f"{lex['dim']}, lexical kNN over {lex['index_rows']:,} texts); mix {h.get('mix')}.")
        if "bundle_bytes" in h:
            lines.append(f"HS bundle: {h['bundle_bytes'] / 2**20:,.0f} MiB, loaded (verified) in {h['bundle_load_s']} s.")
        lines.append(f"HS: top-1 agreement on the first {h['compared']} descriptions {h['top1_agreement']:.3f}, "
                     f"top-1 probability max |diff| {h['top1_probability_max_abs_diff']:.1e}; export parity "
                     f"(logits, max |ONNX - PyTorch|) {max(h['export_parity_max_abs_diff'].values()):.1e}.")
    return "\n".join(lines) + "\n"


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--date-run", help="DATE run folder (checkpoints/best.ckpt)")
    p.add_argument("--hs-run", help="HS run folder or .ckpt")
    p.add_argument("--rows", type=int, default=100_000)
    p.add_argument("--hs-n", type=int, default=2000)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--date-batch", type=int, default=1024)
    p.add_argument("--hs-batch", type=int, default=64)
    p.add_argument("--bundles", default=None, help="folder for the bundles (default: a temporary folder)")
    p.add_argument("--out", help="output stem: writes OUT.json and OUT.md")
    args = p.parse_args()
    os.environ["OMP_NUM_THREADS"] = str(args.threads)
    import torch

    torch.set_num_threads(args.threads)
    bundles = Path(args.bundles or tempfile.mkdtemp(prefix="bench-bundles-"))
    load_before = [round(x, 2) for x in os.getloadavg()]
    result: dict = {"machine": machine(args.threads), "repeat": args.repeat, "load_before": load_before,
                    "command": "python scripts/bench_score.py " + " ".join(sys.argv[1:])}
    if args.date_run:
        result["date"] = bench_date(args.date_run, bundles / "date", args.rows, args.threads, args.repeat, args.date_batch)
        print(result["date"])
    if args.hs_run:
        result["hs"] = bench_hs(args.hs_run, bundles / "hs", args.hs_n, args.threads, args.repeat, args.hs_batch)
        print(result["hs"])
    result["load_after"] = [round(x, 2) for x in os.getloadavg()]
    # "loaded": the 1-minute load average exceeded the threads this benchmark uses
    result["loaded"] = bool(max(load_before[0], result["load_after"][0]) > args.threads + 0.5)
    md = markdown(result)
    print(md)
    if args.out:
        from bacuda_research.core.io import write_json
        from bacuda_research.core.portable import write_markdown

        write_json(f"{args.out}.json", result)
        write_markdown(f"{args.out}.md", md)
    return 0


if __name__ == "__main__":
    sys.exit(main())
