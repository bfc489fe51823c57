"""Checks of a workflow config beyond its JSON schema: every named file exists, the tree parses, the reference
and the traits are where they should be. Run by the Snakefile before any job, so a bad config fails at once with
one message instead of hours later in a job.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

from .errors import InputError
from .tables import read_phenotypes
from .tree import read_tree


def _require(path: object, what: str) -> None:
    if not Path(str(path)).is_file():
        raise InputError(f"{what} not found (config key: {what})", path)


def check_config(config: Mapping[str, Any]) -> list[str]:
    """Check the files and names a config refers to; return the species of the analysis.

    Raises
    ------
    InputError
        A file that does not exist, an unparseable tree, a reference species not in the tree, a trait or
        covariate column absent from the phenotype table (or not 0/1 for a binary trait), or a genome missing
        for a species whose orthologs are to be mapped.
    """
    _require(config["tree"], "tree")
    _require(config["phenotypes"], "phenotypes")
    tree = read_tree(config["tree"])
    species = list(config.get("species") or tree.tip_names)
    unknown = sorted(set(species) - set(tree.tip_names))
    if unknown:
        raise InputError(f"config 'species' names {len(unknown)} species not in the tree, e.g. {unknown[0]!r}",
                         config["tree"])
    for trait in config["traits"]:
        read_phenotypes(config["phenotypes"], trait["name"], binary=trait["type"] == "binary")
        for covariate in trait.get("covariates", []):
            read_phenotypes(config["phenotypes"], covariate)
    mapped = [entry for entry in config["tissues"].values() if "predictions" not in entry]
    for name, entry in config["tissues"].items():
        for key in ("peaks", "model_spec", "model", "predictions", "predictions_species"):
            if key in entry:
                _require(entry[key], f"tissues.{name}.{key}")
        for path in entry.get("negatives", []):
            _require(path, f"tissues.{name}.negatives")
    if mapped:
        if config["reference"] not in species:
            raise InputError(f"reference species {config['reference']!r} is not among the species of the tree",
                             config["tree"])
        alignment = config["alignment"]
        fmt = alignment["format"]
        if fmt in ("maf", "hal"):
            _require(alignment[fmt], f"alignment.{fmt}")
        for name in species:
            _require(config["genomes"].format(species=name), f"genomes (species {name})")
            if fmt == "chain" and name != config["reference"]:
                _require(alignment["chains"].format(species=name), f"alignment.chains (species {name})")
    return species
