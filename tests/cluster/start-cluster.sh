#!/usr/bin/env bash
# start-cluster.sh -- start a REAL one-node Slurm cluster (munged + slurmctld + slurmd) on this
# machine, without systemd, for the `slurm`-marked tests (tests/cluster/) and .ci/slurm-smoke.sh.
# It mimics a typical GPU site: partitions `cpu` (default) and `gpu` (both on this one node) and
# N fake GPUs of model `fake` (gres backed by /dev/null, so `--gpus=1` jobs are *scheduled* on a
# CPU-only machine; torch then falls back to CPU). The user profile profiles/slurm/ therefore
# runs here unchanged.
#
# Idempotent: re-running while the cluster is up only re-checks that the node is idle (a changed
# config restarts slurmctld/slurmd). Needs root. Debian 12: Slurm 22.05 + munge 0.5.
#
# Usage:  sudo tests/cluster/start-cluster.sh ; sinfo ; ... ; sudo tests/cluster/stop-cluster.sh
# Env knobs:
#   SLURM_LOCAL_DIR   state dir (config, logs, spool, pid files)   [${TMPDIR:-/tmp}/rethinkgen-slurm]
#   SLURM_FAKE_GPUS   number of fake GPUs to advertise                                      [1]
#   SLURM_GPU_TYPE    their model name (`gpu_model:` in the profile must match)         [fake]
#   SLURM_CGROUP      auto | 1 | 0: enforce cpuset+memory with cgroup v1 if mounted       [auto]
#   SLURM_NO_INSTALL  1: never apt-get install                                              [0]
#   SLURM_WAIT_S      seconds to wait for the node to become idle                          [60]
#
# Traps handled here (each one measured on this kind of machine):
#  * The slurm executor's job step strips every SLURM_* variable (SLURM_CONF too) before the
#    inner `srun`, which then only reads /etc/slurm/slurm.conf -> we symlink it there (and refuse
#    to replace a real file).
#  * A request larger than the node would pend forever -> EnforcePartLimits=ALL rejects it.
#  * A count-only gres.conf line makes the node INVAL -> File=/dev/null.
#  * RealMemory above what slurmd detects DRAINs the node -> detected - 512 MB.
#  * No slurmdbd here: `sacct` cannot answer, so Snakemake must use `--slurm-status-command
#    squeue` (tests/cluster/ci-profile does that); MinJobAge=300 keeps finished jobs visible
#    to squeue for 5 min, which the plugin requires (>= 3 x init-seconds).
set -euo pipefail

STATE=${SLURM_LOCAL_DIR:-${TMPDIR:-/tmp}/rethinkgen-slurm}
WAIT_S=${SLURM_WAIT_S:-60}
FAKE_GPUS=${SLURM_FAKE_GPUS:-1}
GPU_TYPE=${SLURM_GPU_TYPE:-fake}
CGROUP=${SLURM_CGROUP:-auto}
CONF_DIR=$STATE/etc
CONF=$CONF_DIR/slurm.conf
PIDS=$STATE/pids          # a pid file here <=> this script started that daemon
LOGS=$STATE/log
export SLURM_CONF=$CONF

log() { echo "[start-cluster $(date +%T)] $*" >&2; }
alive() { [[ -s $1 ]] && kill -0 "$(cat "$1")" 2>/dev/null; }
wait_for() { local n=$1; shift; for _ in $(seq "$n"); do "$@" >/dev/null 2>&1 && return 0; sleep 0.1; done; return 1; }

[[ $(id -u) == 0 ]] || { log "must run as root"; exit 1; }

