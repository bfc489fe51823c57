"""Phylogenetic logistic regression (Ives & Garland 2010) with Firth's penalty, as R's ``phyloglm``.

The model is R phylolm's ``phyloglm(y ~ x, method = "logistic_MPLE")``; this module maximises the same
penalised likelihood, but to convergence (R's L-BFGS-B stops early: ``factr = 1e12``, finite differences).

Model, for ``n`` tips with binary ``y``, design ``X`` (intercept, predictor, covariates) and ``mu =
expit(X beta)``, ``p = mean(mu)``, ``q = 1 - p``:

* **Likelihood** ``l(beta, alpha)``: a latent two-state Markov chain runs on the tree (original branch
  lengths), stationary ``(q, p)`` at the root, rates ``0 -> 1 = alpha p`` and ``1 -> 0 = alpha q``. At a tip
  whose ``mu < p`` the latent state 0 is observed as 0 and state 1 as 1 with probability ``mu / p``; when
  ``mu >= p``, state 1 is observed as 1 and state 0 as 0 with probability ``(1 - mu) / q``; so
  ``P(y = 1) = mu``. Computed by pruning, O(n).
* **Penalty** ``log det(I) / 2`` (Firth), with Fisher information ``I = Z' C^-1 Z``, ``Z = W X``,
  ``W = diag(mu (1 - mu))`` and ``C_ij = m_i m_j exp(-alpha d_ij)`` (``d`` = patristic distance),
  ``C_ii = mu_i (1 - mu_i)``, ``m_i = mu_i sqrt(q / p)`` if ``mu_i < p`` else ``(1 - mu_i) sqrt(p / q)``.
  Dense (a Cholesky factor, O(n^3)) for small trees, where numpy's per-call overhead dominates; else
  phyloglm's three-point pass on the transformed tree, O(n). Both give the same numbers to rounding.
* **Bounds**: ``|log(1 / alpha) - log(Tmax)| <= log_alpha_bound`` where ``Tmax`` is the mean root-to-tip
  distance, and ``|X beta| <= btol`` at every tip.
* **Output** as ``summary.phyloglm``: SEs from ``I^-1`` at the optimum, Wald ``z``, ``p = 2 Phi(-|z|)``
  (conditional on alpha).

Gradients are analytic (forward-mode through both passes). The penalised likelihood is not smooth: ``m``
(hence ``C``) and the emission probabilities have a kink at every tip's ``mu_i = p``, and with no covariates
all tips reach it at once where the slope is 0: a cusp, because the nugget ``C_ii - m_i^2`` vanishes for
every tip and the penalty peaks. The surface has several local maxima (on null data the cusp is often the
highest). Like phyloglm we climb from its start (``glm`` without phylogeny, ``alpha = 1 / Tmax``) and report
the local maximum reached: L-BFGS-B, then, where it stalls, an exact maximisation on the kink (the ridge
slope = 0, a tip's ``mu_i = p`` or the bound ``|X beta| = btol``) and a check that no side rises.
"""

from __future__ import annotations

import math
import queue
import sys
import threading
import weakref
from dataclasses import dataclass, replace

import numba
import numpy as np
from scipy import optimize
from scipy.linalg import lapack
from scipy.special import expit, ndtr

from . import lbfgsb, logistic_kernels
from .tree import Tree

BTOL = 10.0
# Trees up to this many tips use the dense penalty (numpy's per-call overhead makes the O(n) pass slower).
DENSE_MAX_TIPS = 150
LOG_ALPHA_BOUND = 4.0
# phyloglm warns (alphaWarn) when log(1/alpha) is within 0.02 of a bound.
_ALPHA_WARN_MARGIN = 0.02


# ----------------------------------------------------------------------------------------------- tree
@dataclass(frozen=True)
class TreeGeometry:
    """What the likelihood needs from a tree, computed once per species subset.

    The pruning pass stores node partials in rows ordered by step: the children handled by step ``k`` are
    rows ``bounds[k]:bounds[k + 1]`` (a slice), their parents ``parent_row[k]`` (distinct within a step).

    Attributes
    ----------
    n_tips
        Number of tips; rows of the design follow the tree's tip order.
    tmax
        Mean root-to-tip distance (phyloglm's ``Tmax``, its ``mean.tip.height``).
    distance
        ``(n, n)`` patristic distances between tips, for the dense penalty; None when the tree is large
        enough for the O(n) three-point penalty (see :func:`tree_geometry`).
    tip_row
        ``(n,)`` storage row of each tip.
    root_row
        Storage row of the root (the last row).
    length
        ``(n_nodes - 1,)`` branch length above the node in each storage row but the root's.
    age
        ``(n_nodes,)`` ``Tmax - depth`` of each row's node: its age on phyloglm's ultrametric version of the
        tree (whose tips all sit at depth ``Tmax``); for a tip, phyloglm's ``D``.
    parent_of
        ``(n_nodes - 1,)`` storage row of each row's parent.
    bounds, parent_row
        The pruning schedule (see above).
    """

    n_tips: int
    tmax: float
    distance: np.ndarray | None
    tip_row: np.ndarray
    root_row: int
    length: np.ndarray
    age: np.ndarray
    parent_of: np.ndarray
    bounds: tuple[int, ...]
    parent_row: tuple[np.ndarray, ...]
    row_tip: np.ndarray | None = None  # (n_nodes,) tip in each storage row, -1 for internal nodes


def tree_geometry(tree: Tree, dense: bool | None = None) -> TreeGeometry:
    """Distances, ``Tmax`` and the pruning schedule of ``tree``.

    Polytomies need no resolution: ``multi2di``'s zero-length branches change neither the Markov likelihood
    nor ``C``.

    Parameters
    ----------
    dense
        Evaluate the penalty with dense linear algebra (O(n^3), fastest in numpy for small trees) rather
        than the three-point pass (O(n)). Default: dense up to ``DENSE_MAX_TIPS`` tips.
    """
    depth = tree.depths()
    n = tree.n_tips
    tip_depth = depth[:n]
    tmax = float(tip_depth.mean())
    distance = None
    if dense if dense is not None else n <= DENSE_MAX_TIPS:
        distance = tip_depth[:, None] + tip_depth[None, :] - 2.0 * _shared_depth(tree, depth)
        distance = np.maximum(distance, 0.0)
    order, bounds = _pruning_order(tree)
    row = np.empty(tree.n_nodes, dtype=np.int64)
    row[order] = np.arange(tree.n_nodes)
    parent_of = row[tree.parent[order[:-1]]]
    parent_row = tuple(parent_of[a:b] for a, b in zip(bounds[:-1], bounds[1:]))
    row_tip = np.full(tree.n_nodes, -1, dtype=np.int64)
    row_tip[row[:n]] = np.arange(n)
    return TreeGeometry(n_tips=n, tmax=tmax, distance=distance, tip_row=row[:n].copy(),
                        root_row=int(row[tree.root]), length=np.ascontiguousarray(tree.length[order[:-1]], dtype=float),
                        age=np.ascontiguousarray(tmax - depth[order], dtype=float), parent_of=parent_of,
                        bounds=tuple(bounds), parent_row=parent_row, row_tip=row_tip)


def _shared_depth(tree: Tree, depth: np.ndarray) -> np.ndarray:
    """``(n, n)`` depth of the most recent common ancestor of each pair of tips (tip depth on the diagonal)."""
    n = tree.n_tips
    shared = np.zeros((n, n))
    below: dict[int, np.ndarray] = {}
    for node in tree.postorder().tolist():
        if node < n:
            below[node] = np.array([node])
            continue
        groups = [below.pop(c) for c in tree.children[node]]
        for i, a in enumerate(groups):
            for b in groups[i + 1 :]:
                shared[np.ix_(a, b)] = depth[node]
                shared[np.ix_(b, a)] = depth[node]
        below[node] = np.concatenate(groups)
    np.fill_diagonal(shared, depth[:n])
    return shared


def _pruning_order(tree: Tree) -> tuple[np.ndarray, list[int]]:
    """Nodes ordered by step (root last) and the step boundaries.

    Edges are grouped by the height of their child (children before parents); siblings of the same height
    go to different steps so that parents are distinct within a step.
    """
    # Python lists: one species set's geometry is built per group of OCRs, and numpy's per-element indexing
    # cost more than the walk.
    children, parent, root = tree.children, tree.parent.tolist(), tree.root
    height = [0] * tree.n_nodes
    for node in tree.postorder().tolist():
        if children[node]:
            height[node] = 1 + max(height[c] for c in children[node])
    at_height: list[list[int]] = [[] for _ in range(height[root])]
    for v, h in enumerate(height):
        if v != root:
            at_height[h].append(v)
    order: list[int] = []
    bounds = [0]
    for nodes in at_height:
        seen: dict[int, int] = {}
        slots: list[list[int]] = []
        for v in nodes:
            rank = seen.get(parent[v], 0)
            seen[parent[v]] = rank + 1
            if rank == len(slots):
                slots.append([])
            slots[rank].append(v)
        for slot in slots:
            order.extend(slot)
            bounds.append(len(order))
    order.append(tree.root)
    return np.asarray(order, dtype=np.int64), bounds


