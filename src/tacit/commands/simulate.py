"""``tacit simulate``: write a simulated data set with planted enhancer-trait co-evolution (demo and tests)."""

from __future__ import annotations

import argparse
import logging

log = logging.getLogger(__name__)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "simulate",
        help="write a simulated data set: tree, genomes, MAF, peaks, negatives, phenotypes, truth",
        description="Simulate species, loci whose motif copies (activity) evolve along the tree - some following "
        "a trait - their sequences, genomes and a MAF alignment, and reference OCRs. Deterministic from --seed.",
    )
    p.add_argument("--preset", choices=("demo", "small"), default="demo",
                   help="demo: 38 species, 1,200 loci (resources/demo); small: 24 species, 400 loci (workflow tests)")
    p.add_argument("--seed", type=int, default=1, help="random seed (default: 1); same seed, same bytes")
    p.add_argument("--out-dir", required=True, help="output folder (created; files in it are replaced)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..simulate import simulate, write_readme, write_simulation

    sim = simulate(args.preset, args.seed)
    stats = write_simulation(sim, args.out_dir)
    write_readme(sim, stats, args.out_dir)
    log.info("wrote %s: %d species, %d loci, %d reference OCRs", args.out_dir, len(sim.species), len(sim.loci),
             stats["tissue1_peaks"])
    return 0
