"""``tacit evaluate``: recall and false discoveries of planted OCRs (simulated data only)."""

from __future__ import annotations

import argparse
import logging

log = logging.getLogger(__name__)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("evaluate", help="recall / false-discovery proportion of planted OCRs (demo data)")
    p.add_argument("--associations", required=True)
    p.add_argument("--truth", required=True, help="TSV with ocr, trait, planted")
    p.add_argument("--trait", required=True)
    p.add_argument("--fdr", type=float, default=0.1)
    p.add_argument("--out", required=True, help="one-row TSV")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..evaluate import recovery
    from ..io import atomic_writer

    result = recovery(args.associations, args.truth, args.trait, args.fdr)
    with atomic_writer(args.out) as out:
        out.write("\t".join(result) + "\n")
        out.write("\t".join(f"{v:.4g}" if isinstance(v, float) else str(v) for v in result.values()) + "\n")
    log.info("%s", ", ".join(f"{k}={v}" for k, v in result.items()))
    return 0
