"""``tacit score``: score one species' ortholog sequences with a trained CNN (forward and reverse complement)."""

from __future__ import annotations

import argparse

from ..scoring import PRECISIONS


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "score",
        help="score FASTA sequences with a trained model; writes id<TAB>score",
        description="Each score is the mean of the model's outputs on the sequence and its reverse complement. "
        "Every record must have the model's input length; an empty FASTA gives a header-only table.",
    )
    p.add_argument("--model", required=True, help="trained model (.keras, or legacy .h5)")
    p.add_argument("--fasta", required=True, help="sequences to score (plain or gzip FASTA)")
    p.add_argument("--out", required=True, help="output TSV with header 'id<TAB>score' (.gz for gzip)")
    p.add_argument("--threads", type=int, help="TensorFlow intra-op threads (default: TensorFlow's choice)")
    p.add_argument("--batch-size", type=int, default=256, help="sequences per model call (default: 256)")
    p.add_argument("--part", type=int, default=0,
                   help="with --parts: score batches PART, PART+PARTS, ... of --batch-size records (0-based)")
    p.add_argument("--parts", type=int, default=1, help="split the batches into this many interleaved parts")
    p.add_argument("--precision", choices=PRECISIONS, default="auto",
                   help="auto (default): mixed_float16 when TensorFlow sees a GPU, else float32; mixed_bfloat16 "
                   "suits CPUs with bfloat16 units (Intel AMX): ~4x faster there, scores ~1e-4 from float32's")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..scoring import score_fasta

    score_fasta(args.model, args.fasta, args.out, batch_size=args.batch_size, threads=args.threads,
                part=(args.part, args.parts), precision=args.precision)
    return 0
