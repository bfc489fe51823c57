#!/usr/bin/env bash
# Start a private single-node SLURM cluster on this machine (Debian 12, root, no systemd) for
# `make test-slurm`. Idempotent: when the cluster recorded in $SLURM_LOCAL_DIR/pids is up with the same
# config, it only says so. Stop it with tests/cluster/slurm-down.sh.
#
# Environment:
#   SLURM_LOCAL_DIR   private directory (default /tmp/slurm-local): etc/, munge/, state/, spool/, log/, run/
#   SLURM_NODE_CPUS   declare this many CPUs instead of `slurmd -C`'s (oversubscribes the node; lets rules
#                     with more threads than cores run)
#   SLURM_CTLD_PORT, SLURMD_PORT   ports on 127.0.0.1 (default 6817, 6818)
#   SLURM_UP_TIMEOUT  seconds to wait for the node to become idle (default 60)
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=slurm-lib.sh
source "$HERE/slurm-lib.sh"
SLURM_UP_TIMEOUT=${SLURM_UP_TIMEOUT:-60}
T0=$(now)

[[ $(id -u) == 0 ]] || die "must run as root (installs packages, runs slurmd; jobs run as root)"
getent hosts "$NODE" >/dev/null || log "WARNING: host name '$NODE' does not resolve; add it to /etc/hosts"

