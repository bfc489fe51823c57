"""``tacit sequences``: summit-centred windows of one species' orthologs, as FASTA, with a QC row."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

log = logging.getLogger(__name__)

QC_COLUMNS = ("species", "n_orthologs", "extracted", "off_contig", "missing_chrom", "too_many_n")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "sequences",
        help="cut fixed-width windows around ortholog summits from a genome FASTA",
        description="Cut [summit - width//2, summit - width//2 + width) from the genome (reverse complement on '-'); "
        "drop windows off the sequence ends, on sequences missing from the FASTA, or with too many N.",
    )
    p.add_argument("--orthologs", required=True, help="orthologs of one species (narrowPeak from maf-orthologs)")
    p.add_argument("--genome", required=True, help="genome FASTA of that species (indexed with .fai, built if missing)")
    p.add_argument("--out", required=True, help="output FASTA (.gz for gzip); record ids are OCR names")
    p.add_argument("--qc", required=True, help="output one-row TSV: " + ", ".join(QC_COLUMNS))
    p.add_argument("--width", type=int, default=500, help="window length, bp (default: 500)")
    p.add_argument("--max-n-fraction", type=float, default=0.05,
                   help="drop windows with a larger fraction of non-ACGT bases (default: 0.05)")
    p.add_argument("--species", help="species name for the QC row (default: the orthologs file name without suffix)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..io import atomic_writer
    from ..peaks import read_narrowpeak
    from ..sequences import extract_windows, write_fasta

    orthologs = read_narrowpeak(args.orthologs)
    records, dropped = extract_windows(args.genome, orthologs, width=args.width, max_n_fraction=args.max_n_fraction)
    write_fasta(records, args.out)
    species = args.species or Path(args.orthologs).name.split(".")[0]
    row = {"species": species, "n_orthologs": len(orthologs), "extracted": len(records), **dropped}
    with atomic_writer(args.qc) as handle:
        handle.write("\t".join(QC_COLUMNS) + "\n")
        handle.write("\t".join(str(row[key]) for key in QC_COLUMNS) + "\n")
    log.info("%s: %d of %d orthologs extracted (%s)", species, len(records), len(orthologs),
             ", ".join(f"{k} {v}" for k, v in dropped.items()))
    return 0
