# Glue only: config validation, the species list, wildcard constraints and the list of final outputs.

from pathlib import Path

from snakemake.utils import validate

from tacit.tree import read_tree

import pandas as pd

validate(config, "../schemas/config.schema.yaml")
validate(pd.read_csv(config["phenotypes"], dtype=str, keep_default_na=False), "../schemas/phenotypes.schema.yaml")

RESULTS = config.get("results", "results")
TISSUES = sorted(config["tissues"])
TRAITS = {t["name"]: t for t in config["traits"]}
SPECIES = config.get("species") or read_tree(config["tree"]).tip_names
if config["reference"] not in SPECIES:
    raise ValueError(f"config: reference species {config['reference']!r} is not among the species of {config['tree']}")


wildcard_constraints:
    tissue="|".join(TISSUES) or "NO_TISSUE",
    trait="|".join(TRAITS) or "NO_TRAIT",
    species="|".join(SPECIES),


def genome_source(wildcards):
    return config["genomes"].format(species=wildcards.species)


def tissue_option(key, default=None):
    """An input function returning config["tissues"][tissue][key]."""
    return lambda wildcards: config["tissues"][wildcards.tissue].get(key, default)


def all_outputs():
    out = []
    for tissue in TISSUES:
        out += [f"{RESULTS}/{tissue}/predictions.tsv.gz", f"{RESULTS}/{tissue}/model/card.md"]
        out += [f"{RESULTS}/{tissue}/orthologs/qc.tsv", f"{RESULTS}/{tissue}/sequences_qc.tsv"]
        out += [f"{RESULTS}/{tissue}/plots/{name}.png" for name in ("training", "roc_pr", "ortholog_qc")]
        for trait in TRAITS:
            out.append(f"{RESULTS}/{tissue}/{trait}/associations.tsv")
            out += [f"{RESULTS}/{tissue}/{trait}/plots/{name}.png" for name in ("qq", "volcano", "top_ocrs")]
            if config.get("truth"):
                out.append(f"{RESULTS}/{tissue}/{trait}/recovery.tsv")
    return out
