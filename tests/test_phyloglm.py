"""Phylogenetic logistic regression against an independent dense implementation and R phyloglm's output."""

from __future__ import annotations

import functools
import math
import sys

import numba
import numpy as np
import pandas as pd
import pytest
from scipy import linalg, optimize

from tacit.phyloglm import fit_many, fit_phyloglm, penalised_loglik, tree_geometry
from tacit.tables import read_matrix, read_phenotypes
from tacit.tree import Tree, read_tree, simulate_bm, tip_covariance

from conftest import multifurcating_tree, shared_path


# ------------------------------------------------------------------------------ independent reference
def random_tree(n: int, rng: np.random.Generator) -> Tree:
    """Random rooted binary tree with unequal tip depths (not ultrametric), as Newick then parsed."""
    nodes = [f"t{i}" for i in range(n)]
    while len(nodes) > 1:
        i, j = sorted(rng.choice(len(nodes), size=2, replace=False))
        a, b = nodes.pop(j), nodes.pop(i)
        la, lb = rng.exponential(0.3, size=2)
        nodes.append(f"({a}:{la:.6f},{b}:{lb:.6f})")
    return Tree.from_newick(nodes[0] + ";")


def reference_penalised_loglik(tree: Tree, x: np.ndarray, y: np.ndarray, beta: np.ndarray, alpha: float) -> float:
    """Ives & Garland (2010) penalised log-likelihood written from the model, not from tacit.phyloglm.

    The latent chain uses the rate matrix ``alpha [[-p, p], [q, -q]]`` and ``scipy.linalg.expm``, pruned by
    recursion; the emission matrix is written per tip; the Firth penalty is ``log det(I) / 2`` with a dense
    inverse; patristic distances come from ``tip_covariance`` (shared path lengths).
    """
    design = np.column_stack([np.ones(len(x)), x])
    mu = 1.0 / (1.0 + np.exp(-design @ beta))
    p = mu.mean()
    q = 1.0 - p
    rates = alpha * np.array([[-p, p], [q, -q]])

    def emission(i: int) -> np.ndarray:  # P(y_i | latent state 0), P(y_i | latent state 1)
        if mu[i] < p:
            p_one = np.array([0.0, mu[i] / p])
        else:
            p_one = np.array([1.0 - (1.0 - mu[i]) / q, 1.0])
        return p_one if y[i] == 1 else 1.0 - p_one

    def partial(node: int) -> np.ndarray:
        if node < tree.n_tips:
            return emission(node)
        out = np.ones(2)
        for child in tree.children[node]:
            out *= linalg.expm(rates * tree.length[child]) @ partial(child)
        return out

    loglik = math.log(np.array([q, p]) @ partial(tree.root))
    shared = tip_covariance(tree)
    distance = np.diag(shared)[:, None] + np.diag(shared)[None, :] - 2.0 * shared
    m = np.where(mu < p, mu * math.sqrt(q / p), (1.0 - mu) * math.sqrt(p / q))
    cov = np.outer(m, m) * np.exp(-alpha * distance)
    np.fill_diagonal(cov, mu * (1.0 - mu))
    z = (mu * (1.0 - mu))[:, None] * design
    info = z.T @ np.linalg.inv(cov) @ z
    return loglik + 0.5 * math.log(np.linalg.det(info))


def reference_maximum(tree: Tree, x: np.ndarray, y: np.ndarray, starts: list[np.ndarray]) -> np.ndarray:
    """Best of Nelder-Mead runs (tight tolerances, restarted until stable) within phyloglm's bounds."""
    design = np.column_stack([np.ones(len(x)), x])
    log_tmax = math.log(tree.depths()[: tree.n_tips].mean())

    def negative(theta: np.ndarray) -> float:
        if abs(theta[2] - log_tmax) > 4 or np.max(np.abs(design @ theta[:2])) > 10:
            return 1e10  # outside the bounds (finite, so the simplex arithmetic stays finite)
        return -reference_penalised_loglik(tree, x, y, theta[:2], math.exp(-theta[2]))

    best = None
    for start in starts:
        res = optimize.minimize(negative, start, method="Nelder-Mead",
                                options={"xatol": 1e-10, "fatol": 1e-13, "maxfev": 5000})
        for _ in range(3):  # restarting Nelder-Mead rebuilds a fresh simplex around the point
            res = optimize.minimize(negative, res.x, method="Nelder-Mead",
                                    options={"xatol": 1e-10, "fatol": 1e-13, "maxfev": 5000})
        if best is None or res.fun < best.fun:
            best = res
    return best.x


def simulated(n: int, slope: float, seed: int) -> tuple[Tree, np.ndarray, np.ndarray]:
    """Predictor and liability both Brownian on a random tree; ``y = [slope x + liability > 0]``."""
    rng = np.random.default_rng(seed)
    tree = random_tree(n, rng)
    traits = simulate_bm(tree, 2, rng)[: tree.n_tips]
    x = traits[:, 0] / traits[:, 0].std()
    y = (slope * x + traits[:, 1] / traits[:, 1].std() > 0).astype(float)
    return tree, x, y


# ------------------------------------------------------------------------------------------- tests
def test_penalised_loglik_equals_reference_formula():
    tree, x, y = simulated(12, 1.5, seed=3)
    geom = tree_geometry(tree)
    design = np.column_stack([np.ones(len(x)), x])
    rng = np.random.default_rng(4)
    for _ in range(5):
        beta = rng.normal(0.0, 1.0, size=2)
        alpha = math.exp(rng.normal(0.0, 1.0))
        ours = penalised_loglik(geom, design, y, beta, alpha)[0]
        # Same quantity by different arithmetic (expm vs closed form, dense inverse vs solve): rounding only.
        assert ours == pytest.approx(reference_penalised_loglik(tree, x, y, beta, alpha), rel=1e-10)


@pytest.mark.parametrize("newick", [None, "((A:0.3,B:0.1,C:0.2):0.4,(D:0.5,(E:0.25,F:0.1):0.0):0.3);"])
def test_three_point_penalty_equals_dense(newick):
    tree = random_tree(30, np.random.default_rng(8)) if newick is None else Tree.from_newick(newick)
    n = tree.n_tips
    rng = np.random.default_rng(6)
    design = np.column_stack([np.ones(n), rng.standard_normal(n), rng.standard_normal(n)])  # one covariate
    y = (rng.random(n) < 0.5).astype(float)
    dense, linear = tree_geometry(tree, dense=True), tree_geometry(tree, dense=False)
    for beta, alpha in [(np.array([0.1, 0.8, -0.3]), 2.0), (np.array([-1.0, 2.0, 0.5]), 0.3)]:
        a = penalised_loglik(dense, design, y, beta, alpha, grad=True)
        b = penalised_loglik(linear, design, y, beta, alpha, grad=True)
        # Exact algebra two ways (Cholesky of C vs the three-point recursion): agreement to rounding.
        assert a[0] == pytest.approx(b[0], rel=1e-11)
        np.testing.assert_allclose(a[2], b[2], rtol=1e-9, atol=1e-11)


def test_gradient_equals_finite_differences():
    tree, x, y = simulated(15, 1.0, seed=5)
    geom = tree_geometry(tree)
    design = np.column_stack([np.ones(len(x)), x])
    theta = np.array([0.2, 0.7, 0.3])
    _, _, grad = penalised_loglik(geom, design, y, theta[:2], math.exp(-theta[2]), grad=True)
    h = 1e-6
    numeric = []
    for k in range(3):
        step = np.zeros(3)
        step[k] = h
        up = penalised_loglik(geom, design, y, (theta + step)[:2], math.exp(-(theta + step)[2]))[0]
        down = penalised_loglik(geom, design, y, (theta - step)[:2], math.exp(-(theta - step)[2]))[0]
        numeric.append((up - down) / (2 * h))
    # Central differences with h = 1e-6 carry ~1e-9 truncation and ~1e-10 rounding error (no tip is within
    # h of its kink mu_i = p at this point).
    np.testing.assert_allclose(grad, numeric, rtol=1e-6, atol=1e-8)


