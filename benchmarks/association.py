"""Association throughput: OCR x permulation fits per second, against per-fit baselines run here.

Usage: python benchmarks/association.py [--tree TREE] [--ocrs 2000] [--permulations 1000]
                                        [--binary-ocrs 200] [--binary-permulations 50]

Cases (241-species Zoonomia tree when ../shared is present, else a random 241-tip tree):
  distinct  - every OCR has its own species set (15 % missing orthologs at random)
  shared    - all OCRs have every species (one species set)
  binary    - phylogenetic logistic regression (phyloglm logistic_MPLE) of a 0/1 trait (the top 15 % of a
              Brownian liability) on activity with 15 % missing orthologs, observed fit and permulations;
              with ../shared, also TACIT's vocal-learning labels (25 of 181 species in 21 foreground clades,
              a count about 1 in 400 Brownian draws has, so drawing permulations costs as much as fitting):
              tacit associate, and fit_batch alone with accepted permulations of the labels as responses
Baselines: continuous - a careful per-fit loop, one Cholesky factor per OCR and whitened least squares per
permulation; binary - per fit, scipy's L-BFGS-B on the numpy penalised likelihood (tacit.phyloglm's
reference implementation, analytic gradient) from phyloglm's start. When Rscript and the R package phylolm
are available, also TACIT's loop in R (benchmarks/r_loop.R: per OCR the pruned tree, then one phylolm or
phyloglm fit per permulation), on 400 continuous and 100 binary fits of the same data; skipped otherwise.
"""

from __future__ import annotations

import argparse
import logging
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from scipy import optimize
from threadpoolctl import threadpool_limits

from tacit import phyloglm
from tacit.association import AssociationSettings, associate
from tacit.binary import _Group, foreground_clades
from tacit.permulation import PermulationSource
from tacit.tables import PredictionMatrix, read_phenotypes
from tacit.tree import Tree, read_tree, simulate_bm, tip_covariance

ZOONOMIA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "zoonomia" / "zoonomia_241.nwk"
VOCAL = ZOONOMIA.with_name("vocal_learning.csv")
R_LOOP = Path(__file__).with_name("r_loop.R")


def r_missing() -> str | None:
    """Why TACIT's R loop cannot run here, or None when it can."""
    if shutil.which("Rscript") is None:
        return "Rscript is not on PATH"
    probe = subprocess.run(["Rscript", "-e", "library(phylolm)"], capture_output=True, text=True)
    return None if probe.returncode == 0 else "the R package phylolm is not installed"


def r_rate(mode: str, tree: Tree, values: np.ndarray, traits: np.ndarray) -> float:
    """Fits per second of benchmarks/r_loop.R: each row of ``values`` (OCR predictions, NaN = no ortholog)
    against each row of ``traits``."""
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        (folder / "tree.nwk").write_text(tree.to_newick() + "\n")
        for name, table in (("x.tsv", values), ("y.tsv", traits)):
            pd.DataFrame(table, columns=tree.tip_names).to_csv(folder / name, sep="\t", index=False, na_rep="NA",
                                                               float_format="%.10g")
        run = subprocess.run(["Rscript", str(R_LOOP), mode, str(folder / "tree.nwk"), str(folder / "x.tsv"),
                              str(folder / "y.tsv")], capture_output=True, text=True)
    if run.returncode:
        raise RuntimeError(f"{R_LOOP.name} failed: {run.stderr.strip()}")
    _, fits, _, seconds = run.stdout.split()
    return int(fits) / float(seconds)


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


def binary_baseline_rate(tree: Tree, xs: np.ndarray, y: np.ndarray, n_fits: int) -> float:
    """Per-fit L-BFGS-B on the numpy penalised likelihood (no compiled code), fits per second."""
    geom = phyloglm.tree_geometry(tree)
    centre = np.log(geom.tmax)
    start = time.perf_counter()
    for i in range(n_fits):
        design = np.column_stack([np.ones(tree.n_tips), xs[i % len(xs)]])

        def negative(theta: np.ndarray) -> tuple[float, np.ndarray]:
            with np.errstate(all="ignore"):  # trial points where the likelihood does not exist
                value, _, grad = phyloglm.penalised_loglik(geom, design, y, theta[:2], np.exp(-theta[2]), grad=True)
            return (-value, -grad) if np.isfinite(value) else (1e10, np.zeros(3))

        theta0 = np.append(phyloglm._glm_start(design, y, phyloglm.BTOL), centre)
        optimize.minimize(negative, theta0, jac=True, method="L-BFGS-B",
                          bounds=[(None, None), (None, None), (centre - 4, centre + 4)])
    return n_fits / (time.perf_counter() - start)


