"""``tacit select-ocrs``: keep the reference OCRs that pass optional filters, before mapping."""

from __future__ import annotations

import argparse
import logging

log = logging.getLogger(__name__)


def register(sub: argparse._SubParsersAction) -> None:
    from ..selection import SCORE_COLUMNS, STANDARD_CHROM_PATTERN

    p = sub.add_parser(
        "select-ocrs",
        help="filter reference OCRs by chromosome, score, width, TSS distance and exon overlap",
        description="Write the OCRs that pass every filter given, as their input lines in input order (no filter: "
        "a copy). A dropped OCR is counted under its first failing filter, in the order nonstandard_chrom, "
        "low_score, too_wide, near_tss, exon_overlap.",
    )
    p.add_argument("--peaks", required=True, help="reference OCRs (narrowPeak, plain or gzip)")
    p.add_argument("--out", required=True, help="selected OCRs (narrowPeak; .gz for gzip)")
    p.add_argument("--report", help="also write a TSV of counts: reason, count (peaks, one row per filter, kept)")
    p.add_argument("--standard-chroms", action="store_true",
                   help="drop OCRs on chromosomes not fully matching --chrom-pattern (unplaced, alt, random, chrM)")
    p.add_argument("--chrom-pattern", default=STANDARD_CHROM_PATTERN,
                   help=f"regular expression of standard chromosome names (default: {STANDARD_CHROM_PATTERN})")
    p.add_argument("--min-score", type=float, help="drop OCRs whose --score-column is below this")
    p.add_argument("--score-column", choices=list(SCORE_COLUMNS), default="score",
                   help="narrowPeak column for --min-score: score (5), signalValue (7), pValue (8), qValue (9) "
                   "(default: score)")
    p.add_argument("--max-width", type=int, help="drop OCRs longer than this, bp")
    p.add_argument("--annotation", help="transcripts: GTF (.gtf[.gz]; transcript and exon features) or BED "
                   "(.bed[.gz]; 6+ columns with strand, BED12 blocks = exons)")
    p.add_argument("--exons", help="exons as BED (3+ columns); replaces the annotation's exons")
    p.add_argument("--min-tss-distance", type=int, default=0,
                   help="drop OCRs with a TSS closer than this, bp, from any of their bases (needs --annotation; "
                   "default: 0, off)")
    p.add_argument("--no-exon-overlap", action="store_true",
                   help="drop OCRs sharing a base with an exon (needs --annotation or --exons)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..selection import SelectionSettings, select_ocrs

    settings = SelectionSettings(
        max_width=args.max_width,
        min_score=args.min_score,
        score_column=args.score_column,
        standard_chroms=args.standard_chroms,
        chrom_pattern=args.chrom_pattern,
        min_tss_distance=args.min_tss_distance,
        no_exon_overlap=args.no_exon_overlap,
    )
    counts = select_ocrs(args.peaks, args.out, settings, args.annotation, args.exons, args.report)
    dropped = ", ".join(f"{reason} {n}" for reason, n in counts.items() if reason not in ("peaks", "kept"))
    log.info("%d of %d OCRs kept in %s (dropped: %s)", counts["kept"], counts["peaks"], args.out, dropped)
    return 0
