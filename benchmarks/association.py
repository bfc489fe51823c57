"""Association throughput: OCR x permulation fits per second, against a per-fit numpy baseline run here.

Usage: python benchmarks/association.py [--tree TREE] [--ocrs 2000] [--permulations 1000]

Cases (241-species Zoonomia tree when ../shared is present, else a random 241-tip tree):
  distinct  - every OCR has its own species set (15 % missing orthologs at random)
  shared    - all OCRs have every species (one species set)
Baseline: a careful per-fit loop - one Cholesky factor per OCR, whitened least squares per permulation.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import pandas as pd

from tacit.association import AssociationSettings, associate
from tacit.tables import PredictionMatrix
from tacit.tree import Tree, read_tree, simulate_bm, tip_covariance

ZOONOMIA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "zoonomia" / "zoonomia_241.nwk"


def random_tree(n: int, rng: np.random.Generator) -> Tree:
    nodes = [f"S{i}:{rng.uniform(0.01, 0.2):.4f}" for i in range(n)]
    while len(nodes) > 1:
        a, b = sorted(rng.choice(len(nodes), 2, replace=False))[::-1]
        nodes.append(f"({nodes.pop(a)},{nodes.pop(b)}):{rng.uniform(0.01, 0.2):.4f}")
    return Tree.from_newick(nodes[0].rsplit(":", 1)[0] + ";")


def baseline_rate(tree: Tree, x: np.ndarray, trait: np.ndarray, n_fits: int, rng: np.random.Generator) -> float:
    """Per-fit loop: whiten by the Cholesky factor of the OCR's covariance, lstsq per permulation."""
    present = np.isfinite(x)
    tips = np.flatnonzero(present)
    chol = np.linalg.cholesky(tip_covariance(tree, tips))
    design = np.linalg.solve(chol, np.column_stack([np.ones(len(tips)), x[present]]))
    y = trait[present]
    start = time.perf_counter()
    for _ in range(n_fits):
        wy = np.linalg.solve(chol, rng.permutation(y))
        beta, rss, *_ = np.linalg.lstsq(design, wy, rcond=None)
        np.sqrt(rss[0] / (len(y) - 2) * np.linalg.inv(design.T @ design)[1, 1])
    return n_fits / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tree", default=str(ZOONOMIA))
    parser.add_argument("--ocrs", type=int, default=2000)
    parser.add_argument("--permulations", type=int, default=1000)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    tree = read_tree(args.tree) if Path(args.tree).exists() else random_tree(241, rng)
    trait = simulate_bm(tree, 1, rng)[: tree.n_tips, 0]
    act = simulate_bm(tree, args.ocrs, rng)[: tree.n_tips].T
    base = baseline_rate(tree, np.where(rng.random(tree.n_tips) < 0.15, np.nan, act[0]), trait, 2000, rng)
    print(f"tree: {tree.n_tips} species; baseline per-fit loop: {base:,.0f} fits/s")
    settings = AssociationSettings(permulations=args.permulations, max_permulations=args.permulations, seed=1)
    series = pd.Series(trait, index=tree.tip_names)
    for case in ("distinct", "shared"):
        values = act.copy()
        if case == "distinct":
            values[rng.random(values.shape) < 0.15] = np.nan
        matrix = PredictionMatrix([f"ocr{i}" for i in range(args.ocrs)], tree.tip_names, values)
        # Warm-up on 20 OCRs: the compiled loops are loaded (or compiled, on a first run) once per process.
        associate(PredictionMatrix(matrix.ocrs[:20], matrix.species, values[:20]), tree, series, settings)
        start = time.perf_counter()
        associate(matrix, tree, series, settings)
        rate = args.ocrs * args.permulations / (time.perf_counter() - start)
        print(f"{case:9s} {rate:14,.0f} OCR*permulations/s   ratio vs per-fit loop: {rate / base:8.1f}x")


if __name__ == "__main__":
    main()
