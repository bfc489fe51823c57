"""``tacit maf-orthologs``: orthologs of reference OCRs in every species of a MAF alignment (HALPER rules)."""

from __future__ import annotations

import argparse
import logging

from . import add_stitch_options, stitch_settings

log = logging.getLogger(__name__)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "maf-orthologs",
        help="map reference OCRs through a MAF to every species; one narrowPeak per species and qc.tsv",
        description="Lift each OCR and its summit through a MAF whole-genome alignment in one streaming pass, "
        "and stitch the aligned fragments into one ortholog per species as HALPER does.",
    )
    p.add_argument("--maf", required=True, help="MAF alignment (plain or gzip/bgzip), sorted by reference position")
    p.add_argument("--peaks", required=True, help="reference OCRs (narrowPeak, summit in column 10)")
    p.add_argument("--reference", required=True, help="reference species, as before the first dot of MAF source names")
    p.add_argument("--out-dir", required=True, help="writes SPECIES.narrowPeak for every species, and qc.tsv")
    p.add_argument("--species-list", help="species to report besides those of the MAF, one per line")
    p.add_argument("--only", action="store_true",
                   help="map and write only the species of --species-list (one of several jobs splitting the "
                   "species; files and QC rows are those of a single run)")
    p.add_argument("--qc-name", default="qc.tsv", help="file name of the QC table in --out-dir (default: qc.tsv)")
    add_stitch_options(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..errors import InputError
    from ..orthologs import map_orthologs, read_species_list
    from ..peaks import read_narrowpeak

    settings = stitch_settings(args)
    peaks = read_narrowpeak(args.peaks)
    species = read_species_list(args.species_list) if args.species_list else []
    if args.only and not args.species_list:
        raise InputError("--only needs --species-list")
    result = map_orthologs(args.maf, peaks, args.reference, args.out_dir, species, settings,
                           only=species if args.only else None, qc_name=args.qc_name)
    for row in result.qc_rows():
        log.info("%s: %d of %d peaks mapped", row["species"], row["mapped"], row["n_peaks"])
    log.info("wrote %d species files and %s to %s", len(result.species), args.qc_name, args.out_dir)
    return 0
