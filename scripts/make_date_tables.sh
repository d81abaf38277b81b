#!/usr/bin/env bash
# Regenerate the committed DATE (and HS) tables and plots from the run reports, then the results
# section of experiments/README.md (scripts/readme_results.py).
#   bash scripts/make_date_tables.sh
#   ROOT=/tmp/fresh bash scripts/make_date_tables.sh   # tables of runs made with bacuda-bench --root /tmp/fresh
# (with ROOT set, experiments/README.md is left alone and a table whose runs are absent is skipped)
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cd "${ROOT:-$here}"
py=${PYTHON:-python}
mt="$py $here/scripts/make_table.py"
d=experiments/date_synthetic
if [ -d $d/date ]; then
  $mt $d/date --group experiment model.name features.risk_flags \
    --experiments date_synthetic date_synthetic_oof date_synthetic_paper --out $d/date_table \
    --title "DATE on the shared DATE-schema file (DATE reference split; date_rev = the same checkpoint, DATE_REV ranking: expected revenue for date_synthetic and date_synthetic_oof, the revenue head for date_synthetic_paper)" \
    --plot --plot-facet features.risk_flags
fi
if [ -d $d/baselines ]; then
  $mt $d/baselines --out $d/baselines_table \
    --title "Baselines on the shared DATE-schema file (DATE reference split, 5 seeds)" --plot --plot-facet features.risk_flags
fi
if [ -d $d/date ] && [ -d $d/baselines ]; then
  # DATE (dual-task tree stage) against the baselines, both risk-flag modes: the first plot of experiments/README.md
  # (older baseline runs are named by their folder, those made by bacuda-bench by experiment date_synthetic_baselines)
  $mt $d/date $d/baselines --group model.name features.risk_flags \
    --experiments date_synthetic date_synthetic_oof '*-reference' '*-out_of_fold' date_synthetic_baselines --out $d/comparison \
    --title "DATE vs baselines on the shared DATE-schema file (5 seeds)" --plot --plot-facet features.risk_flags
fi
if [ -z "${ROOT:-}" ] && [ -d $d/baselines/largest-reference-s0 ] && [ -d $d/baselines/xgb_expected-out_of_fold-s4 ]; then
  # paired-bootstrap intervals between the baselines and the precision-revenue trade-off plot: re-fits
  # the committed baseline runs (a few minutes at 1 thread), each checked equal to its report
  $py $here/scripts/revenue_compare.py --threads 1 > /dev/null
fi
if [ -n "$(ls -d $d/date/date_synthetic_no_* 2>/dev/null)" ]; then
  $mt $d/date --group experiment model.name \
    --experiments date_synthetic date_synthetic_no_self_attention date_synthetic_no_attention_network \
    date_synthetic_no_fusion date_synthetic_no_revenue --out $d/ablations_table \
    --metrics test/precision@1 test/precision@2 test/precision@5 test/precision@10 test/revenue@1 test/revenue@2 test/revenue@5 test/revenue@10 test/auc \
    --title "DATE ablations (reference risk flags; date_rev = DATE_REV ranked by expected revenue)"
fi
if [ -d experiments/generalization ]; then
  $mt experiments/generalization --group data.path features.risk_flags model.name model.revenue_ranking --out experiments/generalization/table \
    --metrics test/precision@1 test/precision@5 test/revenue@1 test/revenue@2 test/revenue@5 test/revenue@10 test/auc \
    --title "Other data: our generator at data seeds 11-14 (100k rows each), bash scripts/generalization.sh (both risk-flag modes; revenue_ranking head = the paper's DATE_REV)"
fi
if [ -z "${ROOT:-}" ] && [ -d experiments/generalization/gen11/date_oof ]; then
  # the same paired-bootstrap intervals and trade-off plot per generated file (one run per model and file)
  $py $here/scripts/revenue_compare.py --generalization --threads 1 > /dev/null
fi
# HS: accuracy@1 by HS level. Single-seed runs (experiments/hs/README.md) and the 3-seed runs
# experiments/hs/runs/<name>_s<seed> (bacuda-bench hs) are tabled separately.
hs_single=$(ls -d experiments/hs/runs/*/DONE 2>/dev/null | sed 's|/DONE$||' | grep -v '_s[0-9]*$' || true)
hs_seeded=$(ls -d experiments/hs/runs/*_s[0-9]*/DONE 2>/dev/null | sed 's|/DONE$||' || true)
if [ -n "$hs_single" ]; then
  $mt $hs_single --group model.name --metrics hs --out experiments/hs/levels --plot \
    --title "HS-code classification, held-out split: accuracy by level (1 seed per model)"
fi
if [ -n "$hs_seeded" ]; then
  $mt $hs_seeded --group model.name --metrics hs --out experiments/hs/bench_table --plot \
    --title "HS-code classification vs baselines, held-out split (3 seeds; bacuda-bench hs)"
  $py $here/scripts/hs_results_table.py $hs_seeded --output experiments/hs/RESULTS.md
fi
# the KCS benchmark's tables (bacuda-bench kcs) appear on the same results page
PYTHON=$py bash $here/scripts/make_kcs_tables.sh
if [ -z "${ROOT:-}" ]; then
  $py scripts/readme_results.py
fi
