"""Scoring throughput of ``tacit score`` with the TACIT architecture, against float32 matmul FLOP/s in this process.

Usage: python benchmarks/scoring.py [--sequences 2000] [--threads 2] [--batch-size 256] [--spec models/...json]
                                    [--precisions float32,mixed_bfloat16]

An untrained model (weights do not change the cost) scores N random 500-bp sequences through
:func:`tacit.scoring.score_fasta` (FASTA reading, one-hot, forward + reverse complement, writing), once per
precision. Achieved FLOP/s counts 2 x the spec's FLOPs per sequence (both strands). Baseline: a 2048 x 2048
float32 matmul in TensorFlow with the same thread settings (best run before or after scoring), the practical
float32 peak of this machine; reduced-precision rows also show their share of the same matmul in their 16-bit
compute type. The largest difference from the float32 scores is printed for each reduced precision.
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


def matmul_flops(n: int = 2048, repeats: int = 10, dtype: str = "float32") -> float:
    """Best-of-``repeats`` FLOP/s of an ``n x n`` matmul in ``dtype`` (2 n^3 FLOPs)."""
    import tensorflow as tf

    a = tf.cast(tf.random.stateless_uniform((n, n), seed=(1, 2)), dtype)
    b = tf.cast(tf.random.stateless_uniform((n, n), seed=(3, 4)), dtype)
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
    parser.add_argument("--precisions", default="float32,mixed_bfloat16",
                        help="comma-separated tacit score --precision values (first one is the reference)")
    args = parser.parse_args()
    precisions = args.precisions.split(",")
    configure_tensorflow(args.threads)
    spec = load_spec(args.spec)
    width = spec["input_length"]
    rng = np.random.default_rng(0)
    records = [(f"s{i}", "".join(rng.choice(list("ACGT"), width))) for i in range(args.sequences)]
    before = matmul_flops()
    seconds, scores = {}, {}
    with tempfile.TemporaryDirectory() as tmp:
        model_path, fasta = Path(tmp) / "model.keras", Path(tmp) / "seqs.fa"
        save_model(build_model(spec, seed=1), model_path)
        write_fasta(records, fasta)
        write_fasta(records[:8], Path(tmp) / "warmup.fa")
        for precision in precisions:
            # Warm-up: starts TensorFlow's runtime; the timed call still loads the model and traces its graph, as
            # every `tacit score` run does.
            score_fasta(model_path, Path(tmp) / "warmup.fa", Path(tmp) / "warmup.tsv", batch_size=args.batch_size,
                        precision=precision)
            out = Path(tmp) / f"{precision}.tsv"
            start = time.perf_counter()
            score_fasta(model_path, fasta, out, batch_size=args.batch_size, precision=precision)
            seconds[precision] = time.perf_counter() - start
            scores[precision] = np.loadtxt(out, skiprows=1, usecols=1)
    # Best of before and after scoring, as other load on the machine can only slow the baseline down.
    peak = max(before, matmul_flops())
    print(f"float32 matmul (2048^2, {args.threads} threads): {peak / 1e9:,.1f} GFLOP/s")
    print(f"{spec['name']}: {flops_per_sequence(spec) / 1e9:.2f} GFLOP per sequence and strand, "
          f"batch size {args.batch_size}")
    reference = precisions[0]
    for precision in precisions:
        rate = args.sequences / seconds[precision]
        achieved = rate * 2 * flops_per_sequence(spec)
        line = (f"tacit score --precision {precision}: {args.sequences} sequences in {seconds[precision]:.1f} s "
                f"= {rate:,.1f} sequences/s ({achieved / 1e9:,.1f} GFLOP/s, {achieved / peak:.0%} of float32 matmul")
        if precision.startswith("mixed_"):
            compute = precision.removeprefix("mixed_")
            line += f", {achieved / matmul_flops(dtype=compute):.0%} of {compute} matmul"
        if precision != reference:
            line += (f"; {seconds[reference] / seconds[precision]:.2f}x {reference}, scores within "
                     f"{np.abs(scores[precision] - scores[reference]).max():.1e}")
        print(line + ")")


if __name__ == "__main__":
    main()
