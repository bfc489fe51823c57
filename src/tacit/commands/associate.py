"""``tacit associate``: phylogenetic association of a phenotype with predicted activity, per OCR."""

from __future__ import annotations

import argparse
import logging

from . import add_association_inputs, read_association_inputs

log = logging.getLogger(__name__)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "associate",
        help="PGLS (or phylogenetic logistic regression) of a phenotype on predicted activity per OCR, "
        "with permulations and BH FDR",
        description="Per OCR: phenotype ~ predicted activity by PGLS under Brownian motion (as phylolm) for "
        "continuous traits, or by phylogenetic logistic regression (as phyloglm logistic_MPLE, at the converged "
        "optimum) for 0/1 traits; permulation p-values (Saputra et al. 2021; binary permulations keep the number "
        "of foreground species and clades) in adaptive rounds, and Benjamini-Hochberg FDR.",
    )
    add_association_inputs(p)
    p.add_argument("--permulations", type=int, default=0, help="first round of permulations per OCR (0: none)")
    p.add_argument("--max-permulations", type=int, help="adaptive rounds grow tenfold up to this (default: --permulations)")
    p.add_argument("--perm-test", choices=("conditional", "two-sided"), default="conditional")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--max-draws-per-permulation", type=int, default=10000, metavar="N",
                   help="binary traits: BM draws a species set may examine per permulation of a round (rejection "
                   "sampling keeps the observed number of foreground clades); OCRs that need more report "
                   "permulation_rejection_limit (default: %(default)s)")
    p.add_argument("--chunk", type=int, default=0, help="with --chunks: fit only this slice of the OCRs (0-based)")
    p.add_argument("--chunks", type=int,
                   help="split the OCRs into this many equal slices (1 is allowed) and write one chunk's table: no "
                   "fdr (tacit gather adds it over all chunks) and full-precision numbers")
    p.add_argument("--min-species-fraction", type=float, default=0.5)
    p.add_argument("--checkpoint", metavar="DIR",
                   help="save finished OCR blocks and permulation rounds here; a rerun with the same inputs and "
                   "settings resumes from it (the directory is removed once --out is written)")
    p.add_argument("--checkpoint-interval", type=float, default=300.0, metavar="SECONDS",
                   help="inside a long permulation round, save at most this often (default: 300)")
    p.add_argument("--threads", type=int, default=1,
                   help="threads for the permulation loop (results do not depend on it; default: 1)")
    p.add_argument("--block-rows", type=int, default=20000,
                   help="OCRs read and fitted at a time: memory follows this, results do not (default: 20000)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..errors import InputError
    from ..association import AssociationSettings, associate, write_associations
    from ..checkpoint import Checkpoint
    from ..tables import MatrixFile

    if args.block_rows < 1:
        raise InputError(f"--block-rows must be at least 1, not {args.block_rows}")
    if args.threads < 1:
        raise InputError(f"--threads must be at least 1, not {args.threads}")
    if args.max_draws_per_permulation < 1:
        raise InputError(f"--max-draws-per-permulation must be at least 1, not {args.max_draws_per_permulation}")
    import numba

    numba.set_num_threads(min(args.threads, numba.config.NUMBA_NUM_THREADS))
    tree, trait, covariates = read_association_inputs(args)
    matrix = MatrixFile(args.matrix, args.species)  # validated in full here, read block by block later
    settings = AssociationSettings(
        permulations=args.permulations,
        max_permulations=args.max_permulations,
        seed=args.seed,
        min_species_fraction=args.min_species_fraction,
        perm_test=args.perm_test,
        trait_type=args.trait_type,
        max_draws_per_permulation=args.max_draws_per_permulation,
        block_rows=args.block_rows,
    )
    chunked = args.chunks is not None
    n_chunks = args.chunks if chunked else 1
    if n_chunks < 1 or not 0 <= args.chunk < n_chunks:
        raise InputError(f"--chunk {args.chunk} is not one of 0..{n_chunks - 1} (--chunks {n_chunks})")
    checkpoint = None
    if args.checkpoint:
        checkpoint = Checkpoint(args.checkpoint, _fingerprint(matrix, tree, trait, covariates, settings,
                                                              (args.chunk, n_chunks)), args.checkpoint_interval)
    table = associate(matrix, tree, trait, settings, covariates, chunk=(args.chunk, n_chunks), fdr=not chunked,
                      checkpoint=checkpoint)
    write_associations(table, args.out, exact=chunked)
    if checkpoint is not None:
        checkpoint.remove()
    log.info("wrote %s: %d OCRs, %d tested", args.out, len(table), int((table["status"] == "ok").sum()))
    return 0


def _fingerprint(matrix, tree, trait, covariates, settings, chunk) -> str:  # noqa: ANN001
    """Identity of everything a checkpoint's saved state depends on."""
    import dataclasses
    import hashlib
    import json

    parts = {
        "matrix": matrix.digest, "tree": tree.to_newick(digits=17), "chunk": list(chunk),
        "trait": trait.sort_index().to_json(double_precision=15),
        "covariates": None if covariates is None else covariates.sort_index().to_json(double_precision=15),
        "settings": dataclasses.asdict(settings),
    }
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()