def binary_case(tree: Tree, rng: np.random.Generator, n_ocrs: int, permulations: int, with_r: bool) -> None:
    liability = simulate_bm(tree, 1, rng)[: tree.n_tips, 0]
    y = (liability >= np.quantile(liability, 0.85)).astype(float)
    act = simulate_bm(tree, n_ocrs, rng)[: tree.n_tips].T
    base = binary_baseline_rate(tree, act[:20], y, 20)
    # The compiled batch alone: every OCR (all species) against `permulations` random 0/1 responses.
    geom = phyloglm.tree_geometry(tree)
    ys = np.array([rng.permutation(y) for _ in range(permulations)])
    pairs = np.array([(i, j) for i in range(n_ocrs) for j in range(permulations)])
    phyloglm.fit_phyloglm(geom, act[0], y, exact=True)  # load (or compile) the exact maximiser's code
    rate, exact = batch_rate(geom, act, ys, pairs)
    print(f"binary    {rate:14,.0f} fits/s (fit_batch, {len(pairs):,} fits, {exact} by the exact maximiser)"
          f"   ratio vs per-fit L-BFGS-B ({base:,.0f} fits/s): {rate / base:6.1f}x")
    values = act.copy()
    values[rng.random(values.shape) < 0.15] = np.nan
    matrix = PredictionMatrix([f"ocr{i}" for i in range(n_ocrs)], tree.tip_names, values)
    settings = AssociationSettings(trait_type="binary", permulations=permulations, max_permulations=permulations,
                                   seed=1, max_draws_per_permulation=2000)
    series = pd.Series(y, index=tree.tip_names)
    associate(PredictionMatrix(matrix.ocrs[:3], matrix.species, values[:3]), tree, series, settings)  # warm-up
    start = time.perf_counter()
    table = associate(matrix, tree, series, settings)
    took = time.perf_counter() - start
    fits = int(table["perm_trials"].fillna(0).sum() + table["status"].isin(["ok", "alpha_at_bound"]).sum())
    print(f"binary    {fits / took:14,.0f} fits/s (tacit associate: {n_ocrs} OCRs x {permulations} permulations, "
          f"distinct species sets, {took:.1f} s)")
    vocal = vocal_labels(tree)
    if vocal is not None:  # TACIT's trait: its clade count is rare under BM, so most draws are rejected
        associate(PredictionMatrix(matrix.ocrs[:3], matrix.species, values[:3]), tree, vocal, settings)
        start = time.perf_counter()
        table = associate(matrix, tree, vocal, settings)
        took_vocal = time.perf_counter() - start
        vocal_fits = int(table["perm_trials"].fillna(0).sum() + table["status"].isin(["ok", "alpha_at_bound"]).sum())
        print(f"binary    {vocal_fits / took_vocal:14,.0f} fits/s (tacit associate, TACIT's vocal-learning labels: "
              f"{int(vocal.sum())} of {len(vocal)} species, {took_vocal:.1f} s)   ratio vs per-fit L-BFGS-B: "
              f"{vocal_fits / took_vocal / base:6.1f}x")
        vocal_batch(tree, vocal, rng, n_ocrs, permulations)
    if with_r:
        r = r_rate("glm", tree, values[:10], ys[:10])
        print(f"R phyloglm loop {r:9,.1f} fits/s   ratio vs R: fit_batch {rate / r:,.0f}x, "
              f"tacit associate {fits / took / r:,.0f}x" +
              (f", vocal-learning labels {vocal_fits / took_vocal / r:,.0f}x" if vocal is not None else ""))


def vocal_batch(tree: Tree, vocal: pd.Series, rng: np.random.Generator, n_ocrs: int, permulations: int) -> None:
    """``fit_batch`` on TACIT's own binary trait: the tree of the labelled species, responses that are accepted
    permulations of the labels (the top k of a Brownian draw, with the observed number of foreground clades,
    drawn as tacit associate draws them), Brownian predictors. Unlike the permuted responses above (most of
    whose fits end with alpha at its bound), about half of these fits end on the ridge slopes = 0 and 9-11 % go
    to the exact maximiser."""
    sub = tree.keep_tips(vocal.index)
    labels = vocal.reindex(sub.tip_names).to_numpy(dtype=float)
    geom = phyloglm.tree_geometry(sub, dense=False)
    # the permulations tacit associate draws for a species set with every labelled species
    group = _Group(np.ones(sub.n_tips, dtype=bool), geom, labels, int(labels.sum()),
                   int(foreground_clades(sub, labels.astype(bool))))
    group.accept_until(PermulationSource(sub, seed=1), permulations, 10_000 * permulations)
    ys = group.take(0, permulations).astype(float)
    act = simulate_bm(sub, n_ocrs, rng)[: sub.n_tips].T
    rate, exact = batch_rate(geom, act, ys, np.array([(i, j) for i in range(n_ocrs) for j in range(permulations)]))
    print(f"binary    {rate:14,.0f} fits/s (fit_batch, {n_ocrs * permulations:,} fits on TACIT's vocal-learning "
          f"labels: {sub.n_tips} species, accepted permulations as responses, {exact} by the exact maximiser)")