def test_optimum_equals_independent_maximisation():
    tree, x, y = simulated(16, 1.0, seed=11)
    fit = fit_phyloglm(tree, x, y)
    assert fit.status == "ok"
    log_tmax = math.log(tree.depths()[: tree.n_tips].mean())
    starts = [np.array([0.0, 0.5, log_tmax]), np.array([0.5, 2.0, log_tmax - 1]), np.array([-0.5, 4.0, log_tmax + 1])]
    ref = reference_maximum(tree, x, y, starts)
    # Nelder-Mead with xatol 1e-10 locates a smooth maximum to ~1e-7 in coefficients; 1e-4 relative leaves
    # room for a maximum on a kink (mu_i = p), where the simplex converges more slowly.
    assert fit.coef == pytest.approx(ref[1], rel=1e-4)
    assert fit.intercept == pytest.approx(ref[0], rel=1e-4, abs=1e-6)
    assert math.log(fit.alpha) == pytest.approx(-ref[2], abs=1e-4)
    ref_value = reference_penalised_loglik(tree, x, y, ref[:2], math.exp(-ref[2]))
    assert fit.penalised_loglik >= ref_value - 1e-9  # ours is the maximum, up to rounding


def test_one_class_and_constant_predictor_are_not_fitted():
    tree, x, _ = simulated(10, 1.0, seed=2)
    fit = fit_phyloglm(tree, x, np.zeros(10))
    assert fit.status == "one_class" and math.isnan(fit.pvalue) and not fit.converged
    y = np.array([0, 1] * 5, dtype=float)
    assert fit_phyloglm(tree, np.full(10, 0.4), y).status == "singular_design"


def test_strong_association_has_small_p():
    tree, x, y = simulated(40, 1.5, seed=1)
    fit = fit_phyloglm(tree, x, y)
    assert fit.status == "ok" and fit.coef > 0
    assert fit.pvalue < 0.01
    assert fit.z == pytest.approx(fit.coef / fit.se, rel=1e-12)
    assert fit.pvalue == pytest.approx(math.erfc(abs(fit.z) / math.sqrt(2)), rel=1e-9)  # 2 (1 - Phi(|z|))


def test_polytomy_equals_zero_length_resolution():
    polytomy = Tree.from_newick("((A:0.3,B:0.1,C:0.2):0.4,(D:0.5,E:0.25):0.3);")
    resolved = Tree.from_newick("(((A:0.3,B:0.1):0.0,C:0.2):0.4,(D:0.5,E:0.25):0.3);")  # multi2di's way
    design = np.column_stack([np.ones(5), [0.1, 0.5, -0.3, 1.2, 0.4]])
    y = np.array([0, 1, 0, 1, 1], dtype=float)
    a = penalised_loglik(tree_geometry(polytomy), design, y, np.array([0.1, 0.8]), 2.0)[0]
    b = penalised_loglik(tree_geometry(resolved), design, y, np.array([0.1, 0.8]), 2.0)[0]
    # A zero-length branch is an identity transition and adds nothing to distances: equal to rounding.
    assert a == pytest.approx(b, rel=1e-12)


def test_dense_and_three_point_fits_agree():
    tree, x, y = simulated(40, 1.5, seed=4)
    dense = fit_phyloglm(tree_geometry(tree, dense=True), x, y)
    linear = fit_phyloglm(tree_geometry(tree, dense=False), x, y)
    # Same objective to ~1e-14, same climb: the optima agree far below any reporting precision.
    assert linear.coef == pytest.approx(dense.coef, rel=1e-6)
    assert linear.pvalue == pytest.approx(dense.pvalue, rel=1e-6)
    assert linear.status == dense.status == "ok"


def test_fit_many_prunes_each_row():
    tree, x, y = simulated(12, 2.0, seed=9)
    rows = np.vstack([x, np.where(np.arange(12) % 4 == 0, np.nan, x)])
    fits = fit_many(tree, rows, y)
    assert fits[0].coef == fit_phyloglm(tree, x, y).coef
    keep = ~np.isnan(rows[1])
    pruned = tree.keep_tips([n for n, k in zip(tree.tip_names, keep) if k])
    assert fits[1].coef == fit_phyloglm(pruned, x[keep], y[keep]).coef
    assert fits[1].n_species == keep.sum()


# --------------------------------------------------------------------------------- R phyloglm parity
def _reference_fits() -> tuple[pd.DataFrame, list]:
    """Our fits of phylolm_small with TACIT's rules (see shared/reference/README.md), beside R's table."""
    base = shared_path("reference", "phylolm_small")
    tree = read_tree(base / "tree.nwk")
    matrix = read_matrix(base / "matrix.tsv", base / "species.txt")
    pheno = read_phenotypes(base / "pheno.csv", "bin_trait", binary=True)
    tips = set(tree.tip_names)
    common = [s for s in matrix.species if s in tips and s in pheno.index]
    tree = tree.keep_tips(common)
    columns = [matrix.species.index(s) for s in tree.tip_names]
    x = matrix.values[:, columns]
    coverage = (~np.isnan(x)).sum(axis=1) >= 0.5 * len(common)
    fits = fit_many(tree, x[coverage], pheno[tree.tip_names].to_numpy())
    by_ocr = dict(zip(np.array(matrix.ocrs)[coverage], fits))
    ref = pd.read_csv(base / "out_glm_tight.csv")
    return ref, [by_ocr.get(ocr) for ocr in ref["OCR"]]


@pytest.fixture(scope="module")
def parity():
    return _reference_fits()


def test_parity_with_r_phyloglm(parity):
    ref, fits = parity
    rows = []
    for i, fit in enumerate(fits):
        r = ref.iloc[i]
        if r["status"] != "ok" or r["convergence"] != 0 or r["alphaWarn"] != 0:
            continue  # README: not reliable references
        rows.append((r, fit))
    assert len(rows) > 100
    usable = [(r, f) for r, f in rows if not _r_stayed_at_start(r, f)]
    # phyloglm once returns its starting point (alpha = 1 / Tmax, slope 0) with convergence 0: R never
    # optimised there (our penalised log-likelihood is higher by ~10). Such a row is no reference.
    assert len(rows) - len(usable) <= 2
    assert all(f.status == "ok" for _, f in usable)
    penalty_gap = np.array([f.penalised_loglik - r["penlogLik"] for r, f in usable])
    # We maximise the same function further: not below R's value beyond rounding of its 17-digit output. Where
    # two local maxima lie on either side of a tip's kink (mu_i = p), which one a climb reaches depends on its
    # path: the compiled climb may stop at the other one, at most 1e-4 lower (statistically the same fit).
    assert np.mean(penalty_gap >= -1e-6) >= 0.99
    assert penalty_gap.min() >= -1e-4
    dp = np.array([abs(f.pvalue - r["pvalue"]) for r, f in usable])
    rel_p = dp / np.array([r["pvalue"] for r, _ in usable])
    # R's "converged" optimum is still a finite-difference L-BFGS-B stop; where it stops short (gap > 0) p can
    # differ slightly. 1e-3 relative on >= 95 % of rows, and never more than 0.05 absolute.
    assert np.mean(rel_p <= 1e-3) >= 0.95
    assert dp.max() <= 0.05
    # Coefficients relative to max(|coef|, SE): on rows whose optimum is the cusp at coef = 0, R stops at
    # |coef| ~ 1e-5 SE (optimiser noise) and we land on 0 exactly; 1e-3 SE is immaterial to any test.
    dcoef = np.array([abs(f.coef - r["coef"]) / max(abs(r["coef"]), r["se"]) for r, f in usable])
    assert np.mean(dcoef <= 1e-3) >= 0.95
    off_cusp = [(r, f) for r, f in usable if f.coef != 0.0]
    assert len(off_cusp) > 30
    assert np.mean([abs(f.coef / r["coef"] - 1.0) <= 1e-3 for r, f in off_cusp]) >= 0.95  # plain relative


