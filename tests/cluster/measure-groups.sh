#!/usr/bin/env bash
# measure-groups.sh -- time N tiny training runs through `snakemake --profile slurm`, one Slurm
# job per run vs. packed into group jobs (profiles/slurm/packed), on the running test cluster
# (tests/cluster/start-cluster.sh). Prints wall times and the number of Slurm jobs.
#   tests/cluster/measure-groups.sh [N_REPEATS]
set -euo pipefail
REPO=$(cd "$(dirname "$0")/../.." && pwd)
PY=${PYTHON:-$REPO/.venv/bin/python}
REPEATS=${1:-1}
WORK=$(mktemp -d -t rethinkgen-groups.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
tar -C "$REPO" --exclude=.git --exclude=.venv --exclude=.snakemake --exclude=results \
    --exclude=resources --exclude=logs --exclude='*.tsv' -cf - . | tar -C "$WORK" -xf -
cd "$WORK"
CFG=(--configfile tests/cluster/slurm-slice.yaml tests/cluster/groups.yaml)
# data first, locally, so that only training is timed
"$PY" -m snakemake --cores 2 --until corrupt_dataset "${CFG[@]}" >/dev/null 2>&1
measure() {  # label, extra profile args...
  local label=$1; shift
  rm -rf results/slurm-slice+groups/runs .snakemake/slurm_logs  # results/<config names>/
  local t0 t1
  t0=$(date +%s.%N)
  "$PY" -m snakemake --profile slurm "$@" --profile tests/cluster/ci-profile "${CFG[@]}" \
    > "$label.log" 2>&1 || { tail -30 "$label.log"; exit 1; }
  t1=$(date +%s.%N)
  printf '%-10s %6.1f s  %2d Slurm jobs  %d runs\n' "$label" "$(echo "$t1 - $t0" | bc)" \
    "$(grep -c 'submitted with SLURM jobid' "$label.log")" \
    "$(ls results/slurm-slice+groups/runs/*/*/*/*/*/run_info.json | wc -l)"
}
for _ in $(seq "$REPEATS"); do
  measure ungrouped
  measure packed --profile slurm/packed
done
