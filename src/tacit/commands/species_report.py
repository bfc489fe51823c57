"""``tacit species-report``: which species the association analyses, and why each other one was dropped."""

from __future__ import annotations

import argparse
import logging

from . import add_association_inputs, read_association_inputs

log = logging.getLogger(__name__)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "species-report",
        help="one row per species of the matrix, tree and phenotype table: analysed or dropped, and why",
        description="Reconcile the species of a prediction matrix, a tree and a phenotype table as tacit associate "
        "does (names normalised to Genus_species) and write, per species, whether it is in each input, whether "
        "its trait and covariates are known, whether it is analysed and, if not, the first join that dropped it.",
    )
    add_association_inputs(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..association import species_report, write_species_report
    from ..tables import MatrixFile, phenotype_species

    tree, trait, covariates = read_association_inputs(args)
    species = MatrixFile(args.matrix, args.species, scan=False).species
    table = species_report(species, tree, phenotype_species(args.phenotypes), trait, covariates)
    write_species_report(table, args.out)
    dropped = table.loc[~table["analysed"], "reason"].value_counts()
    log.info("wrote %s: %d species analysed, %d dropped%s", args.out, int(table["analysed"].sum()),
             int((~table["analysed"]).sum()), "".join(f"; {n} {why}" for why, n in dropped.items()))
    return 0