def _r_stayed_at_start(r: pd.Series, fit) -> bool:
    """R's estimate is its own start: slope 0 (its fallback start) and alpha = 1 / Tmax."""
    return abs(r["coef"]) < 1e-12 and abs(r["alpha"] * fit.mean_tip_height - 1.0) < 1e-9


def test_parity_statuses(parity):
    ref, fits = parity
    for i, fit in enumerate(fits):
        status = ref["status"].iloc[i]
        if status == "skipped_coverage":
            assert fit is None
        elif status.startswith("error"):  # the constant OCR: glm gives NA, phyloglm stops
            assert fit.status == "singular_design"
        else:
            assert fit is not None and fit.status in ("ok", "alpha_at_bound", "not_converged")


# ------------------------------------------------------------------------------------ compiled path
def test_compiled_penalised_loglik_equals_numpy_with_forced_branches():
    from tacit import logistic_kernels

    rng = np.random.default_rng(21)
    checked = forced = 0
    for n, dk in ((25, 2), (40, 3)):
        tree = random_tree(n, rng)
        geom = tree_geometry(tree, dense=False)
        design = np.column_stack([np.ones(n)] + [rng.standard_normal(n) for _ in range(dk - 1)])
        y = (rng.random(n) < 0.4).astype(float)
        for _ in range(8):
            beta, lam = rng.normal(0.0, 0.3, dk), rng.normal(0.0, 1.0)
            mu = 1.0 / (1.0 + np.exp(-design @ beta))
            # Tips take their natural side but the three nearest their kink take the other: the piece beyond
            # the kink, as the exact maximiser evaluates it when it works on a kink.
            below = mu < mu.mean()
            near = np.argsort(np.abs(mu - mu.mean()))[:3]
            near = near[np.abs(mu[near] - mu.mean()) < 0.02]
            below[near] = ~below[near]
            forced += len(near)
            ref = penalised_loglik(geom, design, y, beta, math.exp(-lam), grad=True, below=below)
            grad, info = np.zeros(dk + 1), np.empty((dk, dk))
            value, loglik = logistic_kernels.evaluate(
                geom.row_tip, geom.tip_row, geom.length, geom.age, geom.parent_of, design, y, np.append(beta, lam),
                True, grad, info, *logistic_kernels.workspace(len(geom.age), dk), below.astype(np.int8))
            if not math.isfinite(ref[0]):  # the forced piece does not exist here (an emission beyond [0, 1])
                assert value == -math.inf
                continue
            checked += 1
            # The same algebra in scalar loops (one exponential per node instead of one per branch): rounding.
            assert value == pytest.approx(ref[0], rel=1e-11) and loglik == pytest.approx(ref[1], rel=1e-11)
            np.testing.assert_allclose(grad, ref[2], rtol=1e-8, atol=1e-10)
    assert checked >= 12 and forced >= 3


def test_compiled_penalised_loglik_equals_numpy_where_the_likelihood_underflows():
    """1,500 species: the likelihood (about e^-1215) is far below the smallest double, so the compiled pruning
    pass must rescale its partials (it does so only when a node's sum leaves [1e-150, 1e150]) and keep the
    logarithms of the scales."""
    from tacit import logistic_kernels

    rng = np.random.default_rng(3)
    n = 1500
    tree = random_tree(n, rng)
    geom = tree_geometry(tree, dense=False)
    design = np.column_stack([np.ones(n), rng.standard_normal(n)])
    y = (rng.random(n) < 0.4).astype(float)
    beta, lam = np.array([-0.4, 0.3]), 0.2
    ref = penalised_loglik(geom, design, y, beta, math.exp(-lam), grad=True)
    assert ref[1] < -700  # exp(loglik) underflows
    grad, info = np.zeros(3), np.empty((2, 2))
    value, loglik = logistic_kernels.evaluate(
        geom.row_tip, geom.tip_row, geom.length, geom.age, geom.parent_of, design, y, np.append(beta, lam), True,
        grad, info, *logistic_kernels.workspace(len(geom.age), 2), np.full(n, -1, dtype=np.int8))
    assert value == pytest.approx(ref[0], rel=1e-11) and loglik == pytest.approx(ref[1], rel=1e-11)
    np.testing.assert_allclose(grad, ref[2], rtol=1e-8, atol=1e-10)


@pytest.mark.parametrize("dk", [2, 3])
def test_compiled_gradient_on_multifurcating_trees(dk):
    """The gradient's pass back down the chain hands each child the product of its siblings' messages (two
    or more siblings, in any order) and the three-point pass's back through zero-length branches: equal to
    the numpy forward derivatives."""
    from tacit import logistic_kernels

    rng = np.random.default_rng(40 + dk)
    n = 50
    tree = multifurcating_tree(n, rng)
    assert max(len(c) for c in tree.children) >= 3 and (tree.length[n:] == 0.0).sum() >= 3
    geom = tree_geometry(tree, dense=False)
    design = np.column_stack([np.ones(n)] + [rng.standard_normal(n) for _ in range(dk - 1)])
    y = (rng.random(n) < 0.4).astype(float)
    for _ in range(5):
        beta, lam = rng.normal(0.0, 0.4, dk), rng.normal(0.0, 1.0)
        ref = penalised_loglik(geom, design, y, beta, math.exp(-lam), grad=True)
        grad, info = np.zeros(dk + 1), np.empty((dk, dk))
        value, _ = logistic_kernels.evaluate(
            geom.row_tip, geom.tip_row, geom.length, geom.age, geom.parent_of, design, y, np.append(beta, lam), True,
            grad, info, *logistic_kernels.workspace(len(geom.age), dk), np.full(n, -1, dtype=np.int8))
        assert value == pytest.approx(ref[0], rel=1e-11)
        np.testing.assert_allclose(grad, ref[2], rtol=1e-8, atol=1e-10)


@pytest.mark.parametrize("dk", [2, 3])
def test_gradient_after_the_value_equals_the_joint_evaluation(dk):
    """The climb's line search evaluates the value alone and asks for the gradient only at the point it
    accepts: that gradient comes from what the last value left behind and must be the joint one, bit for bit,
    also after points where the value does not exist."""
    from tacit import logistic_kernels as lk

    rng = np.random.default_rng(60 + dk)
    n = 40
    tree = multifurcating_tree(n, rng)
    geom = tree_geometry(tree, dense=False)
    kt = (geom.row_tip, geom.tip_row, geom.length, geom.age, geom.parent_of)
    design = np.column_stack([np.ones(n)] + [rng.standard_normal(n) for _ in range(dk - 1)])
    y = (rng.random(n) < 0.4).astype(float)
    force = np.full(n, -1, dtype=np.int8)
    work = lk.workspace(len(geom.age), dk)
    state = lk._new_state.py_func(n, len(geom.age), dk)  # numpy: see logistic_kernels.workspace
    info = np.empty((dk, dk))
    points = [np.append(rng.normal(0.0, 0.5, dk), rng.normal(0.0, 1.0)) for _ in range(6)]
    points.insert(3, np.append(np.full(dk, 400.0), 0.0))  # mu rounds to 1: no value
    work_joint = lk.workspace(len(geom.age), dk)  # the kept path's work arrays see only its own evaluations
    for theta in points:
        joint = np.zeros(dk + 1)
        ref, _ = lk.evaluate(*kt, design, y, theta, True, joint, info, *work_joint, force)
        value, _ = lk.evaluate_kept(*kt, design, y, theta, info, *work, force, state)
        assert value == ref or (math.isinf(value) and math.isinf(ref))
        if not math.isfinite(value):
            continue
        grad = np.zeros(dk + 1)
        lk.gradient_kept(*kt, design, y, grad, *work, state)
        np.testing.assert_array_equal(grad, joint)


