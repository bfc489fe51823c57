"""``tacit species-report``: which species the association analyses, and why each other one was dropped."""

from __future__ import annotations

import argparse
import logging

log = logging.getLogger(__name__)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "species-report",
        help="one row per species of the matrix, tree and phenotype table: analysed or dropped, and why",
        description="Reconcile the species of a prediction matrix, a tree and a phenotype table as tacit associate "
        "does (names normalised to Genus_species) and write, per species, whether it is in each input, whether "
        "its trait and covariates are known, whether it is analysed and, if not, the first join that dropped it.",
    )
    p.add_argument("--matrix", required=True, help="prediction matrix: TACIT format (with --species) or predictions.tsv.gz")
    p.add_argument("--species", help="TACIT species file, one Genus_species per line, in matrix column order")
    p.add_argument("--tree", required=True, help="Newick tree with branch lengths")
    p.add_argument("--phenotypes", required=True, help="CSV with a 'species' column and one column per trait")
    p.add_argument("--trait", required=True, help="trait column of --phenotypes")
    p.add_argument("--trait-type", choices=("continuous", "binary"), default="continuous")
    p.add_argument("--covariate", action="append", default=[], metavar="NAME", help="covariate column (repeatable)")
    p.add_argument("--out", required=True, help="output TSV")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import pandas as pd

    from ..association import species_report, write_species_report
    from ..tables import MatrixFile, phenotype_species, read_phenotypes
    from ..tree import read_tree

    tree = read_tree(args.tree)
    trait = read_phenotypes(args.phenotypes, args.trait, binary=args.trait_type == "binary")
    covariates = None
    if args.covariate:
        covariates = pd.concat({name: read_phenotypes(args.phenotypes, name) for name in args.covariate}, axis=1)
    species = MatrixFile(args.matrix, args.species, scan=False).species
    table = species_report(species, tree, phenotype_species(args.phenotypes), trait, covariates)
    write_species_report(table, args.out)
    dropped = table.loc[~table["analysed"], "reason"].value_counts()
    log.info("wrote %s: %d species analysed, %d dropped%s", args.out, int(table["analysed"].sum()),
             int((~table["analysed"]).sum()), "".join(f"; {n} {why}" for why, n in dropped.items()))
    return 0
