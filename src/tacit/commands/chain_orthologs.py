"""``tacit chain-orthologs``: orthologs of reference OCRs through a UCSC chain file (HALPER rules)."""

from __future__ import annotations

import argparse
import logging

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
    p.add_argument("--qc", help="also write a one-row TSV of outcome counts, with the columns of maf-orthologs' "
                   "qc.tsv: species, n_peaks, mapped, no_alignment, summit_unaligned, too_short, too_long, "
                   "summit_near_edge, other_chrom, median_length (needs --species)")
    p.add_argument("--species", help="the chains' query species: the species column of --qc")
    p.add_argument("--min-len", type=int, default=50, help="shortest ortholog kept, bp (default: 50)")
    p.add_argument("--max-len", type=int, default=1000, help="longest ortholog kept, bp (default: 1000)")
    p.add_argument("--protect-dist", type=int, default=5,
                   help="bases required on each side of the lifted summit, bp (default: 5)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..chain import chain_orthologs
    from ..errors import InputError
    from ..orthologs import OrthologSettings, _check_species_name, write_qc
    from ..peaks import read_narrowpeak

    if args.qc and not args.species:
        raise InputError("--qc needs --species (the species column of the QC table)")
    if args.species:
        _check_species_name(args.species)
    settings = OrthologSettings(min_len=args.min_len, max_len=args.max_len, protect_dist=args.protect_dist)
    peaks = read_narrowpeak(args.peaks)
    result = chain_orthologs(args.chain, peaks, args.out, settings)
    if args.qc:
        write_qc([result.qc_row(args.species)], args.qc)
    others = ", ".join(f"{key} {n}" for key, n in result.counts.items() if key != "mapped")
    log.info("%d of %d peaks mapped to %s (%s)", result.counts["mapped"], len(peaks), args.out, others)
    return 0
