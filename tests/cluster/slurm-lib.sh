# Shared settings and helpers for slurm-up.sh / slurm-down.sh (sourced, not run).
# A private single-node SLURM cluster: munged, slurmctld and slurmd started by hand (no systemd),
# everything under $SLURM_LOCAL_DIR (default /tmp/slurm-local). See /work/shared/cluster/SLURM-NOTES.md.

SLURM_LOCAL_DIR=${SLURM_LOCAL_DIR:-/tmp/slurm-local}
BASE=$SLURM_LOCAL_DIR
CONF=$BASE/etc/slurm.conf
PIDS=$BASE/pids
MUNGE_DIR=$BASE/munge
MUNGE_SOCKET=$MUNGE_DIR/munge.socket.2
# The path compiled into Debian's slurm: the nested `srun` of the jobstep plugin drops SLURM_CONF,
# so this path must lead to the private config while the cluster is up.
ETC_CONF=/etc/slurm/slurm.conf
ETC_SAVED=/etc/slurm/slurm.conf.before-slurm-local
SLURM_CTLD_PORT=${SLURM_CTLD_PORT:-6817}
SLURMD_PORT=${SLURMD_PORT:-6818}
NODE=$(hostname -s)

log() { printf '[%s] %s\n' "$(basename "$0")" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }

# alive PID NAME: PID runs (not a zombie: PID 1 reaps late here) and its command is NAME.
alive() {
    local pid=$1 name=$2 stat state
    [[ $pid =~ ^[0-9]+$ ]] || return 1
    stat=$(cat "/proc/$pid/stat" 2>/dev/null) || return 1
    state=${stat##*) }
    state=${state%% *}
    [[ $state != Z && $state != X ]] || return 1
    [[ $(cat "/proc/$pid/comm" 2>/dev/null) == "$name" ]]
}

# recorded NAME: the PID recorded for daemon NAME in $PIDS (empty if none).
recorded() {
    [[ -f $PIDS ]] || return 0
    awk -v n="$1" '$1 == n { print $2 }' "$PIDS" | tail -n 1
}

# stop_daemon NAME: TERM the recorded daemon, wait up to 10 s, then KILL. Only ever the recorded PID.
stop_daemon() {
    local name=$1 pid i
    pid=$(recorded "$name")
    [[ -n $pid ]] || return 0
    alive "$pid" "$name" || return 0
    kill -TERM "$pid" 2>/dev/null || return 0
    for ((i = 0; i < 100; i++)); do
        alive "$pid" "$name" || return 0
        sleep 0.1
    done
    log "$name ($pid) ignored SIGTERM for 10 s; sending SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
    for ((i = 0; i < 50; i++)); do
        alive "$pid" "$name" || return 0
        sleep 0.1
    done
    log "WARNING: $name ($pid) is still running"
    return 1
}

# restore_etc_conf: undo the /etc/slurm/slurm.conf symlink (only if it is ours).
restore_etc_conf() {
    if [[ -L $ETC_CONF && $(readlink "$ETC_CONF") == "$CONF" ]]; then
        rm -f "$ETC_CONF"
    fi
    if [[ ( -e $ETC_SAVED || -L $ETC_SAVED ) && ! -e $ETC_CONF && ! -L $ETC_CONF ]]; then
        mv "$ETC_SAVED" "$ETC_CONF"
        log "restored the original $ETC_CONF"
    fi
}