# ----------------------------------------------------------------------------------------- likelihood
def _tip_partials(y: np.ndarray, mu: np.ndarray, below: np.ndarray, dmu: np.ndarray | None) -> np.ndarray:
    """Emission probabilities ``P(y_i | latent state)`` with derivatives: ``(n, 2, 1 + K)``.

    ``[..., 0]`` is the value, ``[..., 1:]`` its derivative along the ``K`` columns of ``dmu`` (none if
    None); ``below`` selects the ``mu < p`` branch. With ``r = mu / p`` and ``s = (1 - mu) / q``:
    below, ``(P(y | 0), P(y | 1)) = (1 - y, 1 - y + (2y - 1) r)``; above, ``(y + (1 - 2y) s, y)``.
    """
    p = float(mu.mean())
    q = 1.0 - p
    sign = 2.0 * y - 1.0
    out = np.empty((len(mu), 2, 1 if dmu is None else 1 + dmu.shape[1]))
    r = mu / p
    s = (1.0 - mu) / q
    out[:, 0, 0] = np.where(below, 1.0 - y, y - sign * s)
    out[:, 1, 0] = np.where(below, 1.0 - y + sign * r, y)
    if dmu is not None:
        dp = dmu.mean(axis=0)
        dr = (dmu - np.outer(r, dp)) / p
        ds = (np.outer(s, dp) - dmu) / q
        keep = below[:, None]
        out[:, 0, 1:] = np.where(keep, 0.0, -sign[:, None] * ds)
        out[:, 1, 1:] = np.where(keep, sign[:, None] * dr, 0.0)
    return out


def _markov_loglik(geom: TreeGeometry, y: np.ndarray, mu: np.ndarray, below: np.ndarray, alpha: float,
                   x: np.ndarray | None) -> tuple[float, np.ndarray]:
    """Log-likelihood of the latent two-state chain and, if ``x`` is given, its gradient.

    The message of a branch of length ``t`` is ``(1 - eta) c + eta L``, ``c = q L_0 + p L_1``,
    ``eta = exp(-alpha t)`` (the chain relaxes to its stationary law). Values and derivatives travel
    together as ``(2, 1 + K)`` blocks (forward-mode differentiation) along ``K = dk + 1`` directions:
    ``beta`` and ``log(1/alpha)``.

    Parameters
    ----------
    below
        Tips on the ``mu < p`` branch of the emission probabilities.
    x
        ``(n, dk)`` design, for the gradient; None for the value alone.

    Returns
    -------
    loglik, gradient
        The gradient in ``(beta, log(1/alpha))`` (empty without ``x``).
    """
    p = float(mu.mean())
    q = 1.0 - p
    pi = np.array([q, p])
    dmu = None
    if x is not None:
        dmu = np.zeros((len(mu), x.shape[1] + 1))
        dmu[:, :-1] = (mu * (1.0 - mu))[:, None] * x
        dp = dmu.mean(axis=0)
        deta = (geom.length * np.exp(-alpha * geom.length) * alpha)[:, None]  # d eta / d log(1/alpha)
    rows = len(geom.length) + 1
    part = np.zeros((rows, 2, 1 if dmu is None else 1 + dmu.shape[1]))
    part[:, :, 0] = 1.0
    part[geom.tip_row] = _tip_partials(y, mu, below, dmu)
    eta = np.exp(-alpha * geom.length)[:, None, None]
    scale = np.empty(rows - 1)
    for step, parent in enumerate(geom.parent_row):
        a, b = geom.bounds[step], geom.bounds[step + 1]
        block = part[a:b]
        s = block[:, 0, 0] + block[:, 1, 0]
        scale[a:b] = s  # a number per node, so values and derivatives scale alike
        block /= s[:, None, None]
        c = pi @ block  # (e, 1 + K)
        if dmu is not None:
            c[:, 1:] += (block[:, 1, 0] - block[:, 0, 0])[:, None] * dp  # d pi . L
        et = eta[a:b]
        message = c[:, None, :] * (1.0 - et) + et * block
        old = part[parent]
        if dmu is None:
            part[parent] = old * message
            continue
        message[:, :, -1] += (block[:, :, 0] - c[:, :1]) * deta[a:b]
        new = old * message[:, :, :1]
        new[:, :, 1:] += old[:, :, :1] * message[:, :, 1:]
        part[parent] = new
    total = pi @ part[geom.root_row]
    if not total[0] > 0.0:  # also NaN: a node whose data are impossible under both states
        return -math.inf, np.zeros(0 if dmu is None else dmu.shape[1])
    loglik = math.log(total[0]) + float(np.log(scale).sum())
    if dmu is None:
        return loglik, np.zeros(0)
    root = part[geom.root_row, :, 0]
    return loglik, (total[1:] + dp * (root[1] - root[0])) / total[0]


def _scales(x: np.ndarray, mu: np.ndarray, below: np.ndarray, grad: bool
            ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, np.ndarray | None]:
    """``w = mu (1 - mu)``, ``m`` (see the module docstring) and their derivatives in ``beta``, ``(n, dk)``.

    ``m = mu sqrt(q/p)`` below, ``(1 - mu) sqrt(p/q)`` above; ``p`` depends on ``beta`` through the mean.
    """
    p = float(mu.mean())
    q = 1.0 - p
    w = mu * (1.0 - mu)
    root_ratio = math.sqrt(q / p)
    m = np.where(below, mu * root_ratio, (1.0 - mu) / root_ratio)
    if not grad:
        return w, m, None, None
    dmu = w[:, None] * x
    dp = dmu.mean(axis=0)
    dm_dmu = np.where(below, root_ratio, -1.0 / root_ratio)
    dm_dp = np.where(below, -mu / (2.0 * p * p * root_ratio), (1.0 - mu) * root_ratio / (2.0 * q * q))
    return w, m, (1.0 - 2.0 * mu)[:, None] * dmu, dm_dmu[:, None] * dmu + np.outer(dm_dp, dp)


def _penalty(geom: TreeGeometry, x: np.ndarray, mu: np.ndarray, below: np.ndarray, alpha: float, grad: bool
             ) -> tuple[float, np.ndarray, np.ndarray]:
    """Firth penalty ``log det(I) / 2``, its gradient in ``(beta, log(1/alpha))`` and ``I``.

    Dense when ``geom`` holds distances, else :func:`_penalty_threepoint`. Derivatives:
    ``d log det(I) / 2 = sum_i (U A)_i . dZ_i - sum_ij G_ij dC_ij / 2`` with ``U = C^-1 Z``, ``A = I^-1``,
    ``G = U A U'``; off the diagonal ``dC_ij = (dm_i m_j + m_i dm_j) R_ij + m_i m_j dR_ij``
    (``R = exp(-alpha d)``), on it ``dC_ii = dw_i``.
    """
    if geom.distance is None:
        return _penalty_threepoint(geom, x, mu, below, alpha, grad)
    w, m, dw, dm = _scales(x, mu, below, grad)
    corr = np.exp(-alpha * geom.distance)
    cov = np.outer(m, m) * corr
    cov.flat[:: len(m) + 1] = w
    z = w[:, None] * x
    factor, failed = lapack.dpotrf(cov, lower=1, clean=0)
    if failed:
        return -math.inf, np.zeros(x.shape[1] + 1 if grad else 0), np.full((x.shape[1],) * 2, math.nan)
    u, _ = lapack.dpotrs(factor, z, lower=1)
    info = z.T @ u
    sign, logdet = np.linalg.slogdet(info)
    value = 0.5 * logdet if sign > 0 else -math.inf
    if not grad:
        return value, np.zeros(0), info
    ua = u @ np.linalg.inv(info)  # U A, (n, dk)
    g = ua @ u.T
    g_diag = np.diag(g)
    h = (g * corr) @ m - g_diag * m  # sum over j != i of G_ij R_ij m_j
    out = np.empty(x.shape[1] + 1)
    out[:-1] = ((ua * x).sum(axis=1) - 0.5 * g_diag) @ dw - h @ dm
    out[-1] = -0.5 * alpha * float(np.vdot(g * geom.distance, cov))
    return value, out, info