@pytest.mark.parametrize("n, dk", [(30, 2), (45, 3), (60, 4), (1500, 2)])
def test_ridge_evaluation_equals_the_general_one(n, dk):
    """On the ridge (every slope 0) the compiled climb uses evaluate_ridge, which takes the Fisher information
    as p q G(alpha): its value and its derivatives along the intercept and log(1/alpha) must equal the numpy
    penalised likelihood's there, also where the likelihood underflows (1,500 species)."""
    from tacit import logistic_kernels

    rng = np.random.default_rng(n + dk)
    tree = random_tree(n, rng)
    geom = tree_geometry(tree, dense=False)
    design = np.column_stack([np.ones(n)] + [rng.standard_normal(n) for _ in range(dk - 1)])
    y = (rng.random(n) < 0.3).astype(float)
    for _ in range(4):
        beta = np.zeros(dk)
        beta[0] = rng.normal(0.0, 1.5)
        lam = rng.normal(0.0, 1.5)
        ref = penalised_loglik(geom, design, y, beta, math.exp(-lam), grad=True)
        grad = np.full(dk + 1, np.nan)
        value = logistic_kernels.evaluate_ridge(
            geom.row_tip, geom.tip_row, geom.length, geom.age, geom.parent_of, design, y, np.append(beta, lam), grad,
            *logistic_kernels.workspace(len(geom.age), dk))
        assert value == pytest.approx(ref[0], rel=1e-11)
        np.testing.assert_allclose(grad[[0, dk]], ref[2][[0, dk]], rtol=1e-8, atol=1e-9)
        assert np.all(grad[1:dk] == 0.0)


def _random_sets(count: int, n: int, seed: int):
    rng = np.random.default_rng(seed)
    for k in range(count):
        tree = random_tree(n, rng)
        traits = simulate_bm(tree, 2, rng)[: tree.n_tips]
        x = traits[:, 0] / traits[:, 0].std()
        y = ((0.0, 0.5, 1.5)[k % 3] * x + traits[:, 1] / traits[:, 1].std() > rng.normal(0, 0.5)).astype(float)
        if 0 < y.sum() < n:
            yield tree, x, y


def test_compiled_climb_reaches_the_exact_maximisers_optimum():
    from tacit.phyloglm import _Objective, _stationary

    agree, total = 0, 0
    for tree, x, y in _random_sets(60, 40, seed=31):
        geom = tree_geometry(tree)
        fast, exact = fit_phyloglm(geom, x, y), fit_phyloglm(geom, x, y, exact=True)
        total += 1
        assert fast.status in ("ok", "alpha_at_bound") and fast.converged
        # Every compiled fit is a local maximum by the exact path's own Karush-Kuhn-Tucker check.
        obj = _Objective(geom, np.column_stack([np.ones(len(x)), x]), y, 10.0, 4.0)
        assert _stationary(obj, np.append(fast.coefficients, -math.log(fast.alpha)))
        same = abs(fast.coef - exact.coef) <= 1e-5 * max(abs(exact.coef), exact.se) and \
            abs(fast.pvalue - exact.pvalue) <= 1e-5
        agree += same
        if not same:  # another local maximum (kink-separated, path-dependent): never a much lower one
            assert fast.penalised_loglik >= exact.penalised_loglik - 1e-4
    assert total >= 50 and agree >= 0.95 * total


def test_compiled_climb_settles_fits_with_alpha_at_its_bound():
    """Responses without phylogenetic signal put alpha on its upper bound (log(1/alpha) on its lower one).
    The climb then holds that coordinate, and its curvature estimate must not learn from that coordinate's
    gradient, which keeps changing with beta: before that rule, 27 of these 1,000 fits on the Zoonomia tree
    crawled until the iteration limit and went to the exact maximiser (now 1).

    Every settled fit checked is a local maximum by the exact path's own Karush-Kuhn-Tucker check, and most
    are the exact maximiser's. Where kinks separate several local maxima, the two climbs (BFGS here, L-BFGS-B
    there) can stop at different ones: of the 968 settled fits of this case off the ridge, 58 differ, 17 of them
    lower than the exact maximiser's (by up to 0.56 in penalised log-likelihood)."""
    from tacit import logistic_kernels
    from tacit.phyloglm import _kernel_tree, _Objective, _stationary

    tree = read_tree(shared_path("data", "zoonomia", "zoonomia_241.nwk"))
    rng = np.random.default_rng(1)
    liability = simulate_bm(tree, 1, rng)[: tree.n_tips, 0]
    y = (liability >= np.quantile(liability, 0.85)).astype(float)
    xs = simulate_bm(tree, 40, rng)[: tree.n_tips].T
    ys = np.array([rng.permutation(y) for _ in range(25)])
    pairs = np.array([(i, j) for i in range(40) for j in range(25)])
    geom = tree_geometry(tree)
    centre = math.log(geom.tmax)
    theta, se = np.zeros((len(pairs), 3)), np.ones((len(pairs), 2))
    code, value = np.zeros(len(pairs), dtype=np.int64), np.zeros((len(pairs), 2))
    logistic_kernels.fit_pairs(*_kernel_tree(geom), xs, ys, np.zeros((tree.n_tips, 0)), pairs, centre - 4.0,
                               centre + 4.0, centre, 10.0, theta, se, code, value, np.zeros(len(pairs), dtype=np.int64))
    at_bound = np.isclose(theta[:, 2], centre - 4.0) & (code == logistic_kernels.SETTLED)
    assert at_bound.sum() >= 500
    assert (code == logistic_kernels.NOT_CONVERGED).sum() <= 5
    sample = np.flatnonzero(at_bound)[::5]
    same = 0
    for t in sample:
        x, y_t = xs[pairs[t, 0]], ys[pairs[t, 1]]
        exact = fit_phyloglm(geom, x, y_t, exact=True)
        same += abs(value[t, 0] - exact.penalised_loglik) <= 1e-6
        assert _stationary(_Objective(geom, np.column_stack([np.ones(len(x)), x]), y_t, 10.0, 4.0), theta[t])
    assert same >= 0.9 * len(sample), (same, len(sample))  # measured: 171 of 177


@functools.cache
def _kink_case():
    """Fits on a random 241-tip tree with Brownian responses (top 15 %), of which a few have their maximum on
    a tip's kink: the compiled fits and the settled ones on a kink (off the ridge)."""
    from scipy.special import expit

    from tacit import logistic_kernels
    from tacit.phyloglm import _kernel_tree

    rng = np.random.default_rng(3)
    tree = random_tree(241, rng)
    n = tree.n_tips
    xs = simulate_bm(tree, 25, rng)[:n].T
    liability = simulate_bm(tree, 40, rng)[:n].T
    ys = (liability >= np.quantile(liability, 0.85, axis=1, keepdims=True)).astype(float)
    pairs = np.array([(i, j) for i in range(25) for j in range(40)])
    geom = tree_geometry(tree)
    centre = math.log(geom.tmax)
    theta, se = np.zeros((len(pairs), 3)), np.ones((len(pairs), 2))
    code, value = np.zeros(len(pairs), dtype=np.int64), np.zeros((len(pairs), 2))
    logistic_kernels.fit_pairs(*_kernel_tree(geom), xs, ys, np.zeros((n, 0)), pairs, centre - 4.0, centre + 4.0,
                               centre, 10.0, theta, se, code, value, np.zeros(len(pairs), dtype=np.int64))
    gap = np.array([np.abs((mu := expit(theta[t, 0] + theta[t, 1] * xs[i])) - mu.mean()).min()
                    for t, (i, _) in enumerate(pairs)])
    on_kink = np.flatnonzero((code == logistic_kernels.SETTLED) & (gap < 1e-12) & (theta[:, 1] != 0.0))
    return geom, xs, ys, pairs, theta, value, code, on_kink, se


