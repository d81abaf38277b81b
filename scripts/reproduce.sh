#!/usr/bin/env bash
# Re-run a suite's runs from their recorded configs into a scratch folder (fresh cache: nothing reused),
# rebuild the tables there, and compare every metric and every table with the committed ones.
# The committed files are not touched. Exit status 1 when anything differs.
#   bash scripts/reproduce.sh                                  # the DATE table's suite (DATE + 5 baselines)
#   bash scripts/reproduce.sh date_synthetic --group baselines # only the baselines (minutes, not an hour)
#   SCRATCH=/tmp/fresh bash scripts/reproduce.sh date_ablations
# To regenerate the committed results in place instead: bacuda-bench date_synthetic [--force] && bash scripts/make_date_tables.sh
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"
suite=${1:-date_synthetic}
shift || true
scratch=${SCRATCH:-$(mktemp -d -t bacuda-reproduce-XXXXXX)}
export BACUDA_CACHE_DIR=$scratch/cache
bench=${BENCH:-bacuda-bench}
start=$(date +%s)
$bench "$suite" --root "$scratch" "$@"
elapsed=$(( $(date +%s) - start ))
echo "runs: ${elapsed} s (wall clock; $(nproc) cores; load average now: $(cut -d' ' -f1-3 /proc/loadavg))"
ROOT=$scratch bash scripts/make_date_tables.sh >/dev/null
status=0
for dir in experiments/date_synthetic/date experiments/date_synthetic/baselines; do
  if [ -d "$scratch/$dir" ]; then
    $bench --compare "$dir" "$scratch/$dir" || status=1
  fi
done
for f in "$scratch"/experiments/date_synthetic/*.md "$scratch"/experiments/date_synthetic/*.csv; do
  rel=${f#"$scratch"/}
  if cmp -s "$f" "$rel"; then echo "same table: $rel"; else echo "DIFFERENT table: $rel"; diff "$rel" "$f" | head -20 || true; status=1; fi
done
echo "scratch folder: $scratch"
exit $status
