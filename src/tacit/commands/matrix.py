"""``tacit matrix``: gather per-species ortholog scores into one prediction matrix (OCR x species)."""

from __future__ import annotations

import argparse
import logging

log = logging.getLogger(__name__)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("matrix", help="gather per-species score tables into predictions.tsv.gz")
    p.add_argument("--peaks", required=True, help="reference OCRs (narrowPeak); row order of the matrix")
    p.add_argument("--scores", nargs="+", required=True, help="per-species score TSVs named SPECIES.tsv (id, score)")
    p.add_argument("--out", required=True, help="output matrix (.tsv or .tsv.gz; header ocr + species)")
    p.add_argument("--parquet", help="also write the matrix as Parquet (column ocr, then one float column per species)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..peaks import read_narrowpeak
    from ..scores import gather_scores
    from ..tables import write_matrix

    ocrs = [peak.name for peak in read_narrowpeak(args.peaks)]
    matrix = gather_scores(ocrs, args.scores)
    write_matrix(matrix, args.out)
    if args.parquet:
        import pandas as pd

        from ..io import write_parquet

        table = pd.DataFrame(matrix.values, columns=matrix.species)
        table.insert(0, "ocr", matrix.ocrs)
        write_parquet(table, args.parquet)
    log.info("wrote %s: %d OCRs x %d species", args.out, len(matrix.ocrs), len(matrix.species))
    return 0
