#!/usr/bin/env bash
# stop-cluster.sh [--purge] -- stop only the daemons that start-cluster.sh started (pid files in
# $SLURM_LOCAL_DIR/pids; slurmctld/slurmd only if they run with OUR config). Never pkill/killall.
# A munged that was already running before start-cluster.sh is left alone.
# --purge also deletes $SLURM_LOCAL_DIR and the /etc/slurm/slurm.conf symlink pointing into it.
set -uo pipefail
STATE=${SLURM_LOCAL_DIR:-${TMPDIR:-/tmp}/rethinkgen-slurm}
PIDS=$STATE/pids
log() { echo "[stop-cluster $(date +%T)] $*" >&2; }

is_ours() {  # pid name
  local cmd
  cmd=$(tr '\0' ' ' < /proc/"$1"/cmdline 2>/dev/null) || return 1
  [[ $cmd == *"/$2 "* || $cmd == *"/$2" || $cmd == "$2 "* ]] || return 1
  case $2 in slurmctld|slurmd) [[ $cmd == *"$STATE/"* ]] ;; *) return 0 ;; esac
}

stop_one() {  # name
  local name=$1 pid="" f p
  local files=("$PIDS/$name.pid")
  case $name in slurmctld|slurmd) files+=("$STATE/spool/$name.pid") ;; esac
  for f in "${files[@]}"; do
    [[ -s $f ]] || continue
    p=$(cat "$f")
    if kill -0 "$p" 2>/dev/null && is_ours "$p" "$name"; then pid=$p; break; fi
  done
  rm -f "$PIDS/$name.pid"
  [[ -n $pid ]] || { log "$name: nothing of ours running"; return 0; }
  log "$name: SIGTERM $pid"; kill -TERM "$pid"
  for _ in $(seq 150); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.1; done
  log "$name: still alive after 15 s, SIGKILL $pid"; kill -KILL "$pid"
}

for d in slurmd slurmctld munged; do stop_one "$d"; done

if [[ ${1:-} == --purge ]]; then
  if [[ -L /etc/slurm/slurm.conf && $(readlink /etc/slurm/slurm.conf) == "$STATE"/* ]]; then
    rm -f /etc/slurm/slurm.conf; log "removed /etc/slurm/slurm.conf symlink"
  fi
  log "purging $STATE"; rm -rf "$STATE"
fi
exit 0
