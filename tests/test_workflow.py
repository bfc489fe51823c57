"""The Snakemake workflow end to end on a reduced simulated demo, in a temporary directory."""

from __future__ import annotations

import gzip
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

from conftest import ROOT

pytestmark = pytest.mark.slow
SNAKEMAKE = shutil.which("snakemake", path=str(Path(sys.executable).parent)) or "snakemake"


def reference_of(maf: Path) -> str:
    """The reference species is the first ``s`` row of the MAF."""
    with gzip.open(maf, "rt") as handle:
        for line in handle:
            if line.startswith("s "):
                return line.split()[1].split(".")[0]
    raise AssertionError("no s line")


@pytest.fixture(scope="module")
def small_demo(tmp_path_factory) -> Path:
    work = tmp_path_factory.mktemp("workflow")
    demo = work / "demo"
    subprocess.run([sys.executable, "-m", "tacit.cli", "simulate", "--preset", "small", "--out-dir", str(demo)], check=True)
    config = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
    config.update(
        reference=reference_of(demo / "alignment.maf.gz"),
        tree=str(demo / "tree.nwk"),
        genomes=str(demo / "genomes" / "{species}.fa.gz"),
        phenotypes=str(demo / "phenotypes.csv"),
        truth=str(demo / "truth.tsv"),
        results="results",
    )
    config["alignment"]["maf"] = str(demo / "alignment.maf.gz")
    tissue = next(iter(config["tissues"].values()))
    tissue.update(peaks=str(demo / "peaks.narrowPeak"), negatives=[str(demo / "negatives.bed")],
                  model_spec=str(ROOT / tissue["model_spec"]))
    config["tissues"] = {"small_tissue": tissue}
    config["association"].update(permulations=50, max_permulations=500)
    (work / "config.yaml").write_text(yaml.safe_dump(config))
    return work


def snakemake(work: Path, *args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    cmd = [SNAKEMAKE, "-s", str(ROOT / "Snakefile"), "--directory", str(work), "--configfile",
           str(work / "config.yaml"), "--cores", "2", *args]
    return subprocess.run(cmd, capture_output=True, text=True, env=env)


def test_lint(small_demo):
    run = snakemake(small_demo, "--lint")
    assert run.returncode == 0, run.stdout + run.stderr


def test_dry_run_then_real_run(small_demo):
    dry = snakemake(small_demo, "-n")
    assert dry.returncode == 0, dry.stderr
    for rule in ("map_orthologs", "train_model", "score_orthologs", "prediction_matrix", "associate"):
        assert rule in dry.stdout + dry.stderr
    run = snakemake(small_demo)
    assert run.returncode == 0, run.stderr[-5000:]
    results = small_demo / "results" / "small_tissue"
    predictions = pd.read_csv(results / "predictions.tsv.gz", sep="\t")
    assert predictions.columns[0] == "ocr" and predictions.shape[1] > 5
    values = predictions.iloc[:, 1:]
    assert values.notna().mean().mean() > 0.5
    assert ((values.stack() >= 0) & (values.stack() <= 1)).all()
    assoc = pd.read_csv(results / "brain_size" / "associations.tsv", sep="\t")
    assert (assoc["status"] == "ok").sum() > 0.5 * len(assoc)
    metrics = pd.read_csv(results / "model" / "metrics.tsv", sep="\t")
    assert {"split", "auroc", "auprc"} <= set(metrics.columns)
    assert (small_demo / "logs").exists()
    again = snakemake(small_demo, "-n")
    assert "Nothing to be done" in again.stdout + again.stderr
