#!/usr/bin/env bash
# Slurm smoke test (CI): a real one-node Slurm cluster (Debian's slurm-wlm + munge, fake GPU),
# the smallest slice of the offline default through `snakemake --profile slurm`, a training job
# killed mid-run and one requeued, both resuming from their checkpoint; then the cluster stops.
# Needs root (apt, daemons, /etc/slurm/slurm.conf symlink). About 3-4 minutes.
#
#   bash .ci/slurm-smoke.sh            # from anywhere; uses ./.venv (made by .ci/run)
#
# A cluster that is already up (`sinfo` answers) is used and left running.
set -euo pipefail
cd "$(dirname "$0")/.."
export DEBIAN_FRONTEND=noninteractive PIP_DISABLE_PIP_VERSION_CHECK=1
PY=${PYTHON:-.venv/bin/python}
t0=$(date +%s)

[[ $(id -u) == 0 ]] || { echo "slurm-smoke: needs root (apt-get, Slurm daemons)" >&2; exit 1; }
[[ -x $PY ]] || { python3 -m venv .venv && .venv/bin/pip install -q -e '.[test]'; }

# The executor plugin: the `cluster` extra of pyproject.toml (the pin below is its fallback
# while the extra is missing; keep the two in step).
if ! "$PY" -c 'import snakemake_executor_plugin_slurm' 2>/dev/null; then
  "$PY" -m pip install -q -e .
  "$PY" -c 'import snakemake_executor_plugin_slurm' 2>/dev/null \
    || "$PY" -m pip install -q 'snakemake-executor-plugin-slurm==2.8.0'
fi
# The offline default's data (Debian's dataset-fashion-mnist), as in .ci/run.
if [[ ! -f /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ]]; then
  apt-get update -q && apt-get install -y -q dataset-fashion-mnist
fi

started=0
if ! sinfo -h >/dev/null 2>&1; then
  # apt-installs slurmctld/slurmd/slurm-client/munge if missing, starts munged + slurmctld +
  # slurmd with partitions cpu/gpu and one fake GPU, waits until the node is idle.
  tests/cluster/start-cluster.sh
  started=1
  trap 'tests/cluster/stop-cluster.sh --purge' EXIT
fi
t1=$(date +%s)

RETHINKGEN_SLURM_TESTS=1 timeout 900 "$PY" -m pytest -m slurm tests/cluster -p no:cacheprovider -v
t2=$(date +%s)
echo "slurm-smoke: cluster ready in $((t1 - t0)) s (started here: $started), tests $((t2 - t1)) s"
