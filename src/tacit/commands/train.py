"""``tacit train``: train a tissue CNN on reference OCRs against negatives, holding out chromosomes."""

from __future__ import annotations

import argparse
import logging

log = logging.getLogger(__name__)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "train",
        help="train a tissue CNN (positives: OCR summits; negatives: BED) with chromosome hold-out",
        description="Windows centred on OCR summits (positives) and on negative intervals' midpoints; chromosomes "
        "in --val-chroms and --test-chroms are held out. Reverse-complement augmentation, balanced class weights, "
        "Adam, early stopping on validation AUPRC. Writes model.keras, metrics.tsv, history.tsv, "
        "heldout_predictions.tsv and card.md into --out-dir.",
    )
    p.add_argument("--spec", required=True, help="model spec JSON (models/*.json)")
    p.add_argument("--genome", required=True, help="reference genome FASTA (indexed with .fai, built if missing)")
    p.add_argument("--positives", required=True, nargs="+", help="narrowPeak file(s) of the tissue's OCRs")
    p.add_argument("--negatives", required=True, action="append", help="BED file of negative regions (repeatable)")
    p.add_argument("--out-dir", required=True, help="output directory")
    p.add_argument("--width", type=int, default=500, help="window length, bp; must equal the spec's input_length")
    p.add_argument("--val-chroms", nargs="*", default=[], help="validation chromosomes (early stopping)")
    p.add_argument("--test-chroms", nargs="*", default=[], help="test chromosomes (reported only)")
    p.add_argument("--seed", type=int, default=1, help="random seed (default: 1)")
    p.add_argument("--threads", type=int, help="TensorFlow intra-op threads (default: TensorFlow's choice)")
    p.add_argument("--tissue", default="tissue", help="tissue name for the model card")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..training import train

    metrics = train(args.spec, args.genome, args.positives, args.negatives, args.out_dir, args.width,
                    args.val_chroms, args.test_chroms, seed=args.seed, threads=args.threads, tissue=args.tissue)
    log.info("wrote %s (test AUROC %.4f, AUPRC %.4f)", args.out_dir, metrics["test"]["auroc"], metrics["test"]["auprc"])
    return 0
