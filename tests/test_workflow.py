"""The Snakemake workflow end to end on a reduced simulated demo, in temporary directories.

One uninterrupted run (through the Makefile, as users run it) serves several checks: outputs, a second dry run
with nothing to do, the report, the publish bundle, the TACIT-format round trip, and a run killed with
``kill -9`` and resumed, whose tables must be byte-identical to the uninterrupted run's.
"""

from __future__ import annotations

import gzip
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import yaml

from conftest import ROOT

pytestmark = pytest.mark.slow
BIN = Path(sys.executable).parent
SNAKEMAKE = shutil.which("snakemake", path=str(BIN)) or "snakemake"
TABLES = ("predictions.tsv.gz", "predictions.parquet", "brain_size/associations.tsv", "brain_size/associations.parquet",
          "social/associations.tsv", "model/metrics.tsv", "model/heldout_predictions.tsv", "orthologs/qc.tsv",
          "sequences_qc.tsv")


def reference_of(maf: Path) -> str:
    """The reference species is the first ``s`` row of the MAF."""
    with gzip.open(maf, "rt") as handle:
        for line in handle:
            if line.startswith("s "):
                return line.split()[1].split(".")[0]
    raise AssertionError("no s line")


def make_work(work: Path, demo: Path, chunks: int = 1, parts: int = 1, groups: int = 1) -> Path:
    """A work directory whose config.yaml is the default config pointed at ``demo``, reduced for speed."""
    work.mkdir(parents=True, exist_ok=True)
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
    tissue["species_peaks"] = {path.name.removesuffix(".narrowPeak"): str(path)
                               for path in sorted((demo / "species_peaks").glob("*.narrowPeak"))}
    config["tissues"] = {"small_tissue": tissue}
    config["association"].update(permulations=50, max_permulations=500, chunks=chunks)
    config["scoring"] = {"parts": parts}
    config["orthologs"]["species_groups"] = groups
    (work / "config.yaml").write_text(yaml.safe_dump(config))
    return work


def make_demo(work: Path, log: str = "make.log") -> subprocess.Popen:
    """``make demo`` on ``work`` (the Makefile's resume-safe wrapper), in its own process group.

    Output goes to ``work/log`` (a pipe nobody reads while polling would fill and block the run).
    """
    env = dict(os.environ, PATH=f"{BIN}{os.pathsep}{os.environ['PATH']}")
    cmd = ["make", "--no-print-directory", "-C", str(ROOT), "demo", f"CONFIG={work / 'config.yaml'}",
           f"SNAKEFLAGS=--directory {work}"]
    with open(work / log, "w") as out:
        return subprocess.Popen(cmd, env=env, start_new_session=True, stdout=out, stderr=subprocess.STDOUT)


def finish(run: subprocess.Popen, work: Path, log: str = "make.log") -> None:
    run.wait(timeout=1800)
    assert run.returncode == 0, (work / log).read_text()[-5000:]


def snakemake(work: Path, *args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, PATH=f"{BIN}{os.pathsep}{os.environ['PATH']}")
    cmd = [SNAKEMAKE, "-s", str(ROOT / "Snakefile"), "--directory", str(work), "--configfile",
           str(work / "config.yaml"), "--cores", "2", *args]
    return subprocess.run(cmd, capture_output=True, text=True, env=env)


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("demo") / "small"
    subprocess.run([sys.executable, "-m", "tacit.cli", "simulate", "--preset", "small", "--out-dir", str(out)],
                   check=True)
    return out


@pytest.fixture(scope="module")
def finished(tmp_path_factory, demo) -> Path:
    """An uninterrupted run."""
    work = make_work(tmp_path_factory.mktemp("finished"), demo)
    lint = snakemake(work, "--lint")
    assert lint.returncode == 0, lint.stdout + lint.stderr
    dry = snakemake(work, "-n")
    assert dry.returncode == 0, dry.stderr
    for rule in ("map_orthologs", "train_model", "score_orthologs", "prediction_matrix", "associate"):
        assert rule in dry.stdout + dry.stderr
    finish(make_demo(work), work)
    return work


def test_outputs(finished):
    results = finished / "results" / "small_tissue"
    predictions = pd.read_csv(results / "predictions.tsv.gz", sep="\t")
    assert predictions.columns[0] == "ocr" and predictions.shape[1] > 5
    values = predictions.iloc[:, 1:]
    assert values.notna().mean().mean() > 0.5
    observed = values.stack().dropna()
    assert ((observed >= 0) & (observed <= 1)).all()
    assert observed.std() > 0.05  # the model discriminates: scores are not one constant
    assoc = pd.read_csv(results / "brain_size" / "associations.tsv", sep="\t")
    assert (assoc["status"] == "ok").sum() > 0.5 * len(assoc)
    binary = pd.read_csv(results / "social" / "associations.tsv", sep="\t")  # the demo's 0/1 trait (phyloglm)
    tested = binary["status"].isin(["ok", "alpha_at_bound"])
    assert tested.sum() > 0.5 * len(binary) and binary.loc[tested, "perm_pvalue"].between(0, 1).all()
    metrics = pd.read_csv(results / "model" / "metrics.tsv", sep="\t").set_index("split")
    assert metrics.loc["test", "auroc"] > 0.75
    recovery = pd.read_csv(results / "brain_size" / "recovery.tsv", sep="\t")
    assert recovery.loc[0, "recall"] >= 0.6  # the small preset has 24 species; the full demo is held to 0.8
    for plot in ("plots/training.png", "plots/roc_pr.png", "plots/ortholog_qc.png", "brain_size/plots/qq.png",
                 "brain_size/plots/volcano.png", "brain_size/plots/top_ocrs.png"):
        assert (results / plot).stat().st_size > 5000, plot
    assert (finished / "logs").exists()
    again = snakemake(finished, "-n")
    assert "Nothing to be done" in again.stdout + again.stderr


