"""Sub-commands of the ``tacit`` CLI: each parses arguments and calls one library function.

Options that several commands share are defined once here.
"""

from __future__ import annotations

import argparse


def add_stitch_options(p: argparse.ArgumentParser) -> None:
    """``--min-len``, ``--max-len``, ``--protect-dist``: the HALPER-style stitching limits of the ortholog paths."""
    p.add_argument("--min-len", type=int, default=50, help="shortest ortholog kept, bp (default: 50)")
    p.add_argument("--max-len", type=int, default=1000, help="longest ortholog kept, bp (default: 1000)")
    p.add_argument("--protect-dist", type=int, default=5,
                   help="bases required on each side of the lifted summit, bp (default: 5)")


def stitch_settings(args: argparse.Namespace):  # -> tacit.orthologs.OrthologSettings
    """The stitching limits of :func:`add_stitch_options` as :class:`tacit.orthologs.OrthologSettings`."""
    from ..orthologs import OrthologSettings

    return OrthologSettings(min_len=args.min_len, max_len=args.max_len, protect_dist=args.protect_dist)


def add_qc_options(p: argparse.ArgumentParser, what: str) -> None:
    """``--qc FILE --species NAME``: a one-row table with the columns of maf-orthologs' qc.tsv."""
    p.add_argument("--qc", help=f"also write a one-row TSV of outcome counts{what}, with the columns of "
                   "maf-orthologs' qc.tsv: species, n_peaks, mapped, no_alignment, summit_unaligned, too_short, "
                   "too_long, summit_near_edge, other_chrom, median_length (needs --species)")
    p.add_argument("--species", help="the species mapped to: the species column of --qc")


def check_qc_options(args: argparse.Namespace) -> None:
    """``--qc`` needs ``--species``, and the species name must be usable as a file name."""
    from ..errors import InputError
    from ..orthologs import check_species_name

    if args.qc and not args.species:
        raise InputError("--qc needs --species (the species column of the QC table)")
    if args.species:
        check_species_name(args.species)


def add_association_inputs(p: argparse.ArgumentParser) -> None:
    """The inputs of an association: matrix (and TACIT species file), tree, phenotypes, trait, its type and
    covariates; ``--out``."""
    p.add_argument("--matrix", required=True, help="prediction matrix: TACIT format (with --species) or predictions.tsv.gz")
    p.add_argument("--species", help="TACIT species file, one Genus_species per line, in matrix column order")
    p.add_argument("--tree", required=True, help="Newick tree with branch lengths")
    p.add_argument("--phenotypes", required=True,
                   help="CSV with a 'species' column (or TACIT's 'Species Name') and one column per trait")
    p.add_argument("--trait", required=True, help="trait column of --phenotypes")
    p.add_argument("--out", required=True, help="output TSV")
    p.add_argument("--covariate", action="append", default=[], metavar="NAME",
                   help="phenotype column added to the model after activity (repeatable); the trait stays the "
                   "permulated variable")
    p.add_argument("--trait-type", choices=("continuous", "binary"), default="continuous")


def read_association_inputs(args: argparse.Namespace):  # -> (Tree, pd.Series, pd.DataFrame | None)
    """The tree, the known trait values and the covariates (species x columns, or None) of
    :func:`add_association_inputs`."""
    import pandas as pd

    from ..tables import read_phenotypes
    from ..tree import read_tree

    tree = read_tree(args.tree)
    trait = read_phenotypes(args.phenotypes, args.trait, binary=args.trait_type == "binary")
    covariates = None
    if args.covariate:
        covariates = pd.concat({name: read_phenotypes(args.phenotypes, name) for name in args.covariate}, axis=1)
    return tree, trait, covariates
