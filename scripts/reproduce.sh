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
# every re-run run against the committed run at the same path
$bench --compare experiments "$scratch/experiments" || status=1
# every table the scratch folder now has against the committed one
while IFS= read -r f; do
  rel=${f#"$scratch"/}
  if cmp -s "$f" "$rel"; then echo "same table: $rel"; else echo "DIFFERENT table: $rel"; diff "$rel" "$f" | head -20 || true; status=1; fi
done < <(find "$scratch/experiments" -mindepth 2 -maxdepth 2 \( -name '*.md' -o -name '*.csv' -o -name '*.png' \) | sort)
echo "scratch folder: $scratch"
exit $status