def batch_rate(geom: phyloglm.TreeGeometry, xs: np.ndarray, ys: np.ndarray, pairs: np.ndarray) -> tuple[float, int]:
    """Fits per second of :func:`tacit.phyloglm.fit_batch` on ``pairs``, and how many it handed to the exact
    maximiser; after a small batch that loads (or, on a first run, compiles) the compiled climb."""
    # (the first pairs on the whole arrays: they may use any row of ys, and the compiled climb does not
    # check indices)
    phyloglm.fit_batch(geom, xs, ys, pairs[:4])
    # BLAS on one thread, as tacit associate sets it: a threaded BLAS call in the exact maximiser wakes threads
    # that spin on the cores the helper threads climb on.
    with threadpool_limits(limits=1, user_api="blas"):
        start = time.perf_counter()
        batch = phyloglm.fit_batch(geom, xs, ys, pairs)
        return len(pairs) / (time.perf_counter() - start), batch.exact


def vocal_labels(tree: Tree) -> pd.Series | None:
    """TACIT's vocal-learning labels (../shared) on the tree's species, or None where they are absent."""
    if not VOCAL.exists():
        return None
    # Zoonomia's species without a label are left out of every run, which associate logs at WARNING each
    # time; the benchmark's line gives the number of species used instead.
    logging.getLogger("tacit.association").setLevel(logging.ERROR)
    trait = read_phenotypes(VOCAL, "Vocal_Learner", binary=True)  # TACIT's file as it is ('Species Name')
    trait = trait[trait.index.isin(tree.tip_names)]
    return trait if len(trait) else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tree", default=str(ZOONOMIA))
    parser.add_argument("--ocrs", type=int, default=2000)
    parser.add_argument("--permulations", type=int, default=1000)
    parser.add_argument("--binary-ocrs", type=int, default=200)
    parser.add_argument("--binary-permulations", type=int, default=50)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    tree = read_tree(args.tree) if Path(args.tree).exists() else random_tree(241, rng)
    trait = simulate_bm(tree, 1, rng)[: tree.n_tips, 0]
    act = simulate_bm(tree, args.ocrs, rng)[: tree.n_tips].T
    base = baseline_rate(tree, np.where(rng.random(tree.n_tips) < 0.15, np.nan, act[0]), trait, 2000, rng)
    print(f"tree: {tree.n_tips} species; baseline per-fit loop: {base:,.0f} fits/s")
    settings = AssociationSettings(permulations=args.permulations, max_permulations=args.permulations, seed=1)
    series = pd.Series(trait, index=tree.tip_names)
    rates = {}
    distinct = act.copy()
    distinct[rng.random(distinct.shape) < 0.15] = np.nan
    for case in ("distinct", "shared"):
        values = distinct if case == "distinct" else act
        matrix = PredictionMatrix([f"ocr{i}" for i in range(args.ocrs)], tree.tip_names, values)
        # Warm-up on 20 OCRs: the compiled loops are loaded (or compiled, on a first run) once per process.
        associate(PredictionMatrix(matrix.ocrs[:20], matrix.species, values[:20]), tree, series, settings)
        start = time.perf_counter()
        associate(matrix, tree, series, settings)
        rate = args.ocrs * args.permulations / (time.perf_counter() - start)
        print(f"{case:9s} {rate:14,.0f} OCR*permulations/s   ratio vs per-fit loop: {rate / base:8.1f}x")
        rates[case] = rate
    missing = r_missing()
    if missing:
        print(f"R loop: skipped ({missing})")
    else:
        perm_rng = np.random.default_rng(2)  # its own stream: the cases below see the same data with or without R
        r = r_rate("lm", tree, distinct[:20], np.array([perm_rng.permutation(trait) for _ in range(20)]))
        print(f"R phylolm loop {r:10,.0f} fits/s   ratio vs R: distinct {rates['distinct'] / r:,.0f}x, "
              f"shared {rates['shared'] / r:,.0f}x")
    if args.binary_ocrs:
        binary_case(tree, rng, args.binary_ocrs, args.binary_permulations, with_r=not missing)


if __name__ == "__main__":
    main()