def test_tacit_format_round_trip(finished):
    """Export to TACIT's format, associate from it: same coef and p as the workflow's table."""
    results = finished / "results" / "small_tissue"
    config = yaml.safe_load((finished / "config.yaml").read_text())
    subprocess.run([sys.executable, "-m", "tacit.cli", "export", "--predictions", str(results / "predictions.tsv.gz"),
                    "--out-dir", str(finished / "exported")], check=True)
    out = finished / "exported" / "associations.tsv"
    subprocess.run([sys.executable, "-m", "tacit.cli", "associate", "--matrix", str(finished / "exported" / "matrix.tsv"),
                    "--species", str(finished / "exported" / "species.txt"), "--tree", config["tree"],
                    "--phenotypes", config["phenotypes"], "--trait", "brain_size", "--out", str(out)], check=True)
    ours = pd.read_csv(results / "brain_size" / "associations.tsv", sep="\t").set_index("ocr")
    again = pd.read_csv(out, sep="\t").set_index("ocr")
    # The export writes 6 decimals (TACIT's precision); predictions.tsv.gz holds 6 significant digits, so
    # values below 0.1 lose digits: coefficients and p-values agree to 1e-4 relative.
    ok = ours["status"] == "ok"
    assert (again.loc[ok.index, "status"] == ours["status"]).all()
    pd.testing.assert_series_equal(again.loc[ok, "coef"], ours.loc[ok, "coef"], rtol=1e-4, atol=1e-8)
    pd.testing.assert_series_equal(again.loc[ok, "pvalue"], ours.loc[ok, "pvalue"], rtol=1e-4, atol=1e-12)


def test_report_and_publish(finished):
    env = dict(os.environ, PATH=f"{BIN}{os.pathsep}{os.environ['PATH']}")
    report = snakemake(finished, "--report", "results/report.html")
    assert report.returncode == 0, report.stderr[-3000:]
    html = (finished / "results" / "report.html").read_text(errors="replace")
    assert len(html) > 100_000 and "qq.png" in html
    publish = snakemake(finished, "publish")
    assert publish.returncode == 0, publish.stderr[-3000:]
    bundle = finished / "results" / "publish"
    check = subprocess.run(["sha256sum", "-c", "SHA256SUMS"], cwd=bundle, capture_output=True, text=True, env=env)
    assert check.returncode == 0, check.stdout + check.stderr
    for name in ("small_tissue/predictions.tsv.gz", "small_tissue/tacit/matrix.tsv", "small_tissue/tacit/species.txt",
                 "small_tissue/model/model.keras", "small_tissue/model/card.md",
                 "small_tissue/brain_size/associations.tsv", "small_tissue/brain_size/species.tsv",
                 "small_tissue/model/windows.tsv", "tables.md", "config.yaml"):
        assert (bundle / name).exists(), name


def test_killed_run_resumes_to_identical_tables(tmp_path, demo, finished):
    """kill -9 of the whole `make demo` process group mid-run, then `make demo` again: identical bytes.

    This run is also scattered differently from the finished one (species in 2 mapping groups, 2 scoring
    parts per species, association in 3 chunks, against 1, 1, 1): the same tables.
    """
    work = make_work(tmp_path / "killed", demo, chunks=3, parts=2, groups=2)
    run = make_demo(work)
    deadline = time.monotonic() + 900
    scores = work / "results" / "small_tissue" / "scores"
    # Kill once the model is trained and scoring is under way: many jobs running, some finished.
    while time.monotonic() < deadline and run.poll() is None:
        if scores.exists() and len(list(scores.glob("*.tsv"))) >= 3:
            break
        time.sleep(0.5)
    assert run.poll() is None, "the run finished before it could be killed"
    os.killpg(run.pid, signal.SIGKILL)
    run.wait()
    assert (work / ".snakemake" / "locks").exists() and any((work / ".snakemake" / "locks").iterdir())
    finish(make_demo(work, "resumed.log"), work, "resumed.log")
    for table in TABLES:
        a = (finished / "results" / "small_tissue" / table).read_bytes()
        b = (work / "results" / "small_tissue" / table).read_bytes()
        assert a == b, table


