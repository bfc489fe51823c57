# Quick start: `make demo` (install + run the workflow on the embedded demo), `make test` (install + tests).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
CORES ?= 2
export PATH := $(CURDIR)/$(BIN):$(PATH)
# Quiet TensorFlow's start-up chatter in logs; it still reports errors.
export TF_CPP_MIN_LOG_LEVEL ?= 2

.PHONY: install demo report publish test lint test-slurm clean-demo

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[test]"
	touch $@

# A killed run (even kill -9 of the whole process group) leaves Snakemake's lock behind. `flock -o` on
# .tacit-run.lock is held while a run through this Makefile is alive and released by the kernel when it dies,
# so when we can take it no other run is alive and the stale lock is safe to remove; --rerun-incomplete then
# redoes the jobs that were cut off. A second `make demo` while one is running stops with a message.
CONFIG ?= config/config.yaml
SNAKEFLAGS ?=
SNAKEMAKE = $(BIN)/snakemake --workflow-profile workflow/profiles/default --cores $(CORES) --configfile $(CONFIG) $(SNAKEFLAGS)

demo: install
	@flock -n -o -E 75 .tacit-run.lock sh -c '$(SNAKEMAKE) --unlock >/dev/null 2>&1; exec $(SNAKEMAKE) --rerun-incomplete' \
	  || { status=$$?; [ $$status -ne 75 ] || echo "make demo: another run holds .tacit-run.lock" >&2; exit $$status; }

report: install
	$(SNAKEMAKE) --report results/report.html

publish: install
	$(SNAKEMAKE) publish

test: install
	$(BIN)/python -m pytest -q -ra

lint: install
	$(BIN)/snakemake --workflow-profile workflow/profiles/default --lint

# Run the workflow through SLURM on a private single-node cluster (root; installs slurm/munge via apt).
test-slurm: install
	VENV=$(VENV) bash tests/cluster/run-demo.sh

clean-demo:
	rm -rf results logs .snakemake
