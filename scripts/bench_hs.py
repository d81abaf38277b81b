"""Inference throughput of an HS model in descriptions per second (CPU by default).

    python scripts/bench_hs.py MODEL [--n 2000] [--batch-sizes 1 64] [--threads 2] [--output bench.json]

MODEL is anything ``bacuda-hs`` accepts. Descriptions are generated title-like texts (a noisy
variant of nomenclature texts stored in the checkpoint), so the script needs no data files. The
measured path is the one ``bacuda-hs`` uses: compose input -> tokenize -> encoder -> heads ->
(hashed TF-IDF bag, MiniLM and TF-IDF kNN votes) -> hierarchical decoding -> top-5 with texts. Model loading is timed separately.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("model")
    p.add_argument("--n", type=int, default=2000, help="descriptions per measurement")
    p.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 64])
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--top-k", type=int, default=5)
    p.add_argument("--output", help="write the results as JSON here")
    args = p.parse_args(argv)

    import torch

    from bacuda_research.bundle.runtime import load_model
    from bacuda_research.hs.text import augment_title

    t0 = time.perf_counter()
    predictor = load_model(args.model, expect="hs", threads=args.threads)
    load_s = time.perf_counter() - t0
    nom = predictor.module.nom
    rng = random.Random(0)
    texts = [augment_title(nom.describe(rng.choice(nom.hs6)), rng) for _ in range(args.n)]
    predictor.predict(texts[:8], top_k=args.top_k)  # warm-up
    results = {"model": args.model, "n": args.n, "threads": torch.get_num_threads(), "load_s": round(load_s, 2),
               "retrieval_index_rows": int(predictor.module.index_emb.shape[0]),
               "lexical_index_rows": int(getattr(predictor.module, "lex_labels", torch.zeros(0)).shape[0]),
               "mixture": [round(float(w), 3) for w in getattr(predictor.module, "mix", torch.ones(1)).tolist()],
               "max_length": int(predictor.module.hparams.max_length), "runs": []}
    for bs in args.batch_sizes:
        predictor.batch_size = bs
        n = args.n if bs > 1 else min(args.n, 300)  # batch 1 is slow; fewer rows suffice
        t = time.perf_counter()
        if bs == 1:
            for text in texts[:n]:
                predictor.predict([text], top_k=args.top_k)
        else:
            predictor.predict(texts[:n], top_k=args.top_k)
        dt = time.perf_counter() - t
        results["runs"].append({"batch_size": bs, "descriptions": n, "seconds": round(dt, 3),
                                "descriptions_per_s": round(n / dt, 1), "ms_per_description": round(1000 * dt / n, 2)})
        print(f"batch {bs:>4}: {n / dt:8.1f} descriptions/s ({1000 * dt / n:.2f} ms each, {n} descriptions)")
    if args.output:
        from bacuda_research.core.io import write_json

        write_json(args.output, results)
    print(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
