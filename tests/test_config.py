"""The workflow config: the default validates, bad configs fail before any job with one clear message."""

from __future__ import annotations

import copy
import os
import shutil
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest
import yaml

from tacit.errors import InputError
from tacit.workflow_config import check_config, other_tissue_peaks

from conftest import ROOT

SCHEMA = yaml.safe_load((ROOT / "workflow" / "schemas" / "config.schema.yaml").read_text())
DEFAULT = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())


@pytest.fixture(autouse=True)
def _in_repo(monkeypatch):
    monkeypatch.chdir(ROOT)  # the default config's paths are relative to the repository


def test_default_config_is_valid_and_its_files_exist():
    jsonschema.validate(DEFAULT, SCHEMA)
    species = check_config(DEFAULT)
    assert DEFAULT["reference"] in species and len(species) >= 30


@pytest.mark.parametrize("edit, phrase", [
    (lambda c: c["tissues"].update({"bad/name": c["tissues"]["demo_tissue"]}), "bad/name"),
    (lambda c: c["tissues"].update({"has space": c["tissues"]["demo_tissue"]}), "has space"),
    (lambda c: c["traits"].append({"name": "x;rm", "type": "continuous"}), "x;rm"),
    (lambda c: c["traits"].append({"name": "social", "type": "ordinal"}), "ordinal"),
    (lambda c: c.update(genomes="resources/demo/genomes/all.fa"), "species"),
    (lambda c: c["alignment"].update(format="chain"), "chains"),
    (lambda c: c["tissues"]["demo_tissue"].pop("model_spec"), "demo_tissue"),
    (lambda c: c["tissues"]["demo_tissue"].update(gc_matched_negatives=-1), "-1"),
    (lambda c: c["tissues"]["demo_tissue"].update(shuffled_negatives=0.5), "0.5"),
    (lambda c: c["tissues"]["demo_tissue"].update(other_tissue_negatives="yes"), "yes"),
])
def test_schema_rejects(edit, phrase):
    config = copy.deepcopy(DEFAULT)
    edit(config)
    with pytest.raises(jsonschema.ValidationError) as err:
        jsonschema.validate(config, SCHEMA)
    assert phrase in str(err.value)


@pytest.mark.parametrize("edit, phrase", [
    (lambda c: c.update(tree="resources/demo/none.nwk"), "none.nwk"),
    (lambda c: c["traits"].append({"name": "wingspan", "type": "continuous"}), "wingspan"),
    (lambda c: c["traits"].append({"name": "brain_size", "type": "binary"}), "0 or 1"),
    (lambda c: c["tissues"]["demo_tissue"].update(peaks="nowhere.narrowPeak"), "nowhere.narrowPeak"),
    (lambda c: c["tissues"]["demo_tissue"].update(closed_orthologs=["closed.bed"]), "closed.bed"),
    (lambda c: c["tissues"]["demo_tissue"].update(other_tissue_negatives=["liver"]), "'liver'"),
    (lambda c: c["tissues"]["demo_tissue"].update(other_tissue_negatives=["demo_tissue"]), "'demo_tissue'"),
    (lambda c: c["tissues"]["demo_tissue"].update(negatives=[], species_peaks={}), "no negatives"),
    (lambda c: c["tissues"]["demo_tissue"].update(species_peaks={"Homo_sapiens": "resources/demo/peaks.narrowPeak"}),
     "'Homo_sapiens'"),
    (lambda c: c["tissues"]["demo_tissue"].update(species_peaks={"Simia_referens": "resources/demo/peaks.narrowPeak"}),
     "other than the reference"),
    (lambda c: c["tissues"]["demo_tissue"].update(species_peaks={"Simia_niger": "niger.narrowPeak"}),
     "niger.narrowPeak"),
    (lambda c: c.update(reference="Homo_sapiens"), "Homo_sapiens"),
    (lambda c: c.update(genomes="resources/demo/genomes/{species}.fasta"), "species"),
])
def test_check_config_rejects(edit, phrase):
    config = copy.deepcopy(DEFAULT)
    edit(config)
    with pytest.raises(InputError) as err:
        check_config(config)
    assert phrase in str(err.value)


def test_snakemake_stops_with_one_message_and_no_job(tmp_path):
    bad = copy.deepcopy(DEFAULT)
    bad["tree"] = str(tmp_path / "missing.nwk")
    for key in ("phenotypes", "truth"):
        bad[key] = str(ROOT / bad[key])
    (tmp_path / "bad.yaml").write_text(yaml.safe_dump(bad))
    snakemake = shutil.which("snakemake", path=str(Path(sys.executable).parent)) or "snakemake"
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    run = subprocess.run([snakemake, "-s", str(ROOT / "Snakefile"), "--directory", str(tmp_path), "--configfile",
                          str(tmp_path / "bad.yaml"), "-n"], capture_output=True, text=True, env=env)
    assert run.returncode != 0
    assert "missing.nwk: tree not found" in run.stdout + run.stderr
    assert not (tmp_path / "results").exists()


def test_negative_kinds_in_config():
    """The default trains on BED negatives only; the add-tissue entry turns the generated kinds on, and its
    other-tissue negatives are the default tissue's peaks."""
    added = yaml.safe_load((ROOT / "config" / "demo-add-tissue.yaml").read_text())
    config = copy.deepcopy(DEFAULT)
    config["tissues"].update(added["tissues"])
    jsonschema.validate(config, SCHEMA)
    check_config(config)
    assert not {"gc_matched_negatives", "shuffled_negatives", "other_tissue_negatives"} & set(
        DEFAULT["tissues"]["demo_tissue"])
    assert other_tissue_peaks(config, "demo_tissue") == []
    assert other_tissue_peaks(config, "demo_tissue2") == [DEFAULT["tissues"]["demo_tissue"]["peaks"]]
    config["tissues"]["demo_tissue"]["other_tissue_negatives"] = ["demo_tissue2"]
    config["tissues"]["published"] = {"predictions": "resources/demo/phenotypes.csv"}  # no peaks: never used
    assert other_tissue_peaks(config, "demo_tissue") == [added["tissues"]["demo_tissue2"]["peaks"]]
    assert other_tissue_peaks(config, "demo_tissue2") == [DEFAULT["tissues"]["demo_tissue"]["peaks"]]
