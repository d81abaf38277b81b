"""Score finished HS runs on the other-language EU CN texts of their held-out goods codes (French by default).

    python scripts/hs_heldout_lang.py experiments/hs/real/hs_minilm_s0 experiments/hs/real/hs_minilm_knn_s0 \
        --threads 1

For each run: rebuild its data from ``.hydra/config.yaml`` (same seed, same nomenclature split),
take the ``--lang`` texts of the goods codes in its ``test`` split (``hs.heldout.crosslingual_heldout``:
no text of those codes was trained or tuned on, in any language), score them with the run's
checkpoint (or a refit of a fit-free baseline) and write ``RUN/heldout_<lang>.json`` (metrics
``heldout/<lang>/hs{2,4,6}/acc@{1,5}``, counts of what was dropped and why, file sha256), which
``scripts/hs_real_table.py`` turns into a table.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path


def score_run(run: Path, lang: str, other: Path | None, english: Path | None, threads: int) -> dict:
    from bacuda_research.core.io import sha256_file
    from bacuda_research.core.paths import shared_path
    from bacuda_research.hs.heldout import crosslingual_heldout, run_predictor
    from bacuda_research.hs.task import evaluate

    t0 = time.perf_counter()
    cfg, nom, splits, predict, info = run_predictor(run, threads=threads)
    eu = cfg.data.eu_cn or {}
    english = english or Path(eu.get("en") or shared_path("data/hs/eu_cn_nomenclature_en_fr/nomenclature-en.csv"))
    other = other or shared_path(f"data/hs/eu_cn_nomenclature_en_fr/nomenclature-{lang}.csv")
    counts: dict[str, int] = {}
    df = crosslingual_heldout(other, english, nom, splits, lang=lang, stats=counts)
    t1 = time.perf_counter()
    probs = predict(list(df["text"]))
    metrics = evaluate(probs, df, nom, f"heldout/{lang}")
    return {"run": str(run), "lang": lang, "file": str(other), "file_sha256": sha256_file(other),
            "english_file_sha256": sha256_file(english), "seed": int(cfg.seed), **info, "counts": counts,
            "metrics": {k: round(v, 5) for k, v in metrics.items()},
            "score_s": round(time.perf_counter() - t1, 1), "total_s": round(time.perf_counter() - t0, 1),
            "threads": threads}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("runs", nargs="+", type=Path)
    p.add_argument("--lang", default="fr", help="language code of the row-aligned EU CN file (default fr)")
    p.add_argument("--file", type=Path, help="that file (default: the shared nomenclature-<lang>.csv)")
    p.add_argument("--english", type=Path, help="the English EU CN file it is aligned with (default: the run's)")
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args(argv)
    os.environ.setdefault("OMP_NUM_THREADS", str(args.threads))
    from bacuda_research.core.io import write_text

    for run in args.runs:
        out = score_run(run, args.lang, args.file, args.english, args.threads)
        m = out["metrics"]
        write_text(run / f"heldout_{args.lang}.json", json.dumps(out, indent=1) + "\n")
        print(f"{run}: n={int(m[f'heldout/{args.lang}/n'])} HS6@1 {m[f'heldout/{args.lang}/hs6/acc@1']:.3f} "
              f"HS4@1 {m[f'heldout/{args.lang}/hs4/acc@1']:.3f} -> {run / f'heldout_{args.lang}.json'}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
