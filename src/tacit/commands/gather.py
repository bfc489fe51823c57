"""``tacit gather``: the association table of a chunked run, with BH FDR over all chunks."""

from __future__ import annotations

import argparse
import logging

log = logging.getLogger(__name__)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("gather", help="join the chunks of `tacit associate --chunks N` and add BH FDR over all OCRs",
                       description="Concatenate the chunk tables of `tacit associate --chunk K --chunks N` in the "
                       "order given and compute Benjamini-Hochberg FDR over every tested OCR (on perm_pvalue when "
                       "permulations ran). The result equals an unchunked run's table byte for byte.")
    p.add_argument("--parts", nargs="+", required=True, help="chunk tables, in chunk order")
    p.add_argument("--out", required=True, help="the association table")
    p.add_argument("--parquet", help="also write the table as Parquet")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..association import gather, read_associations, write_associations

    parts = [read_associations(path) for path in args.parts]
    permulations = any(part["perm_trials"].notna().any() for part in parts)
    table = gather(parts, permulations)
    write_associations(table, args.out)
    if args.parquet:
        from ..io import write_parquet

        write_parquet(table, args.parquet)
    log.info("gathered %d chunks: %d OCRs, %d tested", len(parts), len(table), int(table["fdr"].notna().sum()))
    return 0
