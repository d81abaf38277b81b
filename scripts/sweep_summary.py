"""Summarise a Hydra multirun (an Optuna sweep or a seed sweep) into a small committed record.

    python scripts/sweep_summary.py multirun/2026-11-22/04-23-36 experiments/sweeps/date_optuna_smoke \
        --command "bacuda-train -m hparams_search=date_optuna ..."

Reads every trial folder's report.json and overrides (``.hydra/overrides.yaml``) and Optuna's
``optimization_results.yaml`` when present; writes ``<out>/summary.json``, ``<out>/summary.md``
and each trial's report as ``<out>/trials/<n>/report.json`` (reports only: checkpoints, logs and
predictions stay in the sweep folder). The metric ranked by is ``val/f1@mean`` (validation only).
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

METRIC = "val/f1@mean"
SHOWN = ("val/f1@mean", "val/auc", "val/revenue@5", "test/f1@mean", "test/auc", "test/revenue@5")


def _overrides(trial: Path) -> list[str]:
    path = trial / ".hydra" / "overrides.yaml"
    if not path.exists():
        return []
    from omegaconf import OmegaConf

    return [str(o) for o in OmegaConf.load(path)]


def summarise(sweep: Path, out: Path, command: str | None, metric: str = METRIC) -> dict:
    trials = sorted((p for p in sweep.iterdir() if p.is_dir() and p.name.isdigit()), key=lambda p: int(p.name))
    rows = []
    for t in trials:
        report_path = t / "report.json"
        if not report_path.exists():
            rows.append({"trial": int(t.name), "status": "no report (failed or interrupted)",
                         "overrides": _overrides(t)})
            continue
        rep = json.loads(report_path.read_text())
        rows.append({"trial": int(t.name), "status": "done", "overrides": _overrides(t),
                     "metrics": {k: rep["metrics"].get(k) for k in SHOWN}, "wall_time_s": rep.get("wall_time_s"),
                     "best_epoch": rep.get("best_epoch"), "seed": rep.get("seed"), "git_sha": rep.get("git_sha")})
        dest = out / "trials" / t.name / "report.json"
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(report_path, dest)
    done = [r for r in rows if r["status"] == "done"]
    best = max(done, key=lambda r: r["metrics"][metric]) if done else None
    optuna = None
    if (sweep / "optimization_results.yaml").exists():
        from omegaconf import OmegaConf

        optuna = OmegaConf.to_container(OmegaConf.load(sweep / "optimization_results.yaml"))
    summary = {"command": command, "sweep_dir": str(sweep), "ranked_by": metric, "n_trials": len(rows),
               "n_done": len(done), "best_trial": best["trial"] if best else None, "optuna": optuna, "trials": rows}
    out.mkdir(parents=True, exist_ok=True)
    from bacuda_research.core.io import write_json
    from bacuda_research.core.portable import write_markdown

    write_json(out / "summary.json", summary)
    write_markdown(out / "summary.md", markdown(summary))
    return summary


def markdown(s: dict) -> str:
    lines = [f"# Sweep: {len(s['trials'])} trials ranked by `{s['ranked_by']}` (validation)", ""]
    if s["command"]:
        lines += [f"Command: `{s['command']}`", ""]
    lines += ["Test columns are reported for the record only; nothing is chosen on them.", "",
              "| trial | overrides (searched) | " + " | ".join(SHOWN) + " | best epoch | wall s |",
              "|---:|---|" + "---:|" * (len(SHOWN) + 2)]
    for r in s["trials"]:
        if r["status"] != "done":
            lines.append(f"| {r['trial']} | {' '.join(r['overrides'])} | {r['status']} |")
            continue
        searched = " ".join(o for o in r["overrides"] if o.split("=")[0] in _searched(s))
        mark = " **(best)**" if r["trial"] == s["best_trial"] else ""
        lines.append(f"| {r['trial']}{mark} | {searched} | "
                     + " | ".join(f"{r['metrics'][k]:.4f}" if r["metrics"][k] is not None else "" for k in SHOWN)
                     + f" | {r['best_epoch']} | {r['wall_time_s']:.0f} |")
    if s.get("optuna"):
        lines += ["", "Optuna's result (`optimization_results.yaml`):", "", "```",
                  json.dumps(s["optuna"], indent=1), "```"]
    return "\n".join(lines) + "\n"


def _searched(s: dict) -> set[str]:
    params = ((s.get("optuna") or {}).get("best_params") or {})
    if params:
        return set(params)
    # a plain multirun: the keys whose values differ between trials
    seen: dict[str, set[str]] = {}
    for r in s["trials"]:
        for o in r["overrides"]:
            k, _, v = o.partition("=")
            seen.setdefault(k, set()).add(v)
    return {k for k, v in seen.items() if len(v) > 1}


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("sweep_dir", type=Path)
    ap.add_argument("out_dir", type=Path)
    ap.add_argument("--command", default=None, help="the command that ran the sweep (recorded)")
    ap.add_argument("--metric", default=METRIC)
    args = ap.parse_args(argv)
    s = summarise(args.sweep_dir, args.out_dir, args.command, args.metric)
    print(markdown(s))


if __name__ == "__main__":
    main()