def _penalty_threepoint(geom: TreeGeometry, x: np.ndarray, mu: np.ndarray, below: np.ndarray, alpha: float,
                        grad: bool) -> tuple[float, np.ndarray, np.ndarray]:
    """:func:`_penalty` in O(n) by phylolm's three-point pass (Ho & Ane 2014), forward-differentiated.

    ``C = diag(g) V diag(g)`` where ``V`` is a Brownian covariance on the tree with transformed branch
    lengths ``E_child - E_parent`` (``E = exp(-2 alpha age)``; a tip's is ``E_i w_i / m_i^2 - E_parent``) and
    root edge ``E_root``, and ``g_i = m_i exp(alpha age_i)``. For ``P = [1, Z / g]`` the pass accumulates
    ``P' V^-1 P`` over subtrees: a tip gives ``p p' / t``; adding a branch ``t`` above a subtree maps
    ``A`` to ``A - t a a' / (1 + t a_00)`` (``a = A[:, 0]``); siblings add. ``I`` is the lower-right block.
    """
    w, m, dw, dm = _scales(x, mu, below, grad)
    n, dk = x.shape
    k = dk + 1 if grad else 0
    e = np.exp(-2.0 * alpha * geom.age)
    de = 2.0 * alpha * geom.age * e  # d E / d log(1/alpha)
    tip, parent_of = geom.tip_row, geom.parent_of
    # Branch lengths and their derivatives (rows: storage rows but the root; tips' own are used below).
    length = e[:-1] - e[parent_of]
    dlength = np.zeros((len(length), k))
    if grad:
        dlength[:, -1] = de[:-1] - de[parent_of]
    ratio = w / (m * m)
    tip_len = e[tip] * ratio - e[parent_of[tip]]
    shrink = np.exp(-alpha * geom.age[tip])
    scaled = (w / m * shrink)[:, None] * x  # Z / g
    vec = np.concatenate([np.ones((n, 1)), scaled], axis=1)  # (n, 1 + dk)
    acc = np.zeros((len(e), 1 + k, dk + 1, dk + 1))
    acc[tip, 0] = vec[:, :, None] * vec[:, None, :] / tip_len[:, None, None]
    if grad:
        dratio = dw / (m * m)[:, None] - 2.0 * (w / m**3)[:, None] * dm  # (n, dk)
        dtip_len = np.zeros((n, k))
        dtip_len[:, :-1] = e[tip][:, None] * dratio
        dtip_len[:, -1] = de[tip] * ratio - de[parent_of[tip]]
        dvec = np.zeros((n, k, dk + 1))
        d_over = (dw / m[:, None] - (w / (m * m))[:, None] * dm) * shrink[:, None]  # d (w / m e^-alpha age)
        dvec[:, :-1, 1:] = d_over[:, :, None] * x[:, None, :]
        dvec[:, -1, 1:] = scaled * (alpha * geom.age[tip])[:, None]
        outer = dvec[:, :, :, None] * vec[:, None, None, :]
        acc[tip, 1:] = ((outer + outer.transpose(0, 1, 3, 2)) / tip_len[:, None, None, None]
                        - acc[tip, :1] * (dtip_len / tip_len[:, None])[:, :, None, None])
    length[tip] = 0.0  # a tip's branch is already in its p p' / t
    dlength[tip] = 0.0
    for step, parent in enumerate(geom.parent_row):
        lo, hi = geom.bounds[step], geom.bounds[step + 1]
        acc[parent] += _add_branch(acc[lo:hi], length[lo:hi], dlength[lo:hi])
    root = _add_branch(acc[-1:], e[-1:], np.column_stack([np.zeros((1, k - 1)), de[-1:]]) if grad
                       else np.zeros((1, 0)))[0]
    info = root[0, 1:, 1:]
    sign, logdet = np.linalg.slogdet(info)
    value = 0.5 * logdet if sign > 0 else -math.inf
    if not grad:
        return value, np.zeros(0), info
    return value, 0.5 * np.einsum("ab,kab->k", np.linalg.inv(info), root[1:, 1:, 1:]), info


def _add_branch(block: np.ndarray, t: np.ndarray, dt: np.ndarray) -> np.ndarray:
    """Three-point update for a branch of length ``t`` above each subtree, with forward derivatives.

    ``block`` is ``(e, 1 + K, D, D)``: ``P' V^-1 P`` and its ``K`` derivatives; ``dt`` is ``(e, K)``.
    """
    a = block[:, 0, :, 0]  # (e, D)
    s = 1.0 + t * a[:, 0]
    r = t / s
    aa = a[:, :, None] * a[:, None, :]
    out = block.copy()
    out[:, 0] -= r[:, None, None] * aa
    if dt.shape[1]:
        da = block[:, 1:, :, 0]  # (e, K, D)
        dr = (dt - r[:, None] * (dt * a[:, :1] + t[:, None] * da[:, :, 0])) / s[:, None]
        cross = da[:, :, :, None] * a[:, None, None, :]
        cross += cross.transpose(0, 1, 3, 2)
        out[:, 1:] -= dr[:, :, None, None] * aa[:, None] + r[:, None, None, None] * cross
    return out


def penalised_loglik(geom: TreeGeometry, x: np.ndarray, y: np.ndarray, beta: np.ndarray, alpha: float,
                     grad: bool = False, below: np.ndarray | None = None) -> tuple[float, float, np.ndarray]:
    """phyloglm's ``penlogLik`` and ``logLik`` at ``(beta, alpha)``, and the gradient of the former.

    Parameters
    ----------
    geom
        :func:`tree_geometry` of the tree whose tips are the rows of ``x`` and ``y``.
    x
        ``(n, dk)`` design, intercept column included.
    y
        ``(n,)`` 0/1 responses (float).
    beta, alpha
        Coefficients ``(dk,)`` and the phylogenetic-signal rate (> 0).
    grad
        Also return the gradient in ``(beta, log(1/alpha))`` (else an empty array).
    below
        Tips to evaluate on their ``mu < p`` branch (default: those with ``mu < p``). Forcing a branch
        extends one smooth piece across a tip's kink, which is how a maximum on the kink is found.

    Returns
    -------
    penalised, loglik, gradient
    """
    mu = expit(x @ beta)
    if below is None:
        below = mu < mu.mean()
    loglik, dloglik = _markov_loglik(geom, y, mu, below, alpha, x if grad else None)
    penalty, dpenalty, _ = _penalty(geom, x, mu, below, alpha, grad)
    return loglik + penalty, loglik, (dloglik + dpenalty) if grad else dloglik


# --------------------------------------------------------------------------------------------- result
@dataclass(frozen=True)
class LogisticFit:
    """One phylogenetic logistic regression: the predictor's row of ``summary.phyloglm`` and more.

    Attributes
    ----------
    coef, se, z, pvalue
        Coefficient of the predictor (log-odds per unit of predicted activity), its standard error (from the
        inverse Fisher information at the optimum, alpha held fixed), Wald ``z = coef / se`` and
        ``p = 2 Phi(-|z|)``.
    intercept, intercept_se
        Intercept and its standard error.
    coefficients, std_errors
        ``(dk,)``: intercept, predictor, then covariates.
    alpha
        Phylogenetic-signal rate, in 1 / branch-length units (small alpha = strong phylogenetic signal).
    penalised_loglik, loglik
        phyloglm's ``penlogLik`` (the maximised objective) and ``logLik``.
    converged
        The optimum passed the Karush-Kuhn-Tucker check (gradient below 1e-3 within the bounds).
    alpha_at_bound
        ``log(1/alpha)`` within 0.02 of ``log(Tmax) +/- log_alpha_bound`` (phyloglm's ``alphaWarn``).
    status
        ``ok``; ``not_converged``; ``alpha_at_bound`` (numbers reported, as phyloglm does with a warning);
        ``one_class`` (``y`` constant) and ``singular_design`` (constant predictor or collinear columns),
        which are not fitted and carry NaN.
    n_species
        Number of tips fitted.
    mean_tip_height
        phyloglm's ``Tmax`` (mean root-to-tip distance); alpha starts at, and is bounded around, ``1 / Tmax``.
    n_evaluations
        Likelihood evaluations used.
    """

    coef: float
    se: float
    z: float
    pvalue: float
    intercept: float
    intercept_se: float
    alpha: float
    penalised_loglik: float
    loglik: float
    converged: bool
    alpha_at_bound: bool
    status: str
    n_species: int
    coefficients: np.ndarray
    std_errors: np.ndarray
    mean_tip_height: float = math.nan
    n_evaluations: int = 0


def _not_fitted(status: str, n: int, dk: int) -> LogisticFit:
    nan = np.full(dk, math.nan)
    return LogisticFit(math.nan, math.nan, math.nan, math.nan, math.nan, math.nan, math.nan, math.nan,
                       math.nan, False, False, status, n, nan, nan.copy())


# ------------------------------------------------------------------------------------------ objective
_WALL_SLACK = 1e-9  # |x beta| may exceed btol by this much and still count as within the bound


