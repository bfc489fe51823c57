"""Scoring throughput of ``tacit score`` with the TACIT architecture, against float32 matmul FLOP/s in this process.

Usage: python benchmarks/scoring.py [--sequences 2000] [--threads 2] [--batch-size 256] [--spec models/...json]

An untrained model (weights do not change the cost) scores N random 500-bp sequences through
:func:`tacit.scoring.score_fasta` (FASTA reading, one-hot, forward + reverse complement, writing). Achieved FLOP/s
counts 2 x the spec's FLOPs per sequence (both strands). Baseline: a 2048 x 2048 float32 matmul in TensorFlow with
the same thread settings (best run before or after scoring), the practical float32 peak of this machine.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from tacit.model import build_model, configure_tensorflow, flops_per_sequence, load_spec, save_model
from tacit.scoring import score_fasta
from tacit.sequences import write_fasta

TACIT_SPEC = Path(__file__).resolve().parents[1] / "models" / "tacit-500bp-conv5.json"


def matmul_flops(n: int = 2048, repeats: int = 10) -> float:
    """Best-of-``repeats`` FLOP/s of an ``n x n`` float32 matmul (2 n^3 FLOPs)."""
    import tensorflow as tf

    a = tf.random.stateless_uniform((n, n), seed=(1, 2))
    b = tf.random.stateless_uniform((n, n), seed=(3, 4))
    tf.linalg.matmul(a, b).numpy()  # warm-up
    best = np.inf
    for _ in range(repeats):
        start = time.perf_counter()
        tf.linalg.matmul(a, b).numpy()
        best = min(best, time.perf_counter() - start)
    return 2.0 * n ** 3 / best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spec", default=str(TACIT_SPEC))
    parser.add_argument("--sequences", type=int, default=2000)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=256)
    args = parser.parse_args()
    configure_tensorflow(args.threads)
    spec = load_spec(args.spec)
    width = spec["input_length"]
    rng = np.random.default_rng(0)
    records = [(f"s{i}", "".join(rng.choice(list("ACGT"), width))) for i in range(args.sequences)]
    before = matmul_flops()
    with tempfile.TemporaryDirectory() as tmp:
        model_path, fasta = Path(tmp) / "model.keras", Path(tmp) / "seqs.fa"
        save_model(build_model(spec, seed=1), model_path)
        write_fasta(records, fasta)
        write_fasta(records[:8], Path(tmp) / "warmup.fa")
        # Warm-up: starts TensorFlow's runtime; the timed call still loads the model and traces its graph, as
        # every `tacit score` run does.
        score_fasta(model_path, Path(tmp) / "warmup.fa", Path(tmp) / "warmup.tsv", batch_size=args.batch_size)
        start = time.perf_counter()
        score_fasta(model_path, fasta, Path(tmp) / "scores.tsv", batch_size=args.batch_size)
        seconds = time.perf_counter() - start
    # Best of before and after scoring, as other load on the machine can only slow the baseline down.
    peak = max(before, matmul_flops())
    print(f"float32 matmul (2048^2, {args.threads} threads): {peak / 1e9:,.1f} GFLOP/s")
    rate = args.sequences / seconds
    achieved = rate * 2 * flops_per_sequence(spec)
    print(f"{spec['name']}: {flops_per_sequence(spec) / 1e9:.2f} GFLOP per sequence and strand")
    print(f"tacit score: {args.sequences} sequences in {seconds:.1f} s = {rate:,.1f} sequences/s "
          f"({achieved / 1e9:,.1f} GFLOP/s, {achieved / peak:.0%} of matmul)")


if __name__ == "__main__":
    main()
