"""``tacit chain-orthologs``: orthologs of reference OCRs through a UCSC chain file (HALPER rules)."""

from __future__ import annotations

import argparse
import logging

from . import add_qc_options, add_stitch_options, check_qc_options, stitch_settings

log = logging.getLogger(__name__)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "chain-orthologs",
        help="map reference OCRs through a UCSC chain file; one narrowPeak of orthologs",
        description="Lift each OCR and its summit through the aligned blocks of a UCSC chain file (peaks on the "
        "chains' target genome), and stitch the fragments into one ortholog per OCR as HALPER does.",
    )
    p.add_argument("--chain", required=True, help="UCSC chain file (plain or gzip), target = the peaks' genome")
    p.add_argument("--peaks", required=True, help="reference OCRs (narrowPeak, summit in column 10)")
    p.add_argument("--out", required=True, help="orthologs as narrowPeak: chrom, start, end, OCR name, 0, strand, "
                   "-1, -1, -1, summit offset")
    add_qc_options(p, "")
    add_stitch_options(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..chain import chain_orthologs
    from ..orthologs import write_qc
    from ..peaks import read_narrowpeak

    check_qc_options(args)
    peaks = read_narrowpeak(args.peaks)
    result = chain_orthologs(args.chain, peaks, args.out, stitch_settings(args))
    if args.qc:
        write_qc([result.qc_row(args.species)], args.qc)
    others = ", ".join(f"{key} {n}" for key, n in result.counts.items() if key != "mapped")
    log.info("%d of %d peaks mapped to %s (%s)", result.counts["mapped"], len(peaks), args.out, others)
    return 0
