# Glue only: config validation, the species list, wildcard constraints and the list of final outputs.

from pathlib import Path

from snakemake.exceptions import WorkflowError
from snakemake.utils import validate

from tacit.errors import InputError
from tacit.workflow_config import check_config

import pandas as pd

validate(config, "../schemas/config.schema.yaml")
try:
    SPECIES = check_config(config)  # files exist, tree parses, traits present: fail now, not in a job
except InputError as err:
    raise WorkflowError(f"config: {err}") from None
validate(pd.read_csv(config["phenotypes"], dtype=str, keep_default_na=False), "../schemas/phenotypes.schema.yaml")

RESULTS = config.get("results", "results")
TISSUES = sorted(config["tissues"])
TRAITS = {t["name"]: t for t in config["traits"]}


# Light jobs run on the submitting host under a cluster executor: one sbatch per species for a file
# decompression or a plot costs more than the work (measured: 83 -> 28 SLURM jobs, 353 s -> 211 s).
localrules:
    species_group,
    prepare_genome,
    ortholog_sequences,
    sequences_qc,
    plot_model,
    plot_ortholog_qc,
    plot_association,
    plot_top_ocrs,
    recovery,
    species_report,


ALIGNMENT = config["alignment"]["format"]
ASSOCIATION_CHUNKS = config["association"].get("chunks", 1)
SCORING_PARTS = config.get("scoring", {}).get("parts", 1)
_n_groups = min(config["orthologs"].get("species_groups", 1), len(SPECIES))
SPECIES_GROUPS = [SPECIES[g::_n_groups] for g in range(_n_groups)]  # interleaved, in tree order


def region_files_mb(wildcards, input):
    """Size of a training job's region files (peaks, BED negatives, other tissues' peaks; not the genome), in MB;
    the peaks count once more per generated negative (GC-matched, shuffled) per positive."""
    entry = config["tissues"][wildcards.tissue]
    copies = 1 + entry.get("gc_matched_negatives", 0) + entry.get("shuffled_negatives", 0)
    files = [*input.negatives, *input.closed_orthologs, *input.other_tissue_peaks, *input.species_peaks,
             *input.species_orthologs]
    return (Path(input.peaks).stat().st_size * copies + sum(Path(p).stat().st_size for p in files)) / 1e6


def ortholog_qc_parts(wildcards):
    """Per-group (MAF) or per-species (chain, HAL) QC tables gathered into orthologs/qc.tsv."""
    if ALIGNMENT == "maf":
        return [f"{RESULTS}/{wildcards.tissue}/orthologs/qc.group{g}.tsv" for g in range(len(SPECIES_GROUPS))]
    return [f"{RESULTS}/{wildcards.tissue}/orthologs/{s}.qc.tsv" for s in SPECIES]
# A GPU per scoring job when asked for (the SLURM executor turns `gpu` into --gpus); none otherwise.
SCORING_GPU = {"gpu": config["scoring"]["gpus"]} if config.get("scoring", {}).get("gpus") else {}
OTHER_SPECIES_PATTERN = "|".join(s for s in SPECIES if s != config["reference"]) or "NO_SPECIES"


def hal_genome(species):
    """The genome name of ``species`` inside the HAL file (config alignment.hal_genomes, else the same)."""
    return config["alignment"].get("hal_genomes", {}).get(species, species)


wildcard_constraints:
    tissue="|".join(TISSUES) or "NO_TISSUE",
    trait="|".join(TRAITS) or "NO_TRAIT",
    species="|".join(SPECIES),
    chunk=r"\d+",
    part=r"\d+",
    group=r"\d+",


def genome_source(wildcards):
    return config["genomes"].format(species=wildcards.species)


def tissue_option(key, default=None):
    """An input function returning config["tissues"][tissue][key]."""
    return lambda wildcards: config["tissues"][wildcards.tissue].get(key, default)


def mode(tissue):
    """How a tissue enters: 'predictions' (a given matrix), 'pretrained' (a given model) or 'train'."""
    entry = config["tissues"][tissue]
    if "predictions" in entry:
        return "predictions"
    return "pretrained" if "model" in entry else "train"


MAPPED = [t for t in TISSUES if mode(t) != "predictions"]
TRAINED = [t for t in TISSUES if mode(t) == "train"]


def predictions_path(tissue):
    """The tissue's prediction matrix: the given one, or the one this workflow builds."""
    return config["tissues"][tissue].get("predictions") or f"{RESULTS}/{tissue}/predictions.tsv.gz"


def predictions_of(wildcards):
    return predictions_path(wildcards.tissue)


def predictions_species_option(wildcards):
    """``--species FILE`` for a TACIT-format matrix given in the config, else nothing."""
    species = config["tissues"][wildcards.tissue].get("predictions_species")
    return f"--species {species}" if species else ""


def model_of(wildcards):
    """The tissue's model: the given trained model, or the one this workflow trains."""
    return config["tissues"][wildcards.tissue].get("model") or f"{RESULTS}/{wildcards.tissue}/model/model.keras"


def all_outputs():
    out = []
    for tissue in MAPPED:
        out += [f"{RESULTS}/{tissue}/predictions.tsv.gz"]
        out += [f"{RESULTS}/{tissue}/orthologs/qc.tsv", f"{RESULTS}/{tissue}/sequences_qc.tsv"]
        out.append(f"{RESULTS}/{tissue}/plots/ortholog_qc.png")
    for tissue in TRAINED:
        out.append(f"{RESULTS}/{tissue}/model/card.md")
        out += [f"{RESULTS}/{tissue}/plots/{name}.png" for name in ("training", "roc_pr")]
    for tissue in TISSUES:
        for trait in TRAITS:
            out += [f"{RESULTS}/{tissue}/{trait}/{name}.tsv" for name in ("associations", "species")]
            out += [f"{RESULTS}/{tissue}/{trait}/plots/{name}.png" for name in ("qq", "volcano", "top_ocrs")]
            if config.get("truth"):
                out.append(f"{RESULTS}/{tissue}/{trait}/recovery.tsv")
    return out