class _Objective:
    """The penalised log-likelihood of one data set as a function of ``theta = (beta, log(1/alpha))``.

    Parameters
    ----------
    geom, x, y
        Tree geometry, ``(n, dk)`` design (intercept first) and 0/1 responses.
    btol, log_alpha_bound
        phyloglm's bounds: ``|x beta| <= btol``, ``|log(1/alpha) - log(Tmax)| <= log_alpha_bound``.
    """

    def __init__(self, geom: TreeGeometry, x: np.ndarray, y: np.ndarray, btol: float, log_alpha_bound: float):
        self.geom, self.x, self.y, self.btol = geom, x, y, btol
        self.dk = x.shape[1]
        centre = math.log(geom.tmax)
        self.lam_bounds = (centre - log_alpha_bound, centre + log_alpha_bound)
        self.lam_start = centre
        # Unit of each slope: the change that moves the linear predictor by 1 across the data.
        self.slope_unit = 1.0 / np.ptp(x[:, 1:], axis=0)
        self._slope_units = self.slope_unit.tolist()
        self.n_evaluations = 0
        self.x = np.ascontiguousarray(x, dtype=float)
        self._tree = _kernel_tree(geom)
        self._work = logistic_kernels.workspace(len(geom.age), self.dk)
        self._grad, self._info = np.zeros(self.dk + 1), np.empty((self.dk, self.dk))
        self._forced: dict[int, bool] = {}
        self._force = np.full(len(y), -1, dtype=np.int8)
        # the compiled evaluation's arguments before and after (theta, want_grad, grad), packed once
        self._data = (*self._tree, self.x, self.y)
        self._scratch = (self._info, *self._work, self._force)
        self._wall = btol + _WALL_SLACK
        self._values: dict[bytes, float] = {}  # values already computed, by theta

    @property
    def forced(self) -> dict[int, bool]:
        """Tips whose branch is forced (True: the ``mu < p`` branch), see :func:`penalised_loglik`."""
        return self._forced

    @forced.setter
    def forced(self, tips: dict[int, bool]) -> None:
        self._forced = tips
        self._force[:] = -1  # the kernel's form: 1 = mu < p branch, 0 = the other, -1 = by mu
        for i, side in tips.items():
            self._force[i] = 1 if side else 0
        self._values.clear()

    def below(self, theta: np.ndarray) -> np.ndarray:
        """Tips on the ``mu < p`` branch at ``theta``, after :attr:`forced`."""
        mu = expit(self.x @ theta[: self.dk])
        out = mu < mu.mean()
        for i, side in self.forced.items():
            out[i] = side
        return out

    def feasible(self, theta: np.ndarray) -> bool:
        """``|x beta| <= btol`` (up to ``_WALL_SLACK``: SLSQP lands on the bound within rounding)."""
        return bool(np.all(np.abs(self.x @ theta[: self.dk]) <= self.btol + _WALL_SLACK))

    def value(self, theta: np.ndarray) -> float:
        """Penalised log-likelihood; ``-inf`` outside the bounds."""
        lo, hi = self.lam_bounds
        if not (lo <= theta[-1] <= hi and self.feasible(theta)):
            return -math.inf
        key = theta.tobytes()
        if key not in self._values:
            self._remember(key, self.evaluate(theta, None)[0])
        return self._values[key]

    def gradient(self, theta: np.ndarray) -> tuple[float, np.ndarray]:
        grad = np.zeros(self.dk + 1)
        value = self.evaluate(theta, grad)[0]
        self._remember(theta.tobytes(), value)
        return value, grad

    def evaluate(self, theta: np.ndarray, grad: np.ndarray | None) -> tuple[float, float, np.ndarray]:
        """Penalised log-likelihood, log-likelihood and Fisher information ``I`` at ``theta``, by the compiled
        :func:`tacit.logistic_kernels.evaluate` (equal to :func:`penalised_loglik`, tested); fills ``grad``."""
        self.n_evaluations += 1
        value, loglik = logistic_kernels.evaluate(
            *self._data, np.ascontiguousarray(theta), grad is not None, self._grad if grad is None else grad,
            *self._scratch)
        return value, loglik, self._info

    def _remember(self, key: bytes, value: float) -> None:
        if len(self._values) > 256:
            self._values.clear()
        self._values[key] = value

    def to_minimise(self, theta: np.ndarray, wall: bool = True) -> tuple[float, np.ndarray]:
        """``(-F, -grad F)`` for scipy; like phyloglm, ``1e10`` where ``|x beta| > btol`` if ``wall``."""
        grad = np.zeros(self.dk + 1)
        # the wall check (as feasible) and the evaluation in one compiled call
        value, _, inside = logistic_kernels.evaluate_within(
            *self._data, np.ascontiguousarray(theta), True, grad, *self._scratch,
            self._wall if wall else math.inf)
        if not inside:
            return 1e10, np.zeros_like(theta)
        self.n_evaluations += 1
        self._remember(theta.tobytes(), value)
        return -value, -grad

    def unit(self, j: int) -> np.ndarray:
        """Direction of slope ``j`` (1 <= j < dk) scaled to move the linear predictor by 1."""
        out = np.zeros(self.dk + 1)
        out[j] = self.slope_unit[j - 1]
        return out

    def kinks(self, theta: np.ndarray) -> list[int]:
        """Tips on their kink ``mu_i = p`` (none on the ridge, where all tips are)."""
        if self.spread(theta) == 0.0:
            return []
        mu = expit(self.x @ theta[: self.dk])
        return np.flatnonzero(np.abs(mu - mu.mean()) < _KINK_TOL).tolist()

    def kink_gap(self, theta: np.ndarray, i: int) -> float:
        """``logit(mu_i) - logit(p)``: zero on tip ``i``'s kink."""
        eta = self.x @ theta[: self.dk]
        p = float(expit(eta).mean())
        return float(eta[i] - math.log(p / (1.0 - p)))

    def kink_normal(self, theta: np.ndarray, i: int, unit: bool = True) -> np.ndarray:
        """Gradient of :meth:`kink_gap` (normal to tip ``i``'s kink), scaled to length 1 if ``unit``."""
        mu = expit(self.x @ theta[: self.dk])
        p = float(mu.mean())
        out = np.zeros(self.dk + 1)
        out[: self.dk] = self.x[i] - (mu * (1.0 - mu)) @ self.x / (len(mu) * p * (1.0 - p))
        return out / np.linalg.norm(out) if unit else out

    def spread(self, theta: np.ndarray) -> float:
        """How far the slopes move the linear predictor across the data (0 on the ridge ``slopes = 0``)."""
        # Python floats: the climbs ask this at every step, where numpy's reductions cost more than the answer
        moves = [abs(v) / u for v, u in zip(theta[1 : self.dk].tolist(), self._slope_units)]
        return math.nan if any(m != m for m in moves) else max(moves)


# --------------------------------------------------------------------------------------- maximisation
# A climb stops when the slopes move the linear predictor by less than this across the data: it is heading
# for the ridge slopes = 0, whose optimum is then found exactly (L-BFGS-B would zigzag across the cusp).
_RIDGE_NEAR = logistic_kernels.RIDGE_NEAR
# A tip sits on its kink when |mu_i - p| is below this (L-BFGS-B stalls there within ~1e-14).
_KINK_TOL = 1e-7
# Stationarity tolerance on the gradient of the penalised log-likelihood (log-likelihood units per unit of
# beta or of log(1/alpha)).
_GTOL = 1e-3
# One-sided derivatives are taken over this step (theta units); a rise steeper than _RISE leaves a kink.
_PROBE, _RISE = logistic_kernels.PROBE, logistic_kernels.RISE
# L-BFGS-B stopping rules: relative change of the objective, projected gradient (the compiled climb's too).
_FTOL, _PGTOL = logistic_kernels.FTOL, logistic_kernels.PGTOL
# A climb that has tried this many points beyond |x beta| = btol hands over to the constrained polish.
_WALL_HITS = 5
# phyloglm's optim() takes central differences with steps of 1e-3 (its default ndeps).
_R_NDEPS = 1e-3


def _maximise(obj: _Objective, beta_start: np.ndarray) -> np.ndarray:
    """Local maximum reached from phyloglm's start (see the module docstring).

    Climb with L-BFGS-B; where it stalls on a kink (the ridge slopes = 0, a tip with ``mu_i = p``, or the
    bound ``|x beta| = btol``) maximise on that kink exactly, then leave it if a side rises. Returns the
    best point visited.
    """
    theta = np.append(beta_start, obj.lam_start)
    if obj.spread(theta) == 0.0:
        theta = _first_move_like_r(obj, theta)
    best = theta
    for _ in range(5):  # climbs; each further one starts by leaving a kink that is not a maximum
        theta = _climb(obj, theta, np.ones(len(theta), dtype=bool), stop_at_ridge=True)
        if obj.spread(theta) < _RIDGE_NEAR and obj.value(ridge := _on_ridge(obj, theta)) >= obj.value(theta):
            theta = ridge
            directions = [sign * obj.unit(j) for j in range(1, obj.dk) for sign in (1.0, -1.0)]
            jump = _RIDGE_NEAR
        else:
            if not obj.kinks(theta) and _stationary(obj, theta):
                return _better(obj, theta, best)
            theta = _polish_until_stationary(obj, theta)
            directions = [sign * obj.kink_normal(theta, i) for i in obj.kinks(theta) for sign in (1.0, -1.0)]
            jump = 1e-4
        best = _better(obj, theta, best)
        escape = _leave_kink(obj, theta, directions, jump)
        if escape is None:
            return best
        theta = escape
    return best


