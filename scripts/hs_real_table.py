"""Real-description results page, generated from HS runs' report.json files (never typed by hand).

    python scripts/hs_real_table.py experiments/hs/real/*/ --output experiments/hs/REAL.md

Per run: the nomenclature held-out split (``test/``), the real-description held-out set (``real/``,
per language), the other-language EU CN texts of the held-out goods codes (``RUN/heldout_<lang>.json``
of ``scripts/hs_heldout_lang.py``) and the 78-case smoke set per language, top-1 and top-5 at
HS2/HS4/HS6, with a mean ± sd row (sample sd) for every recipe run with two or more seeds
(folders ``NAME_sS``, e.g. ``hs_minilm_sS`` and ``hs_minilm_real10_sS``), the real-description
validation rows (``val/real/``, runs that report them); then the
calibration (temperature fitted on val, ECE before/after) and the coverage-accuracy tables
(accuracy of the top-1 answers kept when only the most confident share is answered). Runs whose
name contains ``zeroshot`` come first, the MiniLM kNN baseline (``hs_minilm_knn_zeroshot*``) on the first row.
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import sys
from pathlib import Path

from bacuda_research.core.io import write_text

LEVELS = [("hs2", 1), ("hs2", 5), ("hs4", 1), ("hs4", 5), ("hs6", 1), ("hs6", 5)]
SMOKE_LANGS = ["en", "th", "vi", "zh"]


def _pct(m: dict, key: str) -> str:
    v = m.get(key)
    return "" if v is None else f"{100 * v:.1f}"


def load(dirs: list[Path]) -> list[dict]:
    out = []
    for d in dirs:
        p = d / "report.json"
        if not (d / "DONE").is_file() or not p.is_file():
            print(f"skip {d}: no DONE/report.json", file=sys.stderr)
            continue
        r = json.loads(p.read_text())
        r["_name"] = d.name
        rescore = d / "rescore.json"  # scripts/hs_rescore.py: calibration refit (and the int8 table)
        if rescore.is_file():
            r["_rescore"] = json.loads(rescore.read_text())
            if "metrics" in r["_rescore"]:  # mixture chosen again (--mixture-rows): its scores replace the report's
                r["metrics"] = {**r["metrics"], **r["_rescore"]["metrics"]}
        r["_heldout"] = {}  # scripts/hs_heldout_lang.py: other-language texts of the held-out goods codes
        for f in sorted(d.glob("heldout_*.json")):
            h = json.loads(f.read_text())
            r["_heldout"][h["lang"]] = h
            r["metrics"] = {**r["metrics"], **h["metrics"]}
        out.append(r)
    return sorted(out, key=_order)


def _order(r: dict) -> tuple[int, str]:
    """The MiniLM kNN baseline first, then other zero-shot kNN runs, other kNN runs, trained recipes."""
    name = r["_name"]
    rank = 0 if name.startswith("hs_minilm_knn_zeroshot") else 1 if "zeroshot" in name else 2 if "knn" in name else 3
    return rank, name


def seed_groups(reports: list[dict]) -> dict[str, list[dict]]:
    """Runs named ``NAME_sS`` grouped by ``NAME`` (only groups of two or more seeds)."""
    groups: dict[str, list[dict]] = {}
    for r in reports:
        m = re.fullmatch(r"(.+)_s(\d+)", r["_name"])
        if m:
            groups.setdefault(m.group(1), []).append(r)
    return {k: v for k, v in groups.items() if len(v) >= 2}


def mean_sd(values: list[float]) -> str:
    """``mean ± sd`` in percent (sample sd over seeds)."""
    return f"{100 * statistics.mean(values):.1f} ± {100 * statistics.stdev(values):.1f}"


def _seeds(runs: list[dict]) -> str:
    return ", ".join("s" + r["_name"].rsplit("_s", 1)[1] for r in runs)


def accuracy_table(reports: list[dict], prefix: str, title: str) -> list[str]:
    head = " | ".join(f"{lv.upper()}@{k}" for lv, k in LEVELS)
    lines = [f"### {title}", "", f"| run | n | {head} |", "|---|---|" + "---|" * len(LEVELS)]
    for r in reports:
        m = r["metrics"]
        n = m.get(f"{prefix}/n")
        cells = " | ".join(_pct(m, f"{prefix}/{lv}/acc@{k}") for lv, k in LEVELS)
        lines.append(f"| {r['_name']} | {'' if n is None else int(n)} | {cells} |")
    for name, runs in seed_groups(reports).items():
        runs = [r for r in runs if f"{prefix}/n" in r["metrics"]]
        if len(runs) < 2:
            continue
        ns = sorted({int(r["metrics"][f"{prefix}/n"]) for r in runs})
        cells = " | ".join(mean_sd([r["metrics"][f"{prefix}/{lv}/acc@{k}"] for r in runs]) for lv, k in LEVELS)
        n = str(ns[0]) if len(ns) == 1 else f"{ns[0]}-{ns[-1]}"
        lines.append(f"| **{name}, mean ± sd ({len(runs)} seeds: {_seeds(runs)})** | {n} | {cells} |")
    return lines + [""]


def heldout_tables(reports: list[dict]) -> list[str]:
    """One table per language scored by ``scripts/hs_heldout_lang.py`` (only the runs that have it)."""
    lines: list[str] = []
    for lang in sorted({lg for r in reports for lg in r["_heldout"]}):
        runs = [r for r in reports if lang in r["_heldout"]]
        title = (f"EU CN `{lang}` texts of the held-out goods codes (test-split groups of each run's seed; "
                 "no text of those codes trained or tuned on in any language)")
        lines += accuracy_table(runs, f"heldout/{lang}", title)
        lines += [f"Made by `python scripts/hs_heldout_lang.py RUN --lang {lang} --threads 1` "
                  f"(writes `RUN/heldout_{lang}.json`; rows dropped and why: its `counts`).", ""]
    return lines


def real_languages(reports: list[dict]) -> list[str]:
    langs = sorted({k.split("/")[1] for r in reports for k in r["metrics"]
                    if k.startswith("real/") and k.endswith("/n") and k.count("/") == 2})
    return langs


def smoke_table(reports: list[dict]) -> list[str]:
    lines = ["### 78-case smoke set per language (HS2@1 / HS4@1 / HS4@5 / HS6@1 / HS6@5; never trained or tuned on)", "",
             "| run | " + " | ".join(SMOKE_LANGS) + " |", "|---|" + "---|" * len(SMOKE_LANGS)]
    for r in reports:
        m = r["metrics"]
        cells = [" / ".join(_pct(m, f"bench/{lg}/{k}") for k in ("hs2/acc@1", "hs4/acc@1", "hs4/acc@5", "hs6/acc@1",
                                                                 "hs6/acc@5"))
                 for lg in SMOKE_LANGS]
        lines.append(f"| {r['_name']} | " + " | ".join(cells) + " |")
    for name, runs in seed_groups(reports).items():
        cells = [" / ".join(mean_sd([r["metrics"][f"bench/{lg}/{k}"] for r in runs])
                            for k in ("hs2/acc@1", "hs4/acc@1", "hs4/acc@5", "hs6/acc@1", "hs6/acc@5"))
                 for lg in SMOKE_LANGS]
        lines.append(f"| **{name}, mean ± sd ({len(runs)} seeds: {_seeds(runs)})** | " + " | ".join(cells) + " |")
    return lines + [""]


def _calibration(r: dict) -> tuple[dict, dict, dict, str]:
    """(calibration, {split: {ece_raw, ece}}, {split: coverage rows}, mark) of a run, rescored if it was."""
    if "_rescore" in r:
        x = r["_rescore"]
        return x["calibration"], x["ece"], x["coverage"], " (rescored)"
    m = r["metrics"]
    ece = {s: {"ece_raw": m.get(f"{s}/ece_raw"), "ece": m.get(f"{s}/ece")} for s in ("val", "test", "real")}
    return r.get("hs", {}).get("calibration") or {}, ece, r.get("hs", {}).get("coverage", {}), ""


def _f3(v: float | None) -> str:
    return "nan" if v is None else f"{v:.3f}"


def calibration_tables(reports: list[dict]) -> list[str]:
    lines = ["## Calibration (one temperature; ECE of the top-1 confidence, 15 bins)", "",
             "Runs marked (rescored): `python scripts/hs_rescore.py RUN --int8 --write-calibration --output "
             "RUN/rescore.json` refitted their temperature with today's rule (Brier score on the real-description "
             "validation rows; they were trained with a log-likelihood fit on all validation rows).", "",
             "| run | T (fitted on) | val ECE raw -> cal | test ECE raw -> cal | real ECE raw -> cal |",
             "|---|---|---|---|---|"]
    for r in reports:
        cal, ece, _, mark = _calibration(r)
        cells = [f"{_f3((ece.get(s) or {}).get('ece_raw'))} -> {_f3((ece.get(s) or {}).get('ece'))}"
                 for s in ("val", "test", "real")]
        lines.append(f"| {r['_name']}{mark} | {_f3(cal.get('temperature'))} ({cal.get('fitted_on', '')}) | "
                     + " | ".join(cells) + " |")
    lines.append("")
    for split, what in (("real", "real-description held-out set"), ("test", "nomenclature held-out split")):
        runs = [(r, _calibration(r)[2].get(split)) for r in reports]
        runs = [(r, rows) for r, rows in runs if rows]
        if not runs:
            continue
        lines += [f"### Coverage-accuracy, {what} (calibrated top-1 confidence)", ""]
        covs = [row["coverage"] for row in runs[0][1]]
        lines += ["| run | " + " | ".join(f"{100 * c:.0f}%" for c in covs) + " |", "|---|" + "---|" * len(covs)]
        for r, rows in runs:
            by = {row["coverage"]: row for row in rows}
            cells = [f"{100 * by[c]['accuracy']:.1f} (>= {by[c]['threshold']:.2f})" if c in by else "" for c in covs]
            lines.append(f"| {r['_name']} | " + " | ".join(cells) + " |")
        lines += ["", "Cells: HS6@1 accuracy of the kept rows at that coverage (the confidence threshold that keeps "
                  "them: an `--abstain-below` value).", ""]
    int8 = [r for r in reports if "int8" in r.get("_rescore", {})]
    if int8:
        lines += ["## Lexical table rounded to int8 (same checkpoint otherwise)", "",
                  "| run | max abs change of any accuracy | real HS6@1 before -> after | test HS6@1 before -> after |",
                  "|---|---|---|---|"]
        for r in int8:
            a, b = r["_rescore"]["accuracy"], r["_rescore"]["int8"]["accuracy"]
            lines.append(f"| {r['_name']} | {100 * r['_rescore']['int8']['max_abs_change']:.2f} pt | "
                         f"{100 * a['real/hs6/acc@1']:.1f} -> {100 * b['real/hs6/acc@1']:.1f} | "
                         f"{100 * a['test/hs6/acc@1']:.1f} -> {100 * b['test/hs6/acc@1']:.1f} |")
        lines.append("")
    return lines


NOTES = [
    "## Notes", "",
    "- `n` of the nomenclature split (and of the held-out language tables) differs between seeds by design: "
    "`hs.corpus.split_groups` shuffles the goods-code groups with the run's seed and sends the same number of "
    "groups to test every time (1,647 groups for `hs_minilm` at seeds 0, 1 and 2), but a group holds one to "
    "several rows (a code repeated as indent headers), so the row count varies (1,916 / 1,898 / 1,924 rows). "
    "Not a bug: the seed changes the split, so mean ± sd over seeds includes split variation. The "
    "real-description held-out set is fixed (the same 409 rows for every seed and model).",
    "- mean ± sd rows: sample standard deviation over the seeds listed; each seed is scored on its own split.",
    "- Held-out language tables: the texts of the goods codes in each run's test split, in that language, "
    "are scored by the run's checkpoint (kNN baselines: refitted on the same data and seed). No text of "
    "those codes was trained or tuned on in any language (`hs/heldout.py`).",
    "",
]


def render(reports: list[dict]) -> str:
    lines = ["# HS classification on real goods descriptions", "",
             "Generated by `python scripts/hs_real_table.py experiments/hs/real/*/ --output experiments/hs/REAL.md` "
             "from each run's `report.json`; percentages. Commands of the runs: `experiments/hs/README.md`.", ""]
    if any("metrics" in r.get("_rescore", {}) for r in reports):
        lines += ["Runs whose `rescore.json` has a `mixture`: their mixture weights were chosen again after training by `python "
                  "scripts/hs_rescore.py RUN --mixture-rows real --write-calibration --output RUN/rescore.json` (on the "
                  "real-description validation rows, `model.mixture.rows=real`); every accuracy shown for them, "
                  "smoke set included, is that rescoring's (`rescore.json`), not the training report's. Weights: "
                  + "; ".join(f"{r['_name']} {r['_rescore']['mixture']['weights_before']} -> "
                              f"{r['_rescore']['mixture']['weights']}" for r in reports if "metrics" in r.get("_rescore", {}))
                  + " (heads, MiniLM kNN, TF-IDF kNN).", ""]
    lines += accuracy_table(reports, "real", "Real-description held-out set (all languages)")
    for lg in real_languages(reports):
        lines += accuracy_table(reports, f"real/{lg}", f"Real-description held-out set, language `{lg}`")
    with_val = [r for r in reports if "val/real/n" in r["metrics"]]
    if with_val:  # reports made before `val/real/` existed lack it (their numbers: scripts/hs_val_options.py)
        lines += accuracy_table(with_val, "val/real", "Real-description validation rows (`val/real/`: the rows choices "
                                "such as `data.real.repeat` are made on; runs that report them)")
    lines += accuracy_table(reports, "test", "Nomenclature held-out split (EU CN goods-code groups, HS6 seen in training)")
    lines += heldout_tables(reports)
    lines += smoke_table(reports)
    lines += calibration_tables(reports)
    lines += NOTES
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("runs", nargs="+", type=Path)
    p.add_argument("--output", type=Path, required=True)
    args = p.parse_args(argv)
    reports = load(args.runs)
    if not reports:
        print("no finished runs", file=sys.stderr)
        return 1
    write_text(args.output, render(reports))
    print(f"{len(reports)} runs -> {args.output}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