def test_adding_a_tissue_runs_only_its_jobs(finished, demo):
    """A second config file with one more `tissues:` entry: only that tissue's jobs; old results untouched."""
    before = {p: p.read_bytes() for p in (finished / "results").rglob("*") if p.is_file()}
    entry = yaml.safe_load((ROOT / "config" / "demo-add-tissue.yaml").read_text())["tissues"]["demo_tissue2"]
    entry.update(peaks=str(demo / "tissue2" / "peaks.narrowPeak"), negatives=[str(demo / "tissue2" / "negatives.bed")],
                 model_spec=str(ROOT / entry["model_spec"]))
    (finished / "add.yaml").write_text(yaml.safe_dump({"tissues": {"demo_tissue2": entry}}))
    extra = ("--configfile", str(finished / "config.yaml"), str(finished / "add.yaml"))
    dry = snakemake(finished, *extra, "-n")
    assert dry.returncode == 0, dry.stderr
    planned = [line for line in (dry.stdout + dry.stderr).splitlines() if "wildcards:" in line]
    assert planned and all("small_tissue" not in line for line in planned)
    run = snakemake(finished, *extra)
    assert run.returncode == 0, run.stderr[-5000:]
    assert (finished / "results" / "demo_tissue2" / "brain_size" / "associations.tsv").exists()
    for path, content in before.items():
        assert path.read_bytes() == content, path


def test_chain_alignment_gives_the_same_orthologs(tmp_path, demo, finished):
    """The same OCRs through per-species chain files instead of the MAF: identical ortholog files and QC."""
    work = make_work(tmp_path / "chain", demo)
    config = yaml.safe_load((work / "config.yaml").read_text())
    config["alignment"] = {"format": "chain", "chains": str(demo / "chains" / "{species}.chain.gz")}
    (work / "config.yaml").write_text(yaml.safe_dump(config))
    run = snakemake(work, "results/small_tissue/orthologs/qc.tsv")
    assert run.returncode == 0, run.stderr[-5000:]
    maf_dir = finished / "results" / "small_tissue" / "orthologs"
    chain_dir = work / "results" / "small_tissue" / "orthologs"
    for path in sorted(maf_dir.glob("*.narrowPeak")):
        assert (chain_dir / path.name).read_bytes() == path.read_bytes(), path.name
    assert (chain_dir / "qc.tsv").read_text() == (maf_dir / "qc.tsv").read_text()


def test_training_with_the_tissue_in_another_species(tmp_path, demo, finished):
    """`species_peaks`: another species' OCRs of the tissue add positives, and the orthologs of reference OCRs
    closed there add closed_orthologs negatives, cut from its genome (TACIT's cross-species training)."""
    orthologs_dir = finished / "results" / "small_tissue" / "orthologs"
    reference = reference_of(demo / "alignment.maf.gz")
    other = next(p.stem for p in sorted(orthologs_dir.glob("*.narrowPeak")) if p.stem != reference)
    lines = (orthologs_dir / f"{other}.narrowPeak").read_text().splitlines()
    open_there = lines[::2]  # every other ortholog is open in that species; the rest are closed there
    renamed = []  # its own OCR names, not the reference's
    for i, line in enumerate(open_there):
        fields = line.split("\t")
        renamed.append("\t".join([*fields[:3], f"{other}_ocr{i}", *fields[4:]]))
    (tmp_path / "other.narrowPeak").write_text("\n".join(renamed) + "\n")
    work = make_work(tmp_path / "species", demo)
    config = yaml.safe_load((work / "config.yaml").read_text())
    config["tissues"]["small_tissue"]["species_peaks"] = {other: str(tmp_path / "other.narrowPeak")}
    (work / "config.yaml").write_text(yaml.safe_dump(config))
    target = "results/small_tissue/model/windows.tsv"
    dry = snakemake(work, target, "-n", "-p")
    assert dry.returncode == 0, dry.stderr
    assert (f"--species {other} results/genomes/{other}.fa {tmp_path / 'other.narrowPeak'} "
            f"results/small_tissue/orthologs/{other}.narrowPeak") in dry.stdout + dry.stderr
    run = snakemake(work, target)
    assert run.returncode == 0, run.stderr[-5000:]
    windows = pd.read_csv(work / target, sep="\t").set_index("kind")
    n_reference = sum(1 for _ in open(demo / "peaks.narrowPeak"))
    # Positives: the reference OCRs, then the other species' OCRs (each overlaps its own ortholog).
    assert windows.loc["positives", "requested"] == n_reference + len(open_there)
    assert windows.loc["positives", "no_reference_ortholog"] == 0
    closed = windows.loc["closed_orthologs"]
    assert closed["requested"] == len(lines) and closed["open_in_species"] == len(open_there)
    assert closed["kept"] > 0.8 * (len(lines) - len(open_there))  # a few windows run off a scaffold end
    assert other in (work / "results" / "small_tissue" / "model" / "card.md").read_text()