def _climb_arguments(geom):
    """What the compiled climbs of one-predictor fits on ``geom`` take besides the data, as fit_pairs sets it:
    the tree's arrays, the start and bounds of log(1/alpha), btol and a workspace."""
    from tacit import logistic_kernels as lk
    from tacit.phyloglm import _kernel_tree

    tree_args = _kernel_tree(geom)
    centre = math.log(geom.tmax)
    return tree_args, centre, centre - 4.0, centre + 4.0, 10.0, lk.workspace(len(tree_args[3]), 2)


def test_compiled_climb_settles_maxima_on_a_tips_kink():
    """Where the maximum lies on one tip's kink mu_i = p, the climb stalls there, zigzagging across it. The
    compiled path then climbs along that kink (the intercept set to keep the tip on it) and settles the fit
    when both sides of the kink fall; before, every such fit went to the exact maximiser. A fit settled on
    a kink passes the exact path's own Karush-Kuhn-Tucker check and equals its optimum (SLSQP on the kink):
    the same value or higher, the coefficient within 1e-4 of the larger of |coef| and its SE (the
    likelihood is flat along the kink to ~1e-12, so its maximiser is known to no better)."""
    from tacit import logistic_kernels
    from tacit.phyloglm import _Objective, _stationary

    geom, xs, ys, pairs, theta, value, code, on_kink, _ = _kink_case()
    n = xs.shape[1]
    stalled = (code == logistic_kernels.NOT_CONVERGED).sum()  # left to the exact maximiser (e.g. two kinks)
    assert len(on_kink) >= 10 and stalled < len(on_kink), (len(on_kink), stalled)  # measured: 17 and 3
    for t in on_kink:
        x, y = xs[pairs[t, 0]], ys[pairs[t, 1]]
        exact = fit_phyloglm(geom, x, y, exact=True)
        assert _stationary(_Objective(geom, np.column_stack([np.ones(n), x]), y, 10.0, 4.0), theta[t])
        assert value[t, 0] >= exact.penalised_loglik - 1e-9
        assert abs(theta[t, 1] - exact.coef) <= 1e-4 * max(abs(exact.coef), exact.se)


def test_climb_turns_to_the_kink_once_it_zigzags_and_reaches_the_same_maximum():
    """The main climb stops once KINK_STOP accepted points in a row keep one tip within KINK_ON of its kink,
    and the climb along that kink starts there, not where a full climb stalls dozens of evaluations later
    (if the kink is not kept from there, the main climb goes on). For the fits of ``_kink_case`` settled on a
    kink: the early stop fires and saves evaluations, and the fit's maximum equals the maximum along the kink
    from the stalled full climb (value to 1e-9 relative, coefficient to 1e-4 of max(|coef|, SE), as the kink
    test compares with the exact path)."""
    from tacit import logistic_kernels as lk

    geom, xs, ys, pairs, theta, value, code, on_kink, se = _kink_case()
    tree_args, centre, lo, hi, btol, work = _climb_arguments(geom)
    n = xs.shape[1]
    fired = compared = saved = 0
    for t in on_kink:
        x = np.column_stack([np.ones(n), xs[pairs[t, 0]]])
        y = ys[pairs[t, 1]]
        beta, _ = lk.glm_start(x, y, btol)
        runs = []
        for kink_stop in (0, lk.KINK_STOP):
            point = np.array([beta[0], beta[1], centre])
            force = np.full(n, -1, dtype=np.int8)
            runs.append((point, *lk.climb(*tree_args, x, y, point, np.ones(3, dtype=np.bool_), lo, hi, btol, True,
                                          *work, force, np.zeros((3, 3)), np.empty((3, 2)), False, -1,
                                          kink_stop)))
        (full, _, stalled, used_full), (_, stop, _, used_early) = runs
        if stop == lk.KINK_STALL:
            fired += 1
            saved += used_full - used_early
            assert used_early < used_full, (t, used_early, used_full)
        tip, _, _ = lk._nearest_kinks(full, x, 2)
        kept, top, _ = lk._climb_kink(*tree_args, x, y, full, stalled, tip, lo, hi, btol, *work,
                                      np.empty((3, 2)))
        if kept:
            compared += 1
            assert abs(value[t, 0] - top) <= 1e-9 * abs(top), (t, value[t, 0], top)
            assert abs(theta[t, 1] - full[1]) <= 1e-4 * max(abs(full[1]), se[t, 1]), t
    # Measured: 17 of 17 fired, saving 39 evaluations each on average; 14 compared.
    assert fired >= 0.8 * len(on_kink) and saved >= 20 * fired and compared >= 10, (fired, saved, compared)


def test_ridge_check_stops_once_the_ridge_is_out_of_reach_with_the_same_decisions():
    """An interior maximum is settled only when the ridge slopes = 0 holds no higher one. The climb on the
    ridge needs to tell only that: with the interior value as its target it stops (BELOW_TARGET) once its
    curvature estimate, borne out by its last two steps, puts the target out of reach. On the fits of
    ``_kink_case`` whose main climb settles off the ridge (including those handed over because their ridge is
    higher): every stopped climb is below its target and below the full climb's
    maximum, the decision (ridge lower or not) is the full climb's for every fit, and the check saves
    evaluations."""
    from tacit import logistic_kernels as lk

    geom, xs, ys, pairs, _, _, code, _, _ = _kink_case()
    tree_args, centre, lo, hi, btol, work = _climb_arguments(geom)
    n = xs.shape[1]
    checked = stopped = saved = higher = 0
    for t in np.flatnonzero((code == lk.SETTLED) | (code == lk.RIDGE_HIGHER)):
        x = np.column_stack([np.ones(n), xs[pairs[t, 0]]])
        y = ys[pairs[t, 1]]
        beta, _ = lk.glm_start(x, y, btol)
        point = np.array([beta[0], beta[1], centre])
        h = np.zeros((3, 3))
        force = np.full(n, -1, dtype=np.int8)
        main, top, _ = lk.climb(*tree_args, x, y, point, np.ones(3, dtype=np.bool_), lo, hi, btol, True, *work, force,
                                h, np.empty((3, 2)), False, -1, lk.KINK_STOP)
        if main != lk.SETTLED:
            continue  # on a kink or on the ridge: not this check
        runs = []
        for target in (-math.inf, top):
            ridge, h_ridge = lk._below_on_ridge(point, h, btol, lo, hi)  # as fit_one starts it
            runs.append(lk._climb_ridge(*tree_args, x, y, ridge, lo, hi, btol, *work, force, h_ridge, target))
        (_, full, used_full), (early, reached, used) = runs
        checked += 1
        higher += not full < top
        assert (reached < top) == (full < top), (t, top, full, reached)
        if early == lk.BELOW_TARGET:
            stopped += 1
            saved += used_full - used
            assert reached <= full and used < used_full, (t, reached, full, used, used_full)
    # Measured: 758 checked, 745 stopped early saving 2,213 evaluations (2.9 per check), 3 with a higher ridge.
    assert checked >= 600 and stopped >= 0.7 * checked and saved >= 2 * checked, (checked, stopped, saved)
    assert higher >= 1, higher  # the case holds ridges that rise above the interior maximum: the check can fail