# --- 1. packages (only when missing) ---------------------------------------------------------------
PACKAGES=(slurm-client slurmctld slurmd munge)
missing=()
for pkg in "${PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q '^install ok installed$' || missing+=("$pkg")
done
if ((${#missing[@]})); then
    T=$(now)
    log "installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    # No daemons from postinst scripts (this image has policy-rc.d 'exit 101'; make sure of it).
    made_policy=
    APT_LOG=$(mktemp /tmp/slurm-up-apt.XXXXXX)
    if [[ ! -e /usr/sbin/policy-rc.d ]]; then
        printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d && chmod 0755 /usr/sbin/policy-rc.d
        made_policy=1
    fi
    apt_install() { apt-get install -y -q --no-install-recommends "${missing[@]}" >"$APT_LOG" 2>&1; }
    candidate=$(apt-cache policy slurmd 2>/dev/null | awk '/Candidate:/ { print $2 }')
    if [[ -z $candidate || $candidate == "(none)" ]]; then
        apt-get update -q >/dev/null 2>&1 || { [[ -n $made_policy ]] && rm -f /usr/sbin/policy-rc.d; die "apt-get update failed"; }
    fi
    if ! apt_install; then
        log "install failed; running apt-get update and retrying"
        apt-get update -q >/dev/null 2>&1 || true
        apt_install || { [[ -n $made_policy ]] && rm -f /usr/sbin/policy-rc.d; tail -n 20 "$APT_LOG" >&2; die "apt-get install ${missing[*]} failed"; }
    fi
    rm -f "$APT_LOG"
    [[ -n $made_policy ]] && rm -f /usr/sbin/policy-rc.d
    log "installed in $(since "$T") s ($(slurmctld -V))"
fi
for cmd in munged munge slurmctld slurmd sinfo sbatch squeue scontrol; do
    command -v "$cmd" >/dev/null || PATH=$PATH:/usr/sbin:/sbin
    command -v "$cmd" >/dev/null || die "$cmd not found after installing ${PACKAGES[*]}"
done

# --- 2. config ---------------------------------------------------------------------------------------
node_hw=$(slurmd -C | head -n 1) || die "slurmd -C failed"
field() { sed -n "s/.*[[:space:]]$1=\([^[:space:]]*\).*/\1/p" <<<"$node_hw"; }
real_mem=$(field RealMemory)
[[ $real_mem =~ ^[0-9]+$ ]] || die "no RealMemory in 'slurmd -C': $node_hw"
real_mem=$((real_mem - 256))
if [[ -n ${SLURM_NODE_CPUS:-} ]]; then
    [[ $SLURM_NODE_CPUS =~ ^[1-9][0-9]*$ ]] || die "SLURM_NODE_CPUS must be a positive integer"
    node_cpus="CPUs=$SLURM_NODE_CPUS"
    overrides="SlurmdParameters=config_overrides"
else
    node_cpus="CPUs=$(field CPUs) Boards=$(field Boards) SocketsPerBoard=$(field SocketsPerBoard)"
    node_cpus+=" CoresPerSocket=$(field CoresPerSocket) ThreadsPerCore=$(field ThreadsPerCore)"
    overrides=
fi

new_conf=$(cat <<EOF
# Private single-node cluster written by tests/cluster/slurm-up.sh; do not edit (rewritten on every start).
ClusterName=tacit-local
SlurmctldHost=$NODE(127.0.0.1)
SlurmctldPort=$SLURM_CTLD_PORT
SlurmdPort=$SLURMD_PORT
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket=$MUNGE_SOCKET
CredType=cred/munge
StateSaveLocation=$BASE/state
SlurmdSpoolDir=$BASE/spool
SlurmctldPidFile=$BASE/run/slurmctld.pid
SlurmdPidFile=$BASE/run/slurmd.pid
SlurmctldLogFile=$BASE/log/slurmctld.log
SlurmdLogFile=$BASE/log/slurmd.log
# No cgroups (no systemd here).
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
MpiDefault=none
# No slurmdbd: sacct does not work, so the snakemake profile must use squeue for status checks, and
# finished jobs must stay in slurmctld's memory (MinJobAge >= 3 x the plugin's initial status delay).
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
MinJobAge=600
# One line per finished job: the evidence that jobs ran (instead of sacct).
JobCompType=jobcomp/filetxt
JobCompLoc=$BASE/log/jobcomp.txt
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
# Without a memory default a job gets the whole node's memory and jobs cannot run side by side.
DefMemPerCPU=1000
ReturnToService=2
MailProg=/bin/true
InactiveLimit=0
KillWait=10
Waittime=0
$overrides
NodeName=$NODE NodeAddr=127.0.0.1 $node_cpus RealMemory=$real_mem State=UNKNOWN
PartitionName=debug Nodes=$NODE Default=YES MaxTime=INFINITE State=UP
EOF
)

# --- 3. already up with this config? ---------------------------------------------------------------
running=0
for d in munged slurmctld slurmd; do
    pid=$(recorded "$d")
    [[ -n $pid ]] && alive "$pid" "$d" && running=$((running + 1))
done
if ((running == 3)) && [[ -f $CONF && $(cat "$CONF") == "$new_conf" && -L $ETC_CONF ]] \
    && timeout 10 sinfo -h >/dev/null 2>&1; then
    log "already up (node $NODE, $(sinfo -h -N -n "$NODE" -o %T)); $(since "$T0") s"
    exit 0
fi
if ((running > 0)) || [[ -f $PIDS ]]; then
    log "cluster partly up or config changed ($running of 3 daemons alive); restarting it"
    bash "$HERE/slurm-down.sh"
fi

# --- 4. fresh start ------------------------------------------------------------------------------------
for port in "$SLURM_CTLD_PORT" "$SLURMD_PORT"; do
    if [[ -n $(ss -Hltn "sport = :$port" 2>/dev/null) ]]; then
        die "port $port is in use by another process (set SLURM_CTLD_PORT / SLURMD_PORT): $(ss -Hltnp "sport = :$port")"
    fi
done
T=$(now)
rm -rf "$BASE/state" "$BASE/spool" "$BASE/log" "$BASE/run" "$MUNGE_DIR"
mkdir -p "$BASE/etc" "$BASE/state" "$BASE/spool" "$BASE/log" "$BASE/run" "$MUNGE_DIR"
chmod 0755 "$BASE"
chmod 0711 "$MUNGE_DIR" # munged: "Socket is inaccessible" when narrower
printf '%s\n' "$new_conf" >"$CONF"
: >"$PIDS"

# /etc/slurm/slurm.conf -> private config (moved-aside original restored by slurm-down.sh).
mkdir -p /etc/slurm
if [[ -L $ETC_CONF && $(readlink "$ETC_CONF") == "$CONF" ]]; then
    :
elif [[ -e $ETC_CONF || -L $ETC_CONF ]]; then
    [[ -e $ETC_SAVED || -L $ETC_SAVED ]] && die "$ETC_CONF exists and $ETC_SAVED already holds a saved copy; resolve by hand"
    mv "$ETC_CONF" "$ETC_SAVED"
    log "moved the existing $ETC_CONF aside to $ETC_SAVED"
fi
ln -sfn "$CONF" "$ETC_CONF"
export SLURM_CONF=$CONF

fail() {
    log "ERROR: $*"
    for f in "$BASE/log/munged.log" "$BASE/log/slurmctld.log" "$BASE/log/slurmd.log" "$BASE/log/"*.out; do
        [[ -s $f ]] && { echo "--- $f (last lines)" >&2; tail -n 15 "$f" >&2; }
    done
    echo "--- sinfo" >&2
    timeout 5 sinfo -N -o '%N %T %E' >&2 2>&1 || true
    bash "$HERE/slurm-down.sh" || true
    exit 1
}
# start NAME CMD...: run a daemon in the foreground mode in its own session; record its PID.
start() {
    local name=$1
    shift
    setsid "$@" </dev/null >"$BASE/log/$name.out" 2>&1 &
    local pid=$!
    echo "$name $pid" >>"$PIDS"
    sleep 0.2
    alive "$pid" "$name" || fail "$name exited at once"
}
wait_for() { # wait_for SECONDS DESCRIPTION CMD...
    local limit=$1 what=$2 t
    shift 2
    t=$(now)
    until "$@" >/dev/null 2>&1; do
        awk -v a="$t" -v b="$(now)" -v l="$limit" 'BEGIN { exit !(b - a > l) }' && fail "timed out after $limit s waiting for $what"
        sleep 0.2
    done
}

dd if=/dev/urandom of="$MUNGE_DIR/munge.key" bs=1024 count=1 status=none
chmod 0400 "$MUNGE_DIR/munge.key"
start munged munged --foreground --force --key-file="$MUNGE_DIR/munge.key" --socket="$MUNGE_SOCKET" \
    --pid-file="$MUNGE_DIR/munged.pid" --log-file="$BASE/log/munged.log" --seed-file="$MUNGE_DIR/munged.seed"
munge_ok() { munge -S "$MUNGE_SOCKET" -n | unmunge -S "$MUNGE_SOCKET"; }
wait_for 10 "munged" munge_ok
start slurmctld slurmctld -D -f "$CONF"
wait_for 20 "slurmctld" scontrol ping
start slurmd slurmd -D -f "$CONF" -N "$NODE"
log "daemons started in $(since "$T") s (munged $(recorded munged), slurmctld $(recorded slurmctld), slurmd $(recorded slurmd))"

node_idle() { [[ $(sinfo -h -N -n "$NODE" -o %T 2>/dev/null) == idle ]]; }
T=$(now)
wait_for "$SLURM_UP_TIMEOUT" "node $NODE to be idle" node_idle
for d in munged slurmctld slurmd; do alive "$(recorded "$d")" "$d" || fail "$d died"; done
log "node $NODE idle after $(since "$T") s: $(sinfo -h -N -n "$NODE" -o '%c CPUs, %m MB, partition %P')"
log "cluster up in $(since "$T0") s (config $CONF, logs $BASE/log)"
