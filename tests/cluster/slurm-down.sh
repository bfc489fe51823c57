#!/usr/bin/env bash
# Stop the private SLURM cluster started by tests/cluster/slurm-up.sh: cancels its jobs, stops only the
# daemons whose PIDs it recorded in $SLURM_LOCAL_DIR/pids, and restores /etc/slurm/slurm.conf.
# Idempotent: does nothing when nothing is up. Logs (log/jobcomp.txt, ...) are kept until the next start.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=slurm-lib.sh
source "$HERE/slurm-lib.sh"
T0=$(now)
PATH=$PATH:/usr/sbin:/sbin

stopped=()
ctld=$(recorded slurmctld)
if [[ -n $ctld ]] && alive "$ctld" slurmctld && command -v scancel >/dev/null; then
    # Jobs still queued or running would be orphaned by stopping slurmd.
    jobs=$(SLURM_CONF=$CONF timeout 10 squeue -h -o %i 2>/dev/null || true)
    if [[ -n $jobs ]]; then
        log "cancelling jobs: $(echo $jobs)"
        # shellcheck disable=SC2086
        SLURM_CONF=$CONF timeout 10 scancel $jobs 2>/dev/null || true
        sleep 1
    fi
fi
status=0
for d in slurmd slurmctld munged; do
    pid=$(recorded "$d")
    if [[ -n $pid ]] && alive "$pid" "$d"; then
        stop_daemon "$d" && stopped+=("$d($pid)") || status=1
    fi
done
((status == 0)) && rm -f "$PIDS"
restore_etc_conf
if ((${#stopped[@]})); then
    log "stopped ${stopped[*]} in $(since "$T0") s"
else
    log "nothing to stop; $(since "$T0") s"
fi
exit "$status"
