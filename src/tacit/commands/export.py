"""``tacit export``: write a prediction matrix in TACIT's format (no header, -1 = missing) plus its species file."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

log = logging.getLogger(__name__)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("export", help="export predictions.tsv.gz to TACIT's matrix format")
    p.add_argument("--format", choices=("tacit",), default="tacit", help="output format")
    p.add_argument("--predictions", required=True, help="this workflow's predictions.tsv(.gz)")
    p.add_argument("--out-dir", required=True, help="writes OUT_DIR/matrix.tsv and OUT_DIR/species.txt")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..tables import read_matrix, write_tacit_matrix

    matrix = read_matrix(args.predictions)
    out = Path(args.out_dir)
    write_tacit_matrix(matrix, out / "matrix.tsv", out / "species.txt")
    log.info("wrote %s/matrix.tsv (%d OCRs x %d species) and species.txt", out, len(matrix.ocrs), len(matrix.species))
    return 0
