#!/usr/bin/env bash
# `make test-slurm`: run the workflow through SLURM on a private single-node cluster and prove the jobs
# went through SLURM. Needs root (apt-get install, slurmd) and the project venv (`make install`).
#
#   1. tests/cluster/slurm-up.sh (the cluster is stopped again on exit by slurm-down.sh)
#   2. a small simulated demo in a temporary work directory (`tacit simulate --preset small`, config derived
#      from config/config.yaml as tests/test_workflow.py does)
#   3. snakemake --profile workflow/profiles/slurm under `timeout -k 10 $SLURM_DEMO_TIMEOUT`
#   4. checks: "submitted with SLURM jobid" lines in the log, each id's log under .snakemake/slurm_logs/
#      and a JobState=COMPLETED line in the cluster's jobcomp log
#
# Environment:
#   SLURM_DEMO=toy        a 3-rule throwaway workflow instead of TACIT (checks the cluster part alone)
#   SLURM_DEMO_TIMEOUT    seconds for the whole snakemake run (default 1800)
#   SLURM_DEMO_WORK       work directory (default: a new /tmp/tacit-slurm-demo.XXXXXX, removed on success)
#   SLURM_DEMO_ARGS       extra snakemake arguments (word-split), e.g. "--groups a=g --group-components g=12"
#   KEEP_SLURM_UP=1       do not stop the cluster at the end
#   VENV                  the venv (default .venv)
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
HERE=$ROOT/tests/cluster
VENV=${VENV:-.venv}
[[ $VENV == /* ]] || VENV=$ROOT/$VENV
export PATH=$VENV/bin:$PATH # sbatch runs with --export=ALL: jobs find snakemake and tacit here
export TF_CPP_MIN_LOG_LEVEL=${TF_CPP_MIN_LOG_LEVEL:-2}
LIMIT=${SLURM_DEMO_TIMEOUT:-1800}
DEMO=${SLURM_DEMO:-tacit}
SLURM_LOCAL_DIR=${SLURM_LOCAL_DIR:-/tmp/slurm-local}
JOBCOMP=$SLURM_LOCAL_DIR/log/jobcomp.txt

say() { printf '[run-demo] %s\n' "$*"; }
die() { printf '[run-demo] FAILED: %s\n' "$*" >&2; exit 1; }
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }
T0=$(now)

command -v snakemake >/dev/null || die "no snakemake in $VENV (run make install)"
python - <<'EOF' || die "snakemake-executor-plugin-slurm is not installed in $VENV (it is in pyproject.toml; run make install)"
import snakemake_executor_plugin_slurm  # noqa: F401
EOF

T=$(now)
bash "$HERE/slurm-up.sh"
UP_SECONDS=$(since "$T")
cleanup() {
    local rc=$?
    if [[ -z ${KEEP_SLURM_UP:-} ]]; then bash "$HERE/slurm-down.sh" || rc=1; fi
    if ((rc == 0)) && [[ -z ${SLURM_DEMO_WORK:-} ]]; then rm -rf "$WORK"; elif [[ -n ${WORK:-} ]]; then say "work directory kept: $WORK"; fi
    exit "$rc"
}
WORK=
trap cleanup EXIT
export SLURM_CONF=$SLURM_LOCAL_DIR/etc/slurm.conf
NODE_CPUS=$(sinfo -h -N -o %c | sort -n | tail -n 1)

WORK=${SLURM_DEMO_WORK:-$(mktemp -d /tmp/tacit-slurm-demo.XXXXXX)}
mkdir -p "$WORK"
WORK=$(cd "$WORK" && pwd)
T=$(now)
case $DEMO in
toy)
    SNAKEFILE=$WORK/Snakefile
    cat >"$SNAKEFILE" <<'EOF'
# Throwaway 3-rule workflow: two 1-CPU jobs side by side, then a 2-thread job, then a merge.
rule all:
    input: "merged.txt"

rule simulate:
    output: "sim/{i}.txt"
    threads: 1
    resources: mem_mb=200, runtime=5
    shell: "echo SLURM_JOB_ID=$SLURM_JOB_ID start=$(date +%s.%N) > {output}; sleep 2; echo end=$(date +%s.%N) >> {output}"

rule train:
    input: expand("sim/{i}.txt", i=[1, 2])
    output: "train.txt"
    threads: 2
    resources: mem_mb=500, runtime=5
    shell: "echo SLURM_JOB_ID=$SLURM_JOB_ID cpus=$SLURM_CPUS_PER_TASK threads={threads} > {output}; cat {input} >> {output}"

rule merge:
    input: "train.txt"
    output: "merged.txt"
    threads: 1
    resources: mem_mb=200, runtime=5
    shell: "echo SLURM_JOB_ID=$SLURM_JOB_ID > {output}; cat {input} >> {output}"
EOF
    echo "demo: toy" >"$WORK/config.yaml"
    TARGET_OUTPUTS=(merged.txt)
    ;;
tacit)
    SNAKEFILE=$ROOT/Snakefile
    tacit simulate --preset small --out-dir "$WORK/demo" >"$WORK/simulate.log" 2>&1 \
        || { tail -n 20 "$WORK/simulate.log" >&2; die "tacit simulate --preset small failed"; }
    # The same reduced config as tests/test_workflow.py's small_demo fixture.
    python - "$ROOT" "$WORK" <<'EOF' || die "could not write $WORK/config.yaml"
import gzip, sys
from pathlib import Path
import yaml

root, work = Path(sys.argv[1]), Path(sys.argv[2])
demo = work / "demo"

def reference_of(maf):
    with gzip.open(maf, "rt") as handle:
        for line in handle:
            if line.startswith("s "):
                return line.split()[1].split(".")[0]
    raise SystemExit(f"no 's' line in {maf}")

config = yaml.safe_load((root / "config" / "config.yaml").read_text())
config.update(reference=reference_of(demo / "alignment.maf.gz"), tree=str(demo / "tree.nwk"),
              genomes=str(demo / "genomes" / "{species}.fa.gz"), phenotypes=str(demo / "phenotypes.csv"),
              truth=str(demo / "truth.tsv"), results="results")
config["alignment"]["maf"] = str(demo / "alignment.maf.gz")
tissue = next(iter(config["tissues"].values()))
tissue.update(peaks=str(demo / "peaks.narrowPeak"), negatives=[str(demo / "negatives.bed")],
              model_spec=str(root / tissue["model_spec"]))
tissue["species_peaks"] = {path.name.removesuffix(".narrowPeak"): str(path)
                           for path in sorted((demo / "species_peaks").glob("*.narrowPeak"))}
config["tissues"] = {"small_tissue": tissue}
config["association"].update(permulations=50, max_permulations=500)
(work / "config.yaml").write_text(yaml.safe_dump(config))
EOF
    TARGET_OUTPUTS=(results/small_tissue/predictions.tsv.gz results/small_tissue/model/metrics.tsv)
    ;;
*) die "SLURM_DEMO must be 'tacit' or 'toy', not '$DEMO'" ;;
esac
say "demo '$DEMO' prepared in $WORK in $(since "$T") s"

LOG=$WORK/snakemake.log
CMD=(snakemake -s "$SNAKEFILE" --directory "$WORK" --configfile "$WORK/config.yaml"
    --profile "$ROOT/workflow/profiles/slurm" --max-threads "$NODE_CPUS")
# shellcheck disable=SC2206
[[ -n ${SLURM_DEMO_ARGS:-} ]] && CMD+=($SLURM_DEMO_ARGS)
say "running (limit $LIMIT s): timeout -k 10 $LIMIT ${CMD[*]}"
T=$(now)
set +e
(cd "$ROOT" && timeout -k 10 "$LIMIT" "${CMD[@]}") >"$LOG" 2>&1
rc=$?
set -e
RUN_SECONDS=$(since "$T")
if ((rc != 0)); then
    tail -n 40 "$LOG" >&2
    if ((rc == 124 || rc == 137)); then
        # A job asking for more CPUs than the node has pends forever (Reason=PartitionConfig).
        echo "--- squeue --states=all" >&2
        squeue --states=all -o '%.6i %.10T %.4C %.8m %R' >&2 || true
        die "snakemake timed out after $LIMIT s (jobs pending? see squeue above; log $LOG)"
    fi
    die "snakemake exited $rc after $RUN_SECONDS s (log $LOG)"
fi
say "snakemake finished in $RUN_SECONDS s"

# --- evidence that the jobs went through SLURM ---------------------------------------------------------
mapfile -t IDS < <(sed -n 's/.*has been submitted with SLURM jobid \([0-9][0-9]*\).*/\1/p' "$LOG")
((${#IDS[@]} > 0)) || die "no 'submitted with SLURM jobid' line in $LOG: nothing went through SLURM"
problems=()
for id in "${IDS[@]}"; do
    [[ -n $(find "$WORK/.snakemake/slurm_logs" -type f -name "$id.log" 2>/dev/null) ]] \
        || problems+=("job $id: no .snakemake/slurm_logs/**/$id.log")
    grep -q "^JobId=$id .*JobState=COMPLETED" "$JOBCOMP" 2>/dev/null \
        || problems+=("job $id: no JobState=COMPLETED line in $JOBCOMP")
done
for out in "${TARGET_OUTPUTS[@]}"; do
    [[ -s $WORK/$out ]] || problems+=("missing output $out")
done
if ((${#problems[@]})); then
    printf '  %s\n' "${problems[@]}" >&2
    die "${#problems[@]} check(s) failed"
fi
say "${#IDS[@]} SLURM jobs, all COMPLETED in $JOBCOMP with a log under .snakemake/slurm_logs/; per rule or group:"
find "$WORK/.snakemake/slurm_logs" -type f -name '*.log' | sed 's|.*/slurm_logs/\([^/]*\)/.*|\1|' | sort | uniq -c \
    | sed 's/^ */    /'
say "timings: cluster up $UP_SECONDS s, snakemake $RUN_SECONDS s, total $(since "$T0") s (cluster down follows)"
