#!/usr/bin/env bash
# Regenerate the KCS tables and plots (experiments/kcs/) from the run reports of bacuda-bench kcs.
#   bash scripts/make_kcs_tables.sh
#   ROOT=/tmp/fresh bash scripts/make_kcs_tables.sh   # tables of runs made with bacuda-bench kcs --root /tmp/fresh
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cd "${ROOT:-$here}"
py=${PYTHON:-python}
mt="$py $here/scripts/make_table.py"
d=experiments/kcs
metrics="test/precision@1 test/precision@2 test/precision@5 test/precision@10 test/precision@25.2
 test/recall@1 test/recall@2 test/recall@5 test/recall@10 test/recall@25.2 test/auc"
if [ -d $d/fraud ]; then
  $mt $d/fraud --group model.name features.risk_flags --metrics $metrics --out $d/table --plot \
    --title "KCS synthetic, label Fraud (authors' split; published XGBoost @25.2%: P 0.529, R 0.616)"
fi
if [ -d $d/critical ]; then
  $mt $d/critical --group model.name features.risk_flags --metrics $metrics --out $d/critical_table --plot \
    --title "KCS synthetic, label Critical Fraud = 2 (73 positives in test; Fraud ignored)"
fi
