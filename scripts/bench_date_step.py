#!/usr/bin/env python
"""One DATE training step, stand-alone (no Lightning): time and page faults per step.

For the step-level choices: the native leaf-attention kernel (``model.net.attention_kernel``,
default native) against PyTorch's attention (sdpa), and glibc keeping freed memory
(``malloc_keep_freed``). Batch 256, 100 leaves per declaration, dim 16, 4 heads, Ranger with
gradient clipping, random inputs (speed does not depend on their values).

    python scripts/bench_date_step.py                 # as bacuda-train trains (native kernel)
    python scripts/bench_date_step.py --kernel sdpa   # PyTorch's attention (F.scaled_dot_product_attention)
    python scripts/bench_date_step.py --no-malloc     # the C library's malloc defaults
    python scripts/bench_date_step.py --profile       # then where a step's time goes (torch.profiler)

Run each variant in its own process (the malloc setting cannot be undone in a process).
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import sys
import time


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--kernel", choices=["native", "sdpa"], default="native", help="model.net.attention_kernel")
    ap.add_argument("--no-malloc", action="store_true", help="leave glibc's malloc thresholds alone")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--steps", type=int, default=50)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--profile", action="store_true", help="after timing, profile 20 steps and print the top ops")
    args = ap.parse_args()

    from bacuda_research.core.runtime import keep_freed_memory, set_threads

    malloc = keep_freed_memory(not args.no_malloc)
    set_threads(args.threads)
    import torch
    import torch.nn.functional as F
    from pytorch_optimizer import Ranger

    from bacuda_research.fraud.network import DATE

    torch.manual_seed(0)
    b, t, n_leaves = 256, 100, 1500
    net = DATE(n_leaves=n_leaves, n_trees=t, n_importers=800, n_items=300, attention_kernel=args.kernel)
    opt = Ranger(net.parameters(), lr=0.005, weight_decay=0.01)
    batches = [(torch.randint(1, n_leaves, (b, t)).int(), torch.randint(0, 800, (b,)), torch.randint(0, 300, (b,)),
                (torch.rand(b) < 0.1).float(), torch.rand(b) * 0.3) for _ in range(10)]

    def step(batch) -> None:
        leaves, imp, itm, y, r = batch
        logit, rev, _ = net(leaves, imp, itm)
        loss = F.binary_cross_entropy_with_logits(logit, y) + 10 * F.mse_loss(F.relu(rev), r)
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(net.parameters(), 1.0)
        opt.step()

    for i in range(10):  # warm-up
        step(batches[i % 10])
    ms, faults = [], []
    for _ in range(args.repeat):
        f0, t0 = resource.getrusage(resource.RUSAGE_SELF).ru_minflt, time.perf_counter()
        for i in range(args.steps):
            step(batches[i % 10])
        ms.append((time.perf_counter() - t0) / args.steps * 1e3)
        faults.append((resource.getrusage(resource.RUSAGE_SELF).ru_minflt - f0) / args.steps)
    if args.profile:
        from torch.profiler import ProfilerActivity, profile

        with profile(activities=[ProfilerActivity.CPU]) as prof:
            for i in range(20):
                step(batches[i % 10])
        print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=15, max_name_column_width=45),
              file=sys.stderr)
    print(json.dumps({"attention_kernel": args.kernel,
                      "native": net.self_att.uses_native(torch.zeros(1, 1, 48)),
                      "malloc_keep_freed": malloc, "threads": args.threads, "steps": args.steps,
                      "ms_per_step": [round(x, 2) for x in ms], "median_ms_per_step": round(statistics.median(ms), 2),
                      "page_faults_per_step": round(statistics.median(faults), 1)}))


if __name__ == "__main__":
    main()