def _better(obj: _Objective, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The higher of two points (``a`` on ties)."""
    return a if obj.value(a) >= obj.value(b) else b


def _climb(obj: _Objective, theta: np.ndarray, free: np.ndarray, stop_at_ridge: bool) -> np.ndarray:
    """L-BFGS-B ascent over the coordinates ``free`` of ``theta`` (the others stay fixed).

    Stops early when heading for the ridge (``stop_at_ridge``) or after ``_WALL_HITS`` trial points beyond
    ``|x beta| = btol`` (the constrained maximum is then found by :func:`_polish`); returns the best
    feasible point seen.
    """
    idx = np.flatnonzero(free)
    base = theta.copy()
    best = [math.inf, theta.copy()]
    hits = [0]

    every = bool(free.all())

    def full(sub: np.ndarray) -> np.ndarray:
        if every:  # the points lbfgsb passes are copies already
            return sub
        out = base.copy()
        out[idx] = sub
        return out

    def fun(sub: np.ndarray) -> tuple[float, np.ndarray]:
        point = full(sub)
        value, grad = obj.to_minimise(point)
        if value >= 1e10:
            hits[0] += 1
        elif value < best[0]:
            best[0], best[1] = value, point
        return value, grad if every else grad[idx]

    def stop(sub: np.ndarray) -> bool:
        return hits[0] >= _WALL_HITS or (stop_at_ridge and obj.spread(full(sub)) < _RIDGE_NEAR)

    beta_bound = (-math.inf, math.inf) if free[1 : obj.dk].any() else (-obj.btol, obj.btol)
    bounds = np.array([obj.lam_bounds if i == obj.dk else beta_bound for i in idx])
    lbfgsb.minimise(fun, theta[idx], bounds[:, 0], bounds[:, 1], stop=stop, maxiter=1000, ftol=_FTOL,
                    gtol=_PGTOL)
    return best[1]


def _on_ridge(obj: _Objective, theta: np.ndarray) -> np.ndarray:
    """Maximum over (intercept, log(1/alpha)) with every slope at 0, started from ``theta``."""
    start = theta.copy()
    start[1 : obj.dk] = 0.0
    start[0] = np.clip(start[0], -obj.btol, obj.btol)
    free = np.zeros(len(theta), dtype=bool)
    free[[0, obj.dk]] = True
    return _climb(obj, start, free, stop_at_ridge=False)


def _polish_until_stationary(obj: _Objective, theta: np.ndarray, rounds: int = 3) -> np.ndarray:
    """:func:`_polish` on the current kinks, repeated while it gains and the point is not stationary."""
    for _ in range(rounds):
        if _stationary(obj, theta):
            break
        polished = _polish(obj, theta, obj.kinks(theta))
        if not obj.value(polished) > obj.value(theta):
            break
        theta = polished
    return theta


def _polish(obj: _Objective, theta: np.ndarray, kinks: list[int]) -> np.ndarray:
    """Maximum on the kinks ``mu_i = p`` (``i`` in ``kinks``) subject to ``|x beta| <= btol`` (SLSQP).

    On a kink the likelihood is that of either side; keeping each kink tip on its current side makes the
    problem smooth for SLSQP (whose steps leave the kink by ~1e-9).
    """
    rows = np.unique(obj.x, axis=0)
    normals = np.vstack([-rows, rows])  # btol -/+ rows @ beta >= 0
    wall_jac = np.hstack([normals, np.zeros((len(normals), 1))])
    cons = [{"type": "ineq", "fun": lambda t: obj.btol + normals @ t[: obj.dk], "jac": lambda t: wall_jac}]
    held = _independent_kinks(obj, theta, kinks)
    if held:
        cons.append({"type": "eq", "fun": lambda t: np.array([obj.kink_gap(t, i) for i in held]),
                     "jac": lambda t: np.array([obj.kink_normal(t, i, unit=False) for i in held])})
    bounds = [(None, None)] * obj.dk + [obj.lam_bounds]
    side = obj.below(theta)
    obj.forced = {i: bool(side[i]) for i in kinks if any(np.array_equal(obj.x[i], obj.x[j]) for j in held)}
    try:
        res = optimize.minimize(lambda t: obj.to_minimise(t, wall=False), theta, jac=True, method="SLSQP",
                                bounds=bounds, constraints=cons, options={"maxiter": 150, "ftol": 1e-14})
    finally:
        obj.forced = {}
    out = res.x
    if not (obj.feasible(out) and all(abs(obj.kink_gap(out, i)) < 1e-9 for i in held)):
        return theta
    return out


def _independent_kinks(obj: _Objective, theta: np.ndarray, kinks: list[int]) -> list[int]:
    """The kink tips whose constraints :func:`_polish` imposes: nearest the kink first, one per distinct design
    row (tips with equal rows, e.g. tied predictions, share one kink), only constraints independent of those
    already held, and at most ``dk - 1`` of them (off the ridge no more distinct rows can sit on their kinks
    together). SLSQP must get fewer equality constraints than unknowns: scipy's (1.17) overruns its work
    space, corrupting memory, when there are more equality constraints than unknowns."""
    held: list[int] = []
    normals: list[np.ndarray] = []
    for i in sorted(kinks, key=lambda i: abs(obj.kink_gap(theta, i))):
        if len(held) >= max(obj.dk - 1, 1):
            break
        if any(np.array_equal(obj.x[i], obj.x[j]) for j in held):
            continue
        candidate = normals + [obj.kink_normal(theta, i, unit=False)]
        if np.linalg.matrix_rank(np.array(candidate)) == len(candidate):
            held.append(i)
            normals = candidate
    return held


def _leave_kink(obj: _Objective, theta: np.ndarray, directions: list[np.ndarray], jump: float
                ) -> np.ndarray | None:
    """A point ``jump`` away along the direction where the likelihood rises most steeply, or None.

    One-sided derivatives over ``_PROBE``; ``theta`` is a local maximum when none exceeds ``_RISE``.
    """
    base = obj.value(theta)
    best, where = _RISE, None
    for d in directions:
        rise = (obj.value(theta + _PROBE * d) - base) / _PROBE
        if rise > best:
            best, where = rise, theta + jump * d
    if where is None:
        return None
    where[-1] = np.clip(where[-1], *obj.lam_bounds)
    # Within |x beta| <= btol: a jump along a kink normal moves the linear predictor by up to jump * |x|,
    # which leaves the bound for predictors on a large scale; shorten it towards theta until it is inside.
    for _ in range(60):
        if obj.feasible(where):
            return where
        where = theta + (where - theta) / 2
    return None


def _first_move_like_r(obj: _Objective, theta: np.ndarray) -> np.ndarray:
    """phyloglm's first step from a start on the ridge (its fallback start, all slopes 0).

    There the cusp makes the exact gradient meaningless; R's finite differences (steps of 1e-3) see past
    it. Follow that gradient with a unit first step, halved until the likelihood rises, as L-BFGS-B's
    first iteration does.

    Fits that start here stay with this maximiser: where the cusp separates maxima, which one is reached
    depends on the climb's path. Measured with this step compiled and the compiled BFGS climb after it: of 481
    such fits (TACIT's vocal-learning labels), 16 ended elsewhere than here, and on the R reference
    (``../shared/reference/phylolm_small``) one OCR reached an interior maximum 0.79 above the ridge's maximum,
    where R and this path stop (p 0.07 against R's 1).
    """
    base = obj.value(theta)
    grad = np.empty(len(theta))
    for i in range(len(theta)):
        step = np.zeros(len(theta))
        step[i] = _R_NDEPS
        grad[i] = (obj.value(theta + step) - obj.value(theta - step)) / (2 * _R_NDEPS)
    if not np.all(np.isfinite(grad)) or not np.any(grad):
        return theta
    direction = grad / np.linalg.norm(grad)
    step = 1.0
    while step > 1e-6:
        trial = theta + step * direction
        trial[-1] = np.clip(trial[-1], *obj.lam_bounds)
        if obj.value(trial) > base:
            return trial
        step /= 2
    return theta


def _start(x: np.ndarray, y: np.ndarray, btol: float) -> np.ndarray:
    """phyloglm's starting beta for the exact maximiser: :func:`tacit.logistic_kernels.glm_start` (compiled:
    :func:`_glm_start` took a fifth of an exact fit's time), with :func:`_glm_start`'s fallback."""
    beta, ok = logistic_kernels.glm_start(np.ascontiguousarray(x), y, btol)
    return beta if ok else _fallback_start(y, btol, x.shape[1])


def _fallback_start(y: np.ndarray, btol: float, dk: int) -> np.ndarray:
    start = np.zeros(dk)
    start[0] = math.log(y.sum() / (len(y) - y.sum()))
    return start if abs(start[0]) < btol else np.zeros(dk)


def _glm_start(x: np.ndarray, y: np.ndarray, btol: float) -> np.ndarray:
    """phyloglm's starting beta: ``glm(y ~ x - 1, family = binomial)``, or a fallback, in numpy (the
    statement that the compiled :func:`tacit.logistic_kernels.glm_start` is tested against).

    IRLS as R's ``glm.fit`` (start ``mu = (y + 0.5) / 2``, stop when the deviance changes by less than
    ``1e-8 (|dev| + 0.1)``, at most 25 iterations). If the fitted linear predictor reaches ``btol``
    (separation), phyloglm restarts from 0 with the intercept ``log(n1 / n0)``.
    """
    mu = (y + 0.5) / 2.0
    eta = np.log(mu / (1.0 - mu))
    beta = np.zeros(x.shape[1])

    def deviance(m: np.ndarray) -> float:
        with np.errstate(divide="ignore"):
            return float(-2.0 * np.sum(np.where(y == 1, np.log(m), np.log1p(-m))))

    dev_old = deviance(mu)
    for _ in range(25):
        w = mu * (1.0 - mu)
        if np.any(w <= 0):
            break
        z = eta + (y - mu) / w
        root = np.sqrt(w)
        beta = np.linalg.lstsq(x * root[:, None], z * root, rcond=None)[0]
        eta = x @ beta
        mu = expit(eta)
        dev = deviance(mu)
        if abs(dev - dev_old) / (abs(dev) + 0.1) < 1e-8:
            break
        dev_old = dev
    if np.all(np.isfinite(beta)) and np.max(np.abs(x @ beta)) < btol:
        return beta
    return _fallback_start(y, btol, x.shape[1])


def _stationary(obj: _Objective, theta: np.ndarray) -> bool:
    """Karush-Kuhn-Tucker check at ``theta``: the gradient is balanced by the active constraints.

    Active: the bounds on ``log(1/alpha)`` and ``|x beta| <= btol`` (one-signed multipliers), the tips on
    their kink ``mu_i = p`` and, on the ridge, the slopes (free multipliers: their sides were checked by
    :func:`_leave_kink`). Residual at most ``_GTOL``.
    """
    _, grad = obj.gradient(theta)
    normals = []
    lo, hi = obj.lam_bounds
    unit_lam = np.zeros(len(theta))
    unit_lam[-1] = 1.0
    if theta[-1] >= hi - 1e-9:
        normals.append(unit_lam)
    if theta[-1] <= lo + 1e-9:
        normals.append(-unit_lam)
    eta = obj.x @ theta[: obj.dk]
    for i in np.flatnonzero(np.abs(eta) > obj.btol - 1e-6):
        normals.append(np.append(obj.x[i] * np.sign(eta[i]), 0.0))
    free = [obj.kink_normal(theta, i) for i in obj.kinks(theta)]
    if obj.spread(theta) == 0.0:
        free = [obj.unit(j) for j in range(1, obj.dk)]
    normals.extend(free + [-v for v in free])
    if not (np.all(np.isfinite(grad)) and np.all(np.isfinite(normals))):
        return False  # no likelihood (or no kink direction) here: not a maximum
    if not normals:
        return bool(np.max(np.abs(grad)) <= _GTOL)
    _, residual = optimize.nnls(np.array(normals).T, grad)
    return bool(residual <= _GTOL)


# ---------------------------------------------------------------------------------------------- fit
def fit_phyloglm(tree: Tree | TreeGeometry, x: np.ndarray, y: np.ndarray, covariates: np.ndarray | None = None,
                 *, btol: float = BTOL, log_alpha_bound: float = LOG_ALPHA_BOUND, exact: bool = False
                 ) -> LogisticFit:
    """Fit ``y ~ x (+ covariates)`` by phylogenetic logistic regression (phyloglm ``logistic_MPLE``).

    Parameters
    ----------
    tree
        The tree pruned to the species fitted (or its :func:`tree_geometry`, to reuse it); its tip order is
        the order of ``x`` and ``y``. Branch lengths in any unit; ``alpha`` is in the inverse unit.
    x
        ``(n,)`` predictor (predicted activity); no NaN.
    y
        ``(n,)`` binary phenotype, 0/1.
    covariates
        Optional ``(n, c)`` extra columns; an intercept is always added.
    btol, log_alpha_bound
        phyloglm's bounds on ``|x beta|`` and on ``|log(1/alpha) - log(Tmax)|``.
    exact
        Always use the general maximiser (see Notes); by default the compiled climb settles the fits it can.

    Returns
    -------
    LogisticFit
        ``one_class`` when ``y`` is constant and ``singular_design`` when the design is rank deficient
        (e.g. a constant predictor); neither is fitted.

    Notes
    -----
    Starts where phyloglm starts and climbs to the local maximum (L-BFGS-B with analytic gradients), with
    the special cases of the module docstring: the cusp at slopes = 0 is maximised exactly, and the bound
    ``|x beta| <= btol`` is treated as a constraint rather than a wall. The compiled climb of
    :mod:`tacit.logistic_kernels` runs first and settles the fits whose maximum is smooth and interior (or
    the ridge with every side falling); the others go to the general maximiser.
    """
    # (the distances of the dense penalty serve only penalised_loglik, the numpy statement of the model)
    geom = tree if isinstance(tree, TreeGeometry) else tree_geometry(tree, dense=False)
    y = np.asarray(y, dtype=float)
    cols = [np.ones(len(y)), np.asarray(x, dtype=float)]
    if covariates is not None:
        cov = np.asarray(covariates, dtype=float)
        cols.extend(cov.reshape(len(y), -1).T)
    design = np.column_stack(cols)
    n, dk = design.shape
    if not np.all(np.isfinite(design)):
        raise ValueError("x and covariates must be finite (drop species without a prediction first)")
    if geom.n_tips != n:
        raise ValueError(f"the tree has {geom.n_tips} tips but x and y have {n} rows")
    if not np.all(np.isin(y, (0.0, 1.0))):
        raise ValueError("y must be 0/1")
    if y.min() == y.max():
        return _not_fitted("one_class", n, dk)
    if singular_design(design):
        return _not_fitted("singular_design", n, dk)
    scale = _power_of_two_scales(design[:, 1:])
    obj = _Objective(geom, design * np.append(1.0, scale), y, btol, log_alpha_bound)
    fit = _fit_compiled(obj) if not exact else None
    if fit is None:
        fit = _summarise(obj, _maximise(obj, _start(obj.x, y, btol)))
    return _unscale(fit, scale)


def _power_of_two_scales(columns: np.ndarray) -> np.ndarray:
    """Per column of ``columns``, the power of two that brings its largest absolute value within [1/16, 16],
    or 1 when it is there already.

    The model is equivariant under scaling a predictor (its slope scales inversely; z, p, alpha, the
    likelihood's maximiser and the bound ``|x beta| <= btol`` do not change), but the climbs' tolerances and
    steps are absolute: predictions on a scale of 1e6 left a few fits unconverged. Powers of two scale without
    rounding, and predictions on TACIT's 0-1 scale are left as they are.
    """
    top = np.max(np.abs(columns), axis=0) if columns.size else np.zeros(columns.shape[1:])
    with np.errstate(divide="ignore"):
        exponent = np.where((top > 0) & (np.abs(np.log2(top)) > 4), -np.round(np.log2(top)), 0.0)
    return np.ldexp(1.0, exponent.astype(np.int64))


def _unscale(fit: LogisticFit, scale: np.ndarray) -> LogisticFit:
    """``fit`` of columns multiplied by ``scale`` (besides the intercept), in the original units."""
    if np.all(scale == 1.0) or not np.isfinite(fit.coef):
        return fit
    full = np.append(1.0, scale)
    return replace(fit, coef=fit.coef * scale[0], se=fit.se * scale[0], coefficients=fit.coefficients * full,
                   std_errors=fit.std_errors * full)


def _wald_pvalue(z: np.ndarray) -> np.ndarray:
    """Two-sided Wald p-value ``2 P(Z > |z|)``: ``scipy.stats.norm.sf`` is ``ndtr(-z)``, without its Python
    layers (0.1 ms a call, about as long as a whole compiled fit on a small tree)."""
    return 2.0 * ndtr(-np.abs(z))


def _alpha_near_bound(lam: float | np.ndarray, lo: float, hi: float) -> bool | np.ndarray:
    """phyloglm's alphaWarn: ``log(1/alpha)`` within ``_ALPHA_WARN_MARGIN`` of either bound."""
    return (lam > hi - _ALPHA_WARN_MARGIN) | (lam < lo + _ALPHA_WARN_MARGIN)


def singular_design(design: np.ndarray) -> bool:
    """A constant column besides the intercept, or collinear columns: phyloglm cannot fit it. Columns are
    brought to one scale first, so a predictor in units of 1e-6 next to a covariate in units of 1e4 is not
    called collinear (the rank's tolerance is relative to the largest column)."""
    if np.any(np.ptp(design[:, 1:], axis=0) == 0):
        return True
    return bool(np.linalg.matrix_rank(design / np.max(np.abs(design), axis=0)) < design.shape[1])


def _kernel_tree(geom: TreeGeometry) -> tuple[np.ndarray, ...]:
    return geom.row_tip, geom.tip_row, geom.length, geom.age, geom.parent_of


def _fit_compiled(obj: _Objective) -> LogisticFit | None:
    """The compiled climb (:mod:`tacit.logistic_kernels`) when it settles the fit, else None."""
    dk = obj.dk
    theta, se = np.zeros(dk + 1), np.zeros(dk)
    rows = len(obj.geom.age)
    lo, hi = obj.lam_bounds
    code, penalised, loglik, used = logistic_kernels.fit_one(
        *_kernel_tree(obj.geom), np.ascontiguousarray(obj.x), obj.y, lo, hi, obj.lam_start, obj.btol, theta, se,
        *logistic_kernels.workspace(rows, dk))
    if code != logistic_kernels.SETTLED:
        return None
    beta, z = theta[:dk], theta[:dk] / se
    at_bound = bool(_alpha_near_bound(theta[-1], lo, hi))
    pvalue = _wald_pvalue(z)
    return LogisticFit(coef=float(beta[1]), se=float(se[1]), z=float(z[1]), pvalue=float(pvalue[1]),
                       intercept=float(beta[0]), intercept_se=float(se[0]), alpha=math.exp(-theta[-1]),
                       penalised_loglik=penalised, loglik=loglik, converged=True, alpha_at_bound=at_bound,
                       status="alpha_at_bound" if at_bound else "ok", n_species=len(obj.y), coefficients=beta.copy(),
                       std_errors=se, mean_tip_height=obj.geom.tmax, n_evaluations=int(used))


@dataclass(frozen=True)
class BatchFits:
    """Fits of :func:`fit_batch`, one entry per pair: the predictor's coefficient, its standard error,
    Wald ``z`` and ``p``, and the status (as :attr:`LogisticFit.status`)."""

    coef: np.ndarray
    se: np.ndarray
    z: np.ndarray
    pvalue: np.ndarray
    status: np.ndarray
    exact: int  # pairs the compiled climb handed to the exact maximiser


def fit_batch(geom: TreeGeometry, xs: np.ndarray, ys: np.ndarray, pairs: np.ndarray,
              covariates: np.ndarray | None = None, *, btol: float = BTOL,
              log_alpha_bound: float = LOG_ALPHA_BOUND, part_size: int | None = None) -> BatchFits:
    """:func:`fit_phyloglm` of ``ys[j] ~ xs[i] (+ covariates)`` for each pair ``(i, j)``, on threads.

    Every data set must have both classes and a full-rank design (callers check this once per predictor
    and response). A compiled climb fits the pairs on ``numba.get_num_threads()`` threads; a pair it does
    not settle is fitted by the exact maximiser, so the result equals :func:`fit_phyloglm`'s
    (:class:`PendingBatch` says how the two overlap).

    Parameters
    ----------
    geom
        Geometry of the tree of the species fitted (tip order = columns of ``xs``, ``ys``).
    xs, ys
        ``(m, n)`` predictors and ``(r, n)`` 0/1 responses.
    pairs
        ``(P, 2)`` int rows ``(i, j)``.
    covariates
        Optional ``(n, c)``.
    part_size
        Pairs per part of the climb (default: from the number of pairs and threads). Results do not
        depend on it.
    """
    return PendingBatch(geom, xs, ys, pairs, covariates, btol=btol, log_alpha_bound=log_alpha_bound,
                        part_size=part_size).result()


# Pairs per part of a batch: parts small enough that the serial tail (the hand-overs of the last parts) is
# short, large enough that a helper's wait for the GIL between parts is not.
_PART_MIN, _PART_MAX = 16, 256
# A helper that has climbed a part needs the GIL to take the next, while the caller's thread holds it to
# redo hand-overs; Python makes a holder let go only every switch interval, 5 ms by default, which left a
# helper idle for a fifth of a part of 64 fits on a 241-species tree. 0.5 ms while helpers run.
_SWITCH_INTERVAL = 0.0005  # seconds
# numba's threading layers that allow parallel loops launched from several threads at once (its own
# "workqueue", the fallback where neither OpenMP nor TBB is found, aborts the process): with another, the
# caller climbs every batch itself.
_CONCURRENT_LAYERS = ("omp", "tbb")
_HELPERS: dict[int, queue.SimpleQueue] = {}
_STARTED: list[weakref.ref] = []  # batches with helpers, in the order started (PendingBatch)
_SAVED_INTERVAL = [0.005]  # the switch interval before the first of them
_LOCK = threading.Lock()


def _helpers(count: int) -> queue.SimpleQueue:
    """The queue of ``count`` helper threads (started once per process): each takes a batch from it and
    climbs the batch's parts, one at a time on one numba thread, until none is left."""
    with _LOCK:
        if count not in _HELPERS:
            batches: queue.SimpleQueue = queue.SimpleQueue()

            def serve() -> None:
                numba.set_num_threads(1)
                while True:
                    batches.get()._serve()

            for i in range(count):
                threading.Thread(target=serve, name=f"tacit-climb-{count}-{i}", daemon=True).start()
            _HELPERS[count] = batches
        return _HELPERS[count]


def _batch_running(running: bool, batch: PendingBatch) -> None:
    """Keep (or drop) a batch whose parts helpers may be climbing, for :func:`_climb_for_another`; a short
    switch interval while there are any."""
    with _LOCK:
        if running:
            if not _STARTED:
                _SAVED_INTERVAL[0] = sys.getswitchinterval()
                sys.setswitchinterval(min(_SAVED_INTERVAL[0], _SWITCH_INTERVAL))
            _STARTED.append(weakref.ref(batch))
        else:
            _STARTED[:] = [ref for ref in _STARTED if ref() not in (batch, None)]
            if not _STARTED:
                sys.setswitchinterval(_SAVED_INTERVAL[0])


def _climb_for_another(waiting: PendingBatch) -> bool:
    """Climb one part of another started batch (the last started first) for a thread that would otherwise
    wait for a helper to finish a part of ``waiting``; False when no batch has a part left."""
    with _LOCK:
        others = [ref() for ref in reversed(_STARTED)]
    for batch in others:
        if batch is None or batch is waiting:
            continue
        part = batch._take()
        if part is not None:
            batch._climb_and_hand_in(part)
            return True
    return False


class PendingBatch:
    """:func:`fit_batch` started: the compiled climb of its pairs runs while the caller goes on; ``result()``
    finishes it.

    With ``k = numba.get_num_threads()`` (of the calling thread) above 1, the pairs are cut into parts, and
    ``k - 1`` helper threads start climbing them at once, each part on one numba thread, compiled and
    without the GIL. ``result()`` then redoes, in the calling thread, the hand-overs of each part already
    climbed (Python, the exact maximiser) and climbs the parts no helper has begun: ``k`` threads in all,
    and the cores do not wait for a serial redo after a parallel climb, nor for the thread that drew the
    slowest share of pairs (numba's own loop splits the pairs up front). A caller that starts the next
    batch before asking for this one's result also overlaps its own Python work with the climb, and while
    it waits for a helper's last part of this batch it climbs parts of the later one. With one
    thread (or numba's workqueue threading layer, which cannot run loops from two threads at once),
    ``result()`` climbs and redoes all pairs itself, on numba's threads. Each pair is fitted alone: the
    parts change nothing in the results.
    """

    def __init__(self, geom: TreeGeometry, xs: np.ndarray, ys: np.ndarray, pairs: np.ndarray,
                 covariates: np.ndarray | None = None, *, btol: float = BTOL,
                 log_alpha_bound: float = LOG_ALPHA_BOUND, part_size: int | None = None) -> None:
        self._geom, self._btol, self._bound = geom, btol, log_alpha_bound
        self._xs = np.ascontiguousarray(xs, dtype=float)
        self._ys = np.ascontiguousarray(ys, dtype=float)
        self._pairs = pairs = np.ascontiguousarray(pairs, dtype=np.int64).reshape(-1, 2)
        # The compiled climb does not check indices: a pair naming a row that is not there would be fitted on
        # whatever memory follows the array.
        if len(pairs) and (pairs.min() < 0 or pairs[:, 0].max() >= len(self._xs) or pairs[:, 1].max() >= len(self._ys)):
            raise IndexError(f"pairs name rows beyond the {len(self._xs)} predictors or {len(self._ys)} responses")
        n = geom.n_tips
        self._covariates = None if covariates is None else np.ascontiguousarray(
            np.asarray(covariates, dtype=float).reshape(n, -1))
        cov = np.zeros((n, 0)) if self._covariates is None else self._covariates
        dk = 2 + cov.shape[1]
        count = len(pairs)
        self._x_scale = _power_of_two_scales(self._xs.T)  # as fit_phyloglm
        self._theta, self._se = np.zeros((count, dk + 1)), np.ones((count, dk))
        self._code, self._value = np.zeros(count, dtype=np.int64), np.zeros((count, 2))
        self._used = np.zeros(count, dtype=np.int64)
        self._centre = centre = math.log(geom.tmax)
        self._lo, self._hi = centre - log_alpha_bound, centre + log_alpha_bound
        self._args = (*_kernel_tree(geom), self._xs * self._x_scale[:, None], self._ys,
                      cov * _power_of_two_scales(cov))
        self._exact: dict[int, LogisticFit] = {}
        self._done: BatchFits | None = None
        self._error: BaseException | None = None  # why result() failed (it is not tried twice)
        self._workers = workers = numba.get_num_threads()  # (starts numba's threads: the layer is known)
        self._parts: list[slice] = []
        self._taken = 0  # parts begun (by a helper or the caller), under self._lock
        self._lock, self._climbed = threading.Lock(), queue.SimpleQueue()  # parts climbed, or a helper's error
        self._stopped = self._running = False
        if workers > 1 and count and numba.threading_layer() in _CONCURRENT_LAYERS:
            size = part_size or min(max(count // (8 * workers), _PART_MIN), _PART_MAX)
            self._parts = [slice(a, min(a + size, count)) for a in range(0, count, size)]
            _batch_running(True, self)
            self._running = True
            helpers = _helpers(workers - 1)
            for _ in range(min(workers - 1, len(self._parts))):
                helpers.put(self)

    def _take(self) -> slice | None:
        """The next part no thread has begun, or None."""
        with self._lock:
            if self._stopped or self._taken == len(self._parts):
                return None
            self._taken += 1
            return self._parts[self._taken - 1]

    def _serve(self) -> None:
        """A helper's work on this batch: climb parts until none is left (or one fails)."""
        while (part := self._take()) is not None and self._climb_and_hand_in(part):
            pass

    def _climb_and_hand_in(self, part: slice) -> bool:
        """Climb a part for another thread, and hand it (or the error) to ``result()``; False on an error."""
        try:
            self._climb(part)
        except BaseException as error:  # noqa: BLE001 - raised in the caller's thread by result()
            self._climbed.put(error)
            return False
        self._climbed.put(part)
        return True

    def _climb(self, part: slice) -> None:
        logistic_kernels.fit_pairs(*self._args, self._pairs[part], self._lo, self._hi, self._centre,
                                   self._btol, self._theta[part], self._se[part], self._code[part],
                                   self._value[part], self._used[part])

    def _redo(self, part: slice) -> None:
        """The exact maximiser for the pairs of ``part`` the compiled climb did not settle."""
        for t in (np.flatnonzero(self._code[part] != logistic_kernels.SETTLED) + part.start).tolist():
            i, j = self._pairs[t]
            self._exact[t] = fit_phyloglm(self._geom, self._xs[i], self._ys[j], self._covariates, btol=self._btol,
                                          log_alpha_bound=self._bound, exact=True)

    def _finish(self) -> None:
        if not self._parts:
            whole = slice(0, len(self._pairs))
            if whole.stop:
                self._climb(whole)
                self._redo(whole)
            return
        # Parts (or errors) to receive from helpers: those this thread does not climb itself. Parts of a later
        # batch that this thread climbs while waiting here are received by that batch.
        own = received = 0
        try:
            numba.set_num_threads(1)  # for the parts climbed here (the setting is per thread)
            while own + received < len(self._parts):
                try:
                    item = self._climbed.get_nowait()
                    received += 1
                except queue.Empty:
                    item = self._take()
                    if item is not None:
                        own += 1
                        self._climb(item)
                    elif _climb_for_another(self):
                        continue
                    else:
                        item = self._climbed.get()
                        received += 1
                if isinstance(item, BaseException):
                    raise item
                self._redo(item)
        except BaseException as error:
            self._error = error
            raise
        finally:  # on an error, wait for the parts helpers are climbing: none may go on writing
            with self._lock:
                self._stopped = True
                running = self._taken - own - received
            for _ in range(running):
                self._climbed.get()
            numba.set_num_threads(self._workers)
            if self._running:
                self._running = False
                _batch_running(False, self)

    def __del__(self) -> None:  # started and dropped unfinished (an error in the caller): no helper holds it now
        if getattr(self, "_running", False):
            self._running = False
            _batch_running(False, self)

    def result(self) -> BatchFits:
        """The fits (once computed, the same object on every call)."""
        if self._error is not None:
            raise self._error
        if self._done is None:
            self._finish()
            pairs, theta, x_scale = self._pairs, self._theta, self._x_scale
            coef, coef_se = theta[:, 1] * x_scale[pairs[:, 0]], self._se[:, 1] * x_scale[pairs[:, 0]]
            z = coef / coef_se
            pvalue = _wald_pvalue(z)
            status = np.where(_alpha_near_bound(theta[:, -1], self._lo, self._hi), "alpha_at_bound",
                              "ok").astype(object)
            for t, fit in self._exact.items():
                coef[t], coef_se[t], z[t], pvalue[t], status[t] = fit.coef, fit.se, fit.z, fit.pvalue, fit.status
            self._done = BatchFits(coef=coef, se=coef_se, z=z, pvalue=pvalue, status=status, exact=len(self._exact))
        return self._done


def _summarise(obj: _Objective, theta: np.ndarray) -> LogisticFit:
    """Standard errors, Wald tests and status at the optimum ``theta``."""
    beta, alpha = theta[: obj.dk], math.exp(-theta[-1])
    penalised, loglik, info = obj.evaluate(theta, None)
    try:
        se = np.sqrt(np.diag(np.linalg.inv(info)))
    except np.linalg.LinAlgError:  # no information at this point (no likelihood there either)
        se = np.full(obj.dk, math.nan)
    z = beta / se
    pvalue = _wald_pvalue(z)
    converged = _stationary(obj, theta) and bool(np.all(np.isfinite(se)))
    at_bound = bool(_alpha_near_bound(theta[-1], *obj.lam_bounds))
    status = "not_converged" if not converged else ("alpha_at_bound" if at_bound else "ok")
    return LogisticFit(coef=float(beta[1]), se=float(se[1]), z=float(z[1]), pvalue=float(pvalue[1]),
                       intercept=float(beta[0]), intercept_se=float(se[0]), alpha=alpha,
                       penalised_loglik=penalised, loglik=loglik, converged=converged, alpha_at_bound=at_bound,
                       status=status, n_species=len(obj.y), coefficients=beta.copy(), std_errors=se,
                       mean_tip_height=obj.geom.tmax, n_evaluations=obj.n_evaluations)


_GEOMETRY_CACHE = 64  # pruned-tree geometries kept by fit_many (each holds an n x n matrix)


def fit_many(tree: Tree, x: np.ndarray, y: np.ndarray, covariates: np.ndarray | None = None,
             *, btol: float = BTOL, log_alpha_bound: float = LOG_ALPHA_BOUND) -> list[LogisticFit]:
    """:func:`fit_phyloglm` for each row of ``x``, on the tree pruned to that row's species.

    Parameters
    ----------
    tree
        Tree whose tips are the columns of ``x`` (in tip order), already restricted to species with a
        phenotype.
    x
        ``(m, n_tips)`` predictions, one row per OCR; NaN where a species has no prediction (dropped from
        that fit, with its phenotype).
    y
        ``(n_tips,)`` 0/1 phenotype.
    covariates
        Optional ``(n_tips, c)`` extra columns.

    Returns
    -------
    list of LogisticFit
        One per row, in order. Coverage rules (TACIT's 50 %) are the caller's; rows with fewer than 3
        species give ``singular_design``.

    Notes
    -----
    The pruned tree's geometry is reused across rows with the same missing pattern. Fits are not warm-started
    from one another: the local maximum reached depends on the start, which phyloglm takes from each data set.
    """
    x = np.atleast_2d(np.asarray(x, dtype=float))
    y = np.asarray(y, dtype=float)
    if x.shape[1] != tree.n_tips or len(y) != tree.n_tips:
        raise ValueError(f"x has {x.shape[1]} columns and y {len(y)} values; the tree has {tree.n_tips} tips")
    names = tree.tip_names
    geometries: dict[bytes, TreeGeometry] = {}
    fits = []
    for row in x:
        present = ~np.isnan(row)
        if present.sum() < 3:
            fits.append(_not_fitted("singular_design", int(present.sum()), 2 + _n_columns(covariates)))
            continue
        key = np.packbits(present).tobytes()
        if key not in geometries:
            if len(geometries) >= _GEOMETRY_CACHE:
                del geometries[next(iter(geometries))]  # the oldest
            pruned = tree if present.all() else tree.keep_tips([n for n, k in zip(names, present) if k])
            geometries[key] = tree_geometry(pruned, dense=False)
        extra = None if covariates is None else np.asarray(covariates, dtype=float).reshape(tree.n_tips, -1)[present]
        fits.append(fit_phyloglm(geometries[key], row[present], y[present], extra, btol=btol,
                                 log_alpha_bound=log_alpha_bound))
    return fits


def _n_columns(covariates: np.ndarray | None) -> int:
    return 0 if covariates is None else int(np.asarray(covariates).reshape(len(covariates), -1).shape[1])
