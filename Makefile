# Quick start: `make demo` (install + run the workflow on the embedded demo), `make test` (install + tests).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
CORES ?= 2
export PATH := $(CURDIR)/$(BIN):$(PATH)
# Quiet TensorFlow's start-up chatter in logs; it still reports errors.
export TF_CPP_MIN_LOG_LEVEL ?= 2

.PHONY: install demo report publish test lint clean-demo

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[test]"
	touch $@

demo: install
	$(BIN)/snakemake --cores $(CORES) --configfile config/config.yaml

report: install
	$(BIN)/snakemake --cores $(CORES) --configfile config/config.yaml --report results/report.html

publish: install
	$(BIN)/snakemake --cores $(CORES) --configfile config/config.yaml publish

test: install
	$(BIN)/python -m pytest -q -ra

lint: install
	$(BIN)/snakemake --lint

clean-demo:
	rm -rf results logs .snakemake