def test_batch_equals_single_fits():
    from tacit.phyloglm import fit_batch

    sets = list(_random_sets(12, 30, seed=5))
    tree = sets[0][0]
    geom = tree_geometry(tree)
    rng = np.random.default_rng(2)
    xs = simulate_bm(tree, 6, rng)[: tree.n_tips].T
    ys = np.array([(simulate_bm(tree, 1, rng)[: tree.n_tips, 0] > 0).astype(float) for _ in range(8)])
    ys[:, 0], ys[:, 1] = 1.0, 0.0  # both classes in every response
    covariate = rng.standard_normal((tree.n_tips, 1))
    pairs = np.array([(i, j) for i in range(6) for j in range(8)])
    for cov in (None, covariate):
        batch = fit_batch(geom, xs, ys, pairs, cov)
        for t, (i, j) in enumerate(pairs):
            one = fit_phyloglm(geom, xs[i], ys[j], cov)
            # Same kernel and the same exact fallback, on threads: identical numbers.
            assert (batch.coef[t], batch.se[t], batch.pvalue[t], batch.status[t]) == \
                (one.coef, one.se, one.pvalue, one.status)


def test_batch_pairs_beyond_the_arrays_are_refused():
    """The compiled climb does not check indices: a pair naming a missing row is an error, not a fit of
    whatever memory follows the array."""
    from tacit.phyloglm import fit_batch

    tree = next(iter(_random_sets(1, 20, seed=3)))[0]
    geom = tree_geometry(tree)
    rng = np.random.default_rng(0)
    xs = rng.standard_normal((2, tree.n_tips))
    ys = np.tile((np.arange(tree.n_tips) % 2).astype(float), (2, 1))
    for pairs in ([(0, 2)], [(2, 0)], [(-1, 0)]):
        with pytest.raises(IndexError, match="pairs name rows beyond"):
            fit_batch(geom, xs, ys, np.array(pairs))
    assert len(fit_batch(geom, xs, ys, np.array([(1, 1)])).coef) == 1


