"""``tacit train``: train a tissue CNN on reference OCRs against negatives of several kinds, holding out
chromosomes."""

from __future__ import annotations

import argparse
import logging

log = logging.getLogger(__name__)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "train",
        help="train a tissue CNN (positives: OCR summits; negatives: BED, closed orthologs, other tissues' OCRs, "
        "GC-matched windows, shuffled positives) with chromosome hold-out",
        description="Windows centred on OCR summits (positives) against negatives of any combination of kinds "
        "(at least one): BED intervals' midpoints, other tissues' OCR summits (those overlapping a positive "
        "dropped), GC-matched genome windows, dinucleotide-shuffled positives. Chromosomes in --val-chroms and "
        "--test-chroms are held out (windows of every kind). Reverse-complement augmentation, balanced class "
        "weights, Adam, early stopping on validation AUPRC. Writes model.keras, metrics.tsv (AUROC, AUPRC per "
        "split, overall and per negative kind), history.tsv, heldout_predictions.tsv, windows.tsv (windows per "
        "kind, dropped by reason) and card.md into --out-dir.",
    )
    p.add_argument("--spec", required=True, help="model spec JSON (models/*.json)")
    p.add_argument("--genome", required=True, help="reference genome FASTA (indexed with .fai, built if missing)")
    p.add_argument("--positives", required=True, nargs="+", help="narrowPeak file(s) of the tissue's OCRs")
    p.add_argument("--negatives", action="append", default=[], metavar="[KIND=]BED",
                   help="BED file of negative regions, kind 'bed' unless named KIND= (lower case, digits, _) "
                   "(repeatable)")
    p.add_argument("--closed-orthologs", action="append", default=[], metavar="BED",
                   help="BED of regions whose orthologs are closed in the tissue (kind closed_orthologs; repeatable)")
    p.add_argument("--other-tissue-peaks", action="append", default=[], metavar="NARROWPEAK",
                   help="other tissues' OCRs (kind other_tissue; those overlapping a positive are dropped; "
                   "repeatable)")
    p.add_argument("--gc-matched", type=float, default=0.0, metavar="N",
                   help="GC-matched genome windows per positive, overlapping no positive (kind gc_matched; "
                   "default 0)")
    p.add_argument("--shuffled-positives", type=int, default=0, metavar="K",
                   help="dinucleotide shuffles of each positive window (kind shuffled; default 0)")
    p.add_argument("--species", nargs=4, action="append", default=[],
                   metavar=("NAME", "GENOME", "PEAKS", "ORTHOLOGS"),
                   help="the tissue in another species (repeatable): its genome, its OCRs (narrowPeak, its "
                   "coordinates) and the reference OCRs' orthologs there (narrowPeak, column 4 = reference OCR). Its "
                   "OCRs overlapping such an ortholog add positives; orthologs overlapping none of its OCRs add "
                   "closed_orthologs negatives (TACIT's main negatives); both are held out with the reference OCR's "
                   "chromosome")
    p.add_argument("--out-dir", required=True, help="output directory")
    p.add_argument("--width", type=int, default=500, help="window length, bp; must equal the spec's input_length")
    p.add_argument("--val-chroms", nargs="*", default=[], help="validation chromosomes (early stopping)")
    p.add_argument("--test-chroms", nargs="*", default=[], help="test chromosomes (reported only)")
    p.add_argument("--seed", type=int, default=1, help="random seed (default: 1)")
    p.add_argument("--threads", type=int, help="TensorFlow intra-op threads (default: TensorFlow's choice)")
    p.add_argument("--tissue", default="tissue", help="tissue name for the model card")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..negatives import named_region_file
    from ..training import SpeciesData, train

    negatives = [named_region_file(value) for value in args.negatives]
    metrics = train(args.spec, args.genome, args.positives, negatives, args.out_dir, args.width,
                    args.val_chroms, args.test_chroms, seed=args.seed, threads=args.threads, tissue=args.tissue,
                    closed_orthologs=args.closed_orthologs, other_tissue_peaks=args.other_tissue_peaks,
                    gc_matched=args.gc_matched, shuffled=args.shuffled_positives,
                    species=[SpeciesData(*values) for values in args.species])
    log.info("wrote %s (test AUROC %.4f, AUPRC %.4f)", args.out_dir, metrics["test"]["auroc"], metrics["test"]["auprc"])
    return 0