# ---------------------------------------------------------------- 0. packages (Debian)
pkgs=()
command -v slurmctld >/dev/null || pkgs+=(slurmctld)
command -v slurmd    >/dev/null || pkgs+=(slurmd)
command -v sbatch    >/dev/null || pkgs+=(slurm-client)
command -v munged    >/dev/null || pkgs+=(munge)
if (( ${#pkgs[@]} )); then
  [[ ${SLURM_NO_INSTALL:-0} == 1 ]] && { log "missing packages: ${pkgs[*]}"; exit 1; }
  log "apt-get install ${pkgs[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${pkgs[@]}" >/dev/null
fi
mkdir -p "$CONF_DIR" "$PIDS" "$LOGS" "$STATE/spool/ctld" "$STATE/spool/d"
chmod 0755 "$STATE"

# ---------------------------------------------------------------- 1. munge
munge_ok() { munge -n 2>/dev/null | unmunge >/dev/null 2>&1; }
if munge_ok; then
  log "munge answers already"
else
  if [[ ! -s /etc/munge/munge.key ]]; then
    log "creating /etc/munge/munge.key"
    mungekey --create --keyfile=/etc/munge/munge.key 2>/dev/null || create-munge-key -f
  fi
  chown munge:munge /etc/munge/munge.key; chmod 0400 /etc/munge/munge.key
  install -d -o munge -g munge -m 0755 /run/munge          # normally made by systemd-tmpfiles
  install -d -o munge -g munge -m 0700 /var/log/munge /var/lib/munge
  rm -f /run/munge/munged.pid
  log "starting munged"
  runuser -u munge -- /usr/sbin/munged --force            # forks; pid -> /run/munge/munged.pid
  wait_for 50 munge_ok || { log "munged did not come up; see /var/log/munge/munged.log"; exit 1; }
  cp /run/munge/munged.pid "$PIDS/munged.pid"
fi

# ---------------------------------------------------------------- 2. slurm.conf, gres.conf, cgroup.conf
HOST=$(hostname -s)
HW=$(slurmd -C 2>/dev/null | head -1)
hw() { sed -n "s/.*[ ]$1=\([0-9]*\).*/\1/p" <<<"$HW"; }
NCPU=$(hw CPUs); NCPU=${NCPU:-$(nproc)}
SOCK=$(hw SocketsPerBoard); CORES=$(hw CoresPerSocket); THR=$(hw ThreadsPerCore)
MEM=$(hw RealMemory); MEM=$(( ${MEM:-2048} - 512 ))
TOPO=""
[[ -n $SOCK && -n $CORES && -n $THR ]] && TOPO="Sockets=$SOCK CoresPerSocket=$CORES ThreadsPerCore=$THR"

GRES_TYPES=""; GRES_NODE=""
if (( FAKE_GPUS > 0 )); then
  GRES_TYPES="GresTypes=gpu"; GRES_NODE="Gres=gpu:$GPU_TYPE:$FAKE_GPUS"
  echo "NodeName=$HOST Name=gpu Type=$GPU_TYPE Count=$FAKE_GPUS File=/dev/null" > "$CONF_DIR/gres.conf"
else
  rm -f "$CONF_DIR/gres.conf"
fi

if [[ $CGROUP == auto ]]; then
  CGROUP=0
  mountpoint -q /sys/fs/cgroup/memory 2>/dev/null && mountpoint -q /sys/fs/cgroup/cpuset 2>/dev/null && CGROUP=1
fi
if [[ $CGROUP == 1 ]]; then
  CG_LINES=$'ProctrackType=proctrack/cgroup\nTaskPlugin=task/cgroup,task/affinity'
  printf '%s\n' CgroupPlugin=cgroup/v1 CgroupMountpoint=/sys/fs/cgroup ConstrainCores=yes \
    ConstrainRAMSpace=yes ConstrainSwapSpace=no > "$CONF_DIR/cgroup.conf"
else
  CG_LINES=$'ProctrackType=proctrack/linuxproc\nTaskPlugin=task/none'
  rm -f "$CONF_DIR/cgroup.conf"
fi

NEWCONF=$(mktemp)
cat > "$NEWCONF" <<CONF
# generated by tests/cluster/start-cluster.sh -- one-node test cluster (rethinkgen)
ClusterName=rethinkgen-ci
SlurmctldHost=$HOST(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
MpiDefault=none
$CG_LINES
ReturnToService=2
SlurmctldPidFile=$STATE/spool/slurmctld.pid
SlurmdPidFile=$STATE/spool/slurmd.pid
StateSaveLocation=$STATE/spool/ctld
SlurmdSpoolDir=$STATE/spool/d
SlurmctldLogFile=$LOGS/slurmctld.log
SlurmdLogFile=$LOGS/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
SchedulerType=sched/backfill
SchedulerParameters=sched_interval=2
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
DefMemPerCPU=1000
MinJobAge=300
EnforcePartLimits=ALL
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/filetxt
JobCompLoc=$LOGS/jobcomp.txt
MessageTimeout=10
KillWait=5
InactiveLimit=0
$GRES_TYPES
NodeName=$HOST NodeAddr=127.0.0.1 CPUs=$NCPU $TOPO RealMemory=$MEM $GRES_NODE State=UNKNOWN
PartitionName=cpu Nodes=$HOST Default=YES MaxTime=INFINITE State=UP OverSubscribe=NO
PartitionName=gpu Nodes=$HOST Default=NO MaxTime=INFINITE State=UP OverSubscribe=NO
CONF
CONF_CHANGED=0
if ! cmp -s "$NEWCONF" "$CONF"; then mv "$NEWCONF" "$CONF"; CONF_CHANGED=1; log "wrote $CONF"; else rm -f "$NEWCONF"; fi
chmod 0644 "$CONF"

mkdir -p /etc/slurm
if [[ -e /etc/slurm/slurm.conf && ! -L /etc/slurm/slurm.conf ]]; then
  log "/etc/slurm/slurm.conf exists and is not a symlink -- refusing to replace it (a real site?)"
  exit 1
fi
if [[ $(readlink /etc/slurm/slurm.conf 2>/dev/null) != "$CONF" ]]; then
  ln -sfn "$CONF" /etc/slurm/slurm.conf; log "linked /etc/slurm/slurm.conf -> $CONF"
fi

# ---------------------------------------------------------------- 3. slurmctld + slurmd
stop_pidfile() { local p; alive "$1" || return 0; p=$(cat "$1"); kill -TERM "$p"
                 for _ in $(seq 100); do kill -0 "$p" 2>/dev/null || return 0; sleep 0.1; done; }
if [[ $CONF_CHANGED == 1 ]] && { alive "$STATE/spool/slurmctld.pid" || alive "$STATE/spool/slurmd.pid"; }; then
  log "config changed -> restarting slurmd + slurmctld"
  stop_pidfile "$STATE/spool/slurmd.pid"; stop_pidfile "$STATE/spool/slurmctld.pid"
fi
if alive "$STATE/spool/slurmctld.pid"; then
  log "slurmctld already running (pid $(cat "$STATE/spool/slurmctld.pid"))"
else
  log "starting slurmctld"
  /usr/sbin/slurmctld -f "$CONF"
  wait_for 100 scontrol ping || true
  alive "$STATE/spool/slurmctld.pid" || { log "slurmctld failed:"; tail -20 "$LOGS/slurmctld.log" >&2; exit 1; }
  cp "$STATE/spool/slurmctld.pid" "$PIDS/slurmctld.pid"
fi
if alive "$STATE/spool/slurmd.pid"; then
  log "slurmd already running (pid $(cat "$STATE/spool/slurmd.pid"))"
else
  log "starting slurmd"
  /usr/sbin/slurmd -f "$CONF" -N "$HOST"
  wait_for 100 alive "$STATE/spool/slurmd.pid" || { log "slurmd failed:"; tail -20 "$LOGS/slurmd.log" >&2; exit 1; }
  cp "$STATE/spool/slurmd.pid" "$PIDS/slurmd.pid"
fi

# ---------------------------------------------------------------- 4. wait for idle
node_state() { sinfo -h -N -n "$HOST" -o '%t' 2>/dev/null | head -1 || true; }
for ((i = 0; i < WAIT_S * 4; i++)); do
  st=$(node_state)
  case $st in
    idle|mix|alloc) break ;;
    inval*) log "node INVALID: $(sinfo -h -N -n "$HOST" -o '%E')"; exit 1 ;;
    drain*|down*|drng*) scontrol update NodeName="$HOST" State=RESUME >/dev/null 2>&1 || true ;;
  esac
  sleep 0.25
done
st=$(node_state)
if [[ $st != idle && $st != mix && $st != alloc ]]; then
  log "node not idle after ${WAIT_S}s (state '$st')"; scontrol show node "$HOST" >&2 || true; exit 1
fi
sinfo >&2
log "cluster up: state $STATE, cgroup=$CGROUP, fake GPUs=$FAKE_GPUS x $GPU_TYPE"