def _handover_case(count: int = 240, n: int = 120, seed: int = 1):
    """``count`` pairs on a random tree with permulation-like responses (the top fifth of a BM draw), some of
    which the compiled climb hands to the exact maximiser."""
    from tacit import simulate

    rng = np.random.default_rng(seed)
    tree = simulate.random_tree(n, rng)
    act = simulate_bm(tree, count, rng)[:n].T
    top = np.argsort(simulate_bm(tree, count, rng)[:n].T, axis=1)[:, -(n // 5):]
    ys = np.zeros((count, n))
    ys[np.arange(count)[:, None], top] = 1.0
    return tree_geometry(tree), act, ys, np.column_stack([np.arange(count), np.arange(count)])


def _same_fits(a, b) -> bool:
    return a.exact == b.exact and all(np.array_equal(getattr(a, k), getattr(b, k))
                                      for k in ("coef", "se", "z", "pvalue", "status"))


@pytest.mark.skipif(numba.config.NUMBA_NUM_THREADS < 2, reason="one numba thread: batches never use helpers")
def test_batch_fits_do_not_depend_on_threads_parts_or_the_order_batches_finish():
    """With two or more numba threads, helper threads climb a batch's parts while the caller redoes the
    hand-overs; with one, the caller does all. Same fits either way, for any part size, and for batches
    started together and finished in reverse order (as tacit associate pipelines species sets)."""
    from tacit.phyloglm import PendingBatch, fit_batch

    geom, act, ys, pairs = _handover_case()
    interval = sys.getswitchinterval()
    threads = numba.get_num_threads()
    numba.set_num_threads(1)
    try:
        alone = fit_batch(geom, act, ys, pairs)
    finally:
        numba.set_num_threads(threads)
    assert alone.exact >= 3  # the redo is exercised
    for part_size in (None, 1, 7, len(pairs)):
        assert _same_fits(fit_batch(geom, act, ys, pairs, part_size=part_size), alone), part_size
    for reverse in (False, True):  # a thread waiting for one batch's helpers climbs parts of the other
        first, second = PendingBatch(geom, act, ys, pairs[:100]), PendingBatch(geom, act, ys, pairs[100:], part_size=9)
        early, late = (first.result(), second.result()) if not reverse else (second.result(), first.result())[::-1]
        assert second.result() is late and first.result() is early  # finished once
        for name in ("coef", "se", "z", "pvalue", "status"):
            assert np.array_equal(np.concatenate([getattr(early, name), getattr(late, name)]), getattr(alone, name))
        assert early.exact + late.exact == alone.exact
    assert sys.getswitchinterval() == interval  # lowered only while helpers climb
    assert numba.get_num_threads() == threads


@pytest.mark.skipif(numba.config.NUMBA_NUM_THREADS < 2, reason="one numba thread: batches never use helpers")
def test_a_thread_waiting_for_a_helper_climbs_parts_of_a_later_batch(monkeypatch):
    """tacit associate starts a species set's batch before it takes in the last one: while a helper still
    climbs a part of the batch asked for, the calling thread climbs parts of the later one, which that
    batch then takes in as its own."""
    import threading
    import time

    from tacit import logistic_kernels as kernels
    from tacit.phyloglm import PendingBatch, fit_batch

    geom, act, ys, pairs = _handover_case()
    alone = fit_batch(geom, act, ys, pairs)
    real, calls, helper_began = kernels.fit_pairs, [], threading.Event()

    def fit_pairs(*args):
        helper = threading.current_thread().name.startswith("tacit-climb")
        calls.append((helper, int(args[8][0, 0])))
        if helper and not helper_began.is_set():  # the helper's first part (of the first batch) takes long
            helper_began.set()
            time.sleep(1.0)
        real(*args)

    monkeypatch.setattr(kernels, "fit_pairs", fit_pairs)
    first = PendingBatch(geom, act, ys, pairs[:100], part_size=10)
    second = PendingBatch(geom, act, ys, pairs[100:], part_size=10)
    assert helper_began.wait(30)
    early = first.result()
    while_waiting = [start for helper, start in calls if not helper and start >= 100]
    late = second.result()
    assert while_waiting  # this thread climbed parts of the second batch before the first was done
    for name in ("coef", "se", "z", "pvalue", "status"):
        assert np.array_equal(np.concatenate([getattr(early, name), getattr(late, name)]), getattr(alone, name))
    assert early.exact + late.exact == alone.exact


_WORKQUEUE_BATCH = """
import json, sys
import numba
sys.path.insert(0, sys.argv[1])
from test_phyloglm import _handover_case
from tacit.phyloglm import fit_batch
batch = fit_batch(*_handover_case(count=60))
print(json.dumps({"layer": numba.threading_layer(), "threads": numba.get_num_threads(),
                  "coef": batch.coef.tolist(), "exact": batch.exact}))
"""


def test_batches_under_numbas_workqueue_layer_are_climbed_by_the_caller_alone():
    """numba's workqueue layer (its fallback without OpenMP or TBB, e.g. pip wheels on macOS) aborts the
    process when two threads run parallel loops at once: there, no helper threads."""
    import json
    import os
    import subprocess
    from pathlib import Path

    from tacit.phyloglm import fit_batch

    env = {**os.environ, "NUMBA_THREADING_LAYER": "workqueue", "NUMBA_NUM_THREADS": "2"}
    run = subprocess.run([sys.executable, "-c", _WORKQUEUE_BATCH, str(Path(__file__).parent)], env=env,
                         capture_output=True, text=True, timeout=1800)
    assert run.returncode == 0, run.stderr[-3000:]
    out = json.loads(run.stdout.strip().splitlines()[-1])
    assert (out["layer"], out["threads"]) == ("workqueue", 2)
    here = fit_batch(*_handover_case(count=60))
    assert out["coef"] == here.coef.tolist() and out["exact"] == here.exact


def test_a_climb_error_is_raised_by_the_batch_and_stops_its_helpers(monkeypatch):
    from tacit import logistic_kernels as kernels
    from tacit.phyloglm import PendingBatch, fit_batch

    geom, act, ys, pairs = _handover_case(count=60)
    expected = fit_batch(geom, act, ys, pairs)
    real, calls = kernels.fit_pairs, []

    def failing(*args):
        calls.append(int(args[8][0, 0]))
        if args[8][0, 0] in (20, 40):  # two parts: whichever thread climbs them
            raise RuntimeError("climb failed")
        real(*args)

    monkeypatch.setattr(kernels, "fit_pairs", failing)
    interval, threads = sys.getswitchinterval(), numba.get_num_threads()
    pending = PendingBatch(geom, act, ys, pairs, part_size=10)
    for _ in range(2):  # raised again, not retried
        with pytest.raises(RuntimeError, match="climb failed"):
            pending.result()
    assert sys.getswitchinterval() == interval and numba.get_num_threads() == threads
    assert 20 in calls or 40 in calls
    monkeypatch.setattr(kernels, "fit_pairs", real)
    assert _same_fits(fit_batch(geom, act, ys, pairs, part_size=10), expected)  # the helpers still serve


def test_tied_predictions_on_a_kink_give_slsqp_fewer_equality_constraints_than_unknowns(monkeypatch):
    """Tips with equal predictions (species with identical windows) reach their kink together. Each distinct
    row is one constraint for the kink maximiser: scipy's SLSQP (1.17) overruns its work space and corrupts
    memory when it gets more equality constraints than unknowns, which aborted a real demo run."""
    from tacit import phyloglm
    from tacit.phyloglm import _independent_kinks, _Objective, _polish

    rng = np.random.default_rng(4)
    tree = random_tree(35, rng)
    geom = tree_geometry(tree)
    x = np.repeat(np.arange(7) / 10, 5)[rng.permutation(35)]  # 7 values, 5 tips each, symmetric about 0.3
    y = (x + rng.normal(0, 0.15, 35) > 0.3).astype(float)
    obj = _Objective(geom, np.column_stack([np.ones(35), x]), y, 10.0, 4.0)
    # With the linear predictor 0 at x = 0.3, mu(0.3) = 1/2 = p by symmetry: the tips at 0.3 are on their kink.
    theta = np.array([1.5 * 0.3, -1.5, obj.lam_start])
    kinks = obj.kinks(theta)
    assert len(kinks) == 5 and np.all(x[kinks] == 0.3)  # five tips on one kink: one constraint
    assert len(_independent_kinks(obj, theta, kinks)) == 1
    seen = []
    original = optimize.minimize

    def spy(*args, **kwargs):
        eq = [c for c in kwargs.get("constraints", []) if c["type"] == "eq"]
        count = sum(len(np.atleast_1d(c["fun"](args[1]))) for c in eq)
        seen.append(count)
        assert count < len(args[1]), "SLSQP would get more equality constraints than unknowns"
        return original(*args, **kwargs)

    monkeypatch.setattr(phyloglm.optimize, "minimize", spy)
    out = _polish(obj, theta, kinks)
    assert seen == [1] and obj.feasible(out) and obj.value(out) >= obj.value(theta)
    assert abs(obj.kink_gap(out, kinks[0])) < 1e-9 or out is theta
    monkeypatch.undo()
    # Whole fits on heavily tied predictions (random responses) run through every path, exact included.
    for seed in range(6):
        yy = (np.random.default_rng(seed).random(35) < 0.4).astype(float)
        if 0 < yy.sum() < 35:
            fit = fit_phyloglm(geom, x, yy, exact=True)
            assert fit.status in ("ok", "alpha_at_bound") and math.isfinite(fit.z)


def test_kink_constraints_are_independent_with_a_covariate():
    from tacit.phyloglm import _independent_kinks, _Objective

    rng = np.random.default_rng(8)
    tree = random_tree(30, rng)
    x = np.repeat(np.arange(5.0), 6) / 5
    cov = rng.standard_normal(30)
    obj = _Objective(tree_geometry(tree), np.column_stack([np.ones(30), x, cov]), (rng.random(30) < 0.5) * 1.0,
                     10.0, 4.0)
    theta = np.array([0.1, 1.0, 0.5, obj.lam_start])
    every = list(range(30))
    held = _independent_kinks(obj, theta, every)
    assert 1 <= len(held) <= 2  # dk - 1 with dk = 3
    normals = np.array([obj.kink_normal(theta, i, unit=False) for i in held])
    assert np.linalg.matrix_rank(normals) == len(held)
    assert len({tuple(obj.x[i]) for i in held}) == len(held)


def test_predictions_on_any_scale_give_the_same_tests():
    """The model is equivariant under scaling the predictor: z, p and alpha stay, the slope scales inversely.
    Predictions on a scale of 1e6 used to leave fits unconverged (and one reached an infeasible point)."""
    from tacit.phyloglm import fit_batch

    same, total = 0, 0
    for tree, x, y in _random_sets(8, 38, seed=12):
        geom = tree_geometry(tree)
        x = 0.5 + 0.2 * x / np.abs(x).max()  # TACIT's 0-1 scale
        base = fit_phyloglm(geom, x, y)
        for factor in (1e6, 1e-6, 2.0 ** 20):
            batch = fit_batch(geom, (x * factor)[None, :], y[None, :], np.array([[0, 0]]))
            for exact in (False, True):
                fit = fit_phyloglm(geom, x * factor, y, exact=exact)
                assert fit.converged and fit.status in ("ok", "alpha_at_bound") and np.isfinite(fit.z)
                total += 1
                # Tolerance: the scaled fit climbs another path to the same maximum (stopping rules 1e-7).
                # Where the likelihood has several local maxima a path can end at another one (as compiled and
                # exact fits can, test_compiled_climb_reaches_the_exact_maximisers_optimum): counted, bounded.
                same += (fit.status == base.status and fit.z == pytest.approx(base.z, rel=1e-5, abs=1e-6)
                         and fit.coef * factor == pytest.approx(base.coef, rel=1e-5, abs=1e-6)
                         and fit.alpha == pytest.approx(base.alpha, rel=1e-4))
                if not exact:
                    assert batch.z[0] == fit.z and batch.coef[0] == fit.coef  # fit_batch scales as fit_phyloglm
    assert total >= 36 and same >= 0.9 * total, (same, total)


def test_leaving_a_kink_stays_within_the_linear_predictor_bound():
    from tacit.phyloglm import _leave_kink, _Objective

    rng = np.random.default_rng(4)
    tree = random_tree(35, rng)
    x = np.repeat(np.arange(7) / 10, 5)[rng.permutation(35)] * 1e6  # kink steps of 1e-4 would move x beta by 50
    y = (x / 1e6 + rng.normal(0, 0.15, 35) > 0.3).astype(float)
    obj = _Objective(tree_geometry(tree), np.column_stack([np.ones(35), x]), y, 10.0, 4.0)
    theta = np.array([1.5 * 0.3, -1.5e-6, obj.lam_start])
    kinks = obj.kinks(theta)
    assert kinks
    directions = [sign * obj.kink_normal(theta, i) for i in kinks for sign in (1.0, -1.0)]
    out = _leave_kink(obj, theta, directions, 1e-4)
    assert out is None or obj.feasible(out)


def test_compiled_start_equals_glm_irls():
    """The compiled glm start (the climbs' and, by _start, the exact maximiser's) equals the numpy IRLS."""
    from tacit.logistic_kernels import glm_start
    from tacit.phyloglm import BTOL, _glm_start, _start

    rng = np.random.default_rng(8)
    compared = 0
    for case in range(60):
        n, dk = int(rng.integers(12, 300)), int(rng.integers(2, 4))
        x = np.column_stack([np.ones(n), rng.standard_normal((n, dk - 1)) * rng.uniform(0.1, 3.0)])
        eta = x @ rng.normal(0.0, 1.0, dk) + rng.normal(-1.0, 1.0)
        y = (rng.random(n) < 1.0 / (1.0 + np.exp(-eta))).astype(float)
        if y.min() == y.max():
            continue
        beta, ok = glm_start(x, y, BTOL)
        if ok:
            compared += 1
            np.testing.assert_allclose(beta, _glm_start(x, y, BTOL), rtol=1e-8, atol=1e-10, err_msg=str(case))
            assert np.array_equal(_start(x, y, BTOL), beta)
        else:  # glm runs beyond btol on this sample: both fall back
            assert np.all(_glm_start(x, y, BTOL)[1:] == 0.0), case
            assert np.array_equal(_start(x, y, BTOL), _glm_start(x, y, BTOL))
    assert compared >= 40
    # Separation: glm's predictor runs beyond btol, so the compiled start reports it (phyloglm then starts
    # on the ridge, as _glm_start's fallback: slopes 0 and the intercept log(n1 / n0)).
    x = np.column_stack([np.ones(40), np.linspace(-1.0, 1.0, 40)])
    for y in ((x[:, 1] > 0).astype(float), (x[:, 1] > 0.5).astype(float)):
        assert not glm_start(x, y, BTOL)[1]
        assert np.all(_glm_start(x, y, BTOL)[1:] == 0.0)
        expected = [math.log(y.sum() / (len(y) - y.sum())), 0.0]
        np.testing.assert_array_equal(_start(x, y, BTOL), expected)
        np.testing.assert_array_equal(_glm_start(x, y, BTOL), expected)


def test_compiled_inverse_of_positive_definite_matrices():
    from tacit.logistic_kernels import _inverse_pd

    rng = np.random.default_rng(0)
    for n in (1, 2, 3, 4):
        a = rng.standard_normal((n, n + 2))
        m = a @ a.T
        inv = np.empty((n, n))
        assert _inverse_pd(m, inv) == pytest.approx(np.linalg.slogdet(m)[1], rel=1e-12)
        np.testing.assert_allclose(inv, np.linalg.inv(m), rtol=1e-9, atol=1e-12)
    # Ill-conditioned but positive definite (a predictor on a scale of 1e-9): no exception, a finite inverse.
    m = np.array([[1.0, 1e-9], [1e-9, 1.000001e-18]])
    inv = np.empty((2, 2))
    assert np.isfinite(_inverse_pd(m, inv)) and np.all(np.isfinite(inv))
    assert np.isnan(_inverse_pd(np.array([[1.0, 2.0], [2.0, 1.0]]), inv))  # indefinite


def test_vector_exponential_within_one_unit_in_the_last_place_of_libm():
    from tacit.logistic_kernels import exp_scaled

    rng = np.random.default_rng(4)
    # Every binade the fast path covers, both signs, the ends of its range (700) and k ln 2 +- ln(2) / 2.
    v = np.concatenate([rng.uniform(-700.0, 700.0, 20_000), rng.uniform(-2.0, 2.0, 5_000),
                        np.ldexp(rng.uniform(0.5, 1.0, 2_000), rng.integers(-60, 9, 2_000)),
                        -np.ldexp(rng.uniform(0.5, 1.0, 2_000), rng.integers(-60, 9, 2_000)),
                        np.arange(-1000, 1001) * math.log(2.0) / 2.0, [0.0, -0.0, 700.0, -700.0]])
    v = v[np.abs(v) <= 700.0]
    for scale in (1.0, -1.0, 0.5):
        out = np.empty_like(v)
        exp_scaled(scale, v / scale, out, np.empty_like(v))
        ref = np.array([math.exp(t) for t in scale * (v / scale)])
        ulps = np.abs(out - ref) / np.spacing(ref)
        assert ulps.max() <= 1.0, (scale, v[np.argmax(ulps)], ulps.max())
    # Outside the fast path libm decides: overflow, underflow to subnormals and 0, infinities, NaN.
    edge = np.array([700.5, 709.7, 710.0, -700.5, -708.0, -740.0, -746.0, -800.0, np.inf, -np.inf, np.nan])
    out = np.empty_like(edge)
    exp_scaled(1.0, edge, out, np.empty_like(edge))
    with np.errstate(over="ignore"):
        np.testing.assert_array_equal(out, np.exp(edge))


def test_collinearity_check_does_not_depend_on_units():
    from tacit.phyloglm import singular_design

    rng = np.random.default_rng(3)
    x, cov = rng.random(30), rng.standard_normal(30)
    for a, b in ((1.0, 1.0), (1e-6, 1e4), (1e6, 1e-4)):
        assert not singular_design(np.column_stack([np.ones(30), a * x, b * cov]))
        assert singular_design(np.column_stack([np.ones(30), a * x, b * (2 * x + 1)]))  # collinear at any scale


_CACHED_SEQUENCE = """
import json, sys
import numpy as np
from tacit import logistic_kernels, phyloglm, simulate
from tacit.tree import simulate_bm

for seed in range(1, 20):  # data where the compiled climb hands at least one pair to the exact maximiser
    rng = np.random.default_rng(seed)
    tree = simulate.random_tree(241, rng)
    geom = phyloglm.tree_geometry(tree)
    n = tree.n_tips
    act = simulate_bm(tree, 8, rng)[:n].T
    y = (act[0] > np.quantile(act[0], 0.8)).astype(float)
    ys = np.array([y] + [rng.permutation(y) for _ in range(7)])
    pairs = np.array([(i, j) for i in range(1, 8) for j in range(8)])
    batch = phyloglm.fit_batch(geom, act, ys, pairs)  # fit_pairs, then fit_phyloglm(exact=True) from Python
    if batch.exact:
        break
else:
    sys.exit("no pair went to the exact maximiser")
exact = phyloglm.fit_phyloglm(geom, act[1], y, exact=True)
compiled = phyloglm.fit_phyloglm(geom, act[1], y)
work = logistic_kernels.workspace(len(geom.age), 2)
grad, info = np.zeros(3), np.empty((2, 2))
value, _ = logistic_kernels.evaluate(geom.row_tip, geom.tip_row, geom.length, geom.age, geom.parent_of,
                                     np.column_stack([np.ones(n), act[1]]), y, np.array([0.1, 0.2, 0.0]), True,
                                     grad, info, *work, np.full(n, -1, dtype=np.int8))
print(json.dumps({"exact": int(batch.exact), "coef": batch.coef.tolist(), "pvalue": batch.pvalue.tolist(),
                  "single": [exact.coef, exact.pvalue, compiled.coef, compiled.pvalue], "value": value,
                  "grad": grad.tolist()}))
"""


def test_kernels_loaded_from_numba_cache_in_fresh_processes():
    """Workflow jobs load the compiled kernels from numba's cache. Run the associate step's sequence (the
    parallel batch, a hand-over to the exact maximiser, single fits, an evaluation from Python) in two fresh
    processes: the second loads every kernel from the cache. Both must finish and agree bit for bit.

    Guards against a failure seen once while developing: after ``fit_batch`` loaded from the cache, the next
    compiled call from Python raised ``SystemError ... NRT_adapt_ndarray_to_python ... descr is NULL``
    (a compiled function returning arrays both to Python and, as a separate function, to other cached ones;
    :func:`tacit.logistic_kernels.workspace` is therefore numpy)."""
    import json
    import subprocess
    import sys

    outputs = []
    for _ in range(2):
        run = subprocess.run([sys.executable, "-c", _CACHED_SEQUENCE], capture_output=True, text=True,
                             timeout=1800)
        assert run.returncode == 0, run.stderr[-3000:]
        outputs.append(json.loads(run.stdout.strip().splitlines()[-1]))
    assert outputs[0] == outputs[1]
    assert outputs[0]["exact"] >= 1
    assert all(math.isfinite(v) for v in outputs[0]["single"])
