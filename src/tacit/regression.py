"""Phylogenetic generalised least squares under Brownian motion, through independent contrasts.

For a tree with ``n`` tips, Felsenstein's contrasts ``C`` (``(n-1, n)``) whiten the space orthogonal to the
root: for ``y = a + b x + e`` with ``cov(e) = sigma2 * V`` (BM), the GLS slope is the regression through the
origin of ``C y`` on ``C x``, and the GLS residual sum of squares is that regression's. This equals R's
``phylolm(y ~ x, model = "BM")``: its standard error uses ``RSS / (n - 2)`` and its p-value is a two-sided
t-test with ``n - 2`` degrees of freedom. Polytomies need no resolution: contrasts are taken sequentially
among the children, which is what zero-length branches from ``multi2di`` would give.

The pass over the tree is compiled once per species subset into a :class:`ContrastPlan` (the list of
pairwise combinations in postorder, run by compiled loops), then applied to many columns at once (the trait and
every permulation), so each fit costs O(n) per column with no n x n matrix.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats

from .tree import Tree


@dataclass(frozen=True)
class ContrastPlan:
    """Pairwise combinations that turn tip values into contrasts.

    Attributes
    ----------
    n_tips
        Number of tips used (the species subset).
    op_index, op_weight
        ``(n_tips - 1, 3)`` arrays, one row per combination in postorder: int ``a, b, out`` and float
        ``weight_a, weight_b, scale``. Rows ``a`` and ``b`` of the working buffer combine into row ``out`` as
        ``weight_a * v[a] + weight_b * v[b]``; their contrast is ``(v[a] - v[b]) * scale``, stored at contrast
        index ``out - n_tips``.
    root_row
        Buffer row holding the root (GLS mean) estimate.
    singular
        True when two tips are at distance 0 (the BM covariance is singular).
    """

    n_tips: int
    op_index: np.ndarray
    op_weight: np.ndarray
    root_row: int
    singular: bool

    def flat_ops(self) -> tuple[np.ndarray, np.ndarray]:
        """``(op_index, op_weight)``, for compiled loops (:mod:`tacit.kernels`)."""
        return self.op_index, self.op_weight

    def apply(self, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Contrasts and root estimates of ``values``.

        Parameters
        ----------
        values
            ``(n_tips, p)`` tip values in the plan's tip order (p columns fitted together).

        Returns
        -------
        contrasts
            ``(n_tips - 1, p)`` standardised contrasts.
        root
            ``(p,)`` GLS estimate of the root value (the phylogenetic mean).
        """
        from .kernels import apply_plan

        return apply_plan(np.asarray(values, dtype=np.float64), self.op_index, self.op_weight, self.root_row)


def contrast_plan(tree: Tree, present: np.ndarray) -> ContrastPlan:
    """Compile the contrast pass for the tips where ``present`` is True.

    Parameters
    ----------
    tree
        The full tree; tips absent from the subset are pruned implicitly (a node left with one child passes
        its value up and adds its branch length, exactly as ``ape::keep.tip`` would).
    present
        ``(n_tips,)`` bool mask. The plan's tip order is the order of ``np.flatnonzero(present)``.
    """
    from .kernels import plan_ops

    k = int(np.count_nonzero(present))
    if k < 2:
        raise ValueError("a contrast plan needs at least two tips")
    postorder, child_ptr, child_idx = _tree_arrays(tree)
    a, b, out, la, lb, root_row = plan_ops(postorder, child_ptr, child_idx, tree.length, tree.n_tips,
                                                  np.ascontiguousarray(present, dtype=np.bool_))
    total = la + lb
    singular = bool(np.any(total <= 0))
    safe = np.where(total > 0, total, 1.0)
    # Combined value: weighted by inverse variance, i.e. (v_a * l_b + v_b * l_a) / (l_a + l_b).
    wa = np.where(total > 0, lb / safe, 0.5)
    wb = np.where(total > 0, la / safe, 0.5)
    scale = np.where(total > 0, 1.0 / np.sqrt(safe), np.inf)
    return ContrastPlan(k, np.column_stack([a, b, out]), np.column_stack([wa, wb, scale]), int(root_row), singular)


def _tree_arrays(tree: Tree) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Postorder and children (CSR: ``child_idx[child_ptr[v]:child_ptr[v + 1]]``) of ``tree``, cached on it."""
    cached = tree.__dict__.get("_csr")
    if cached is None:
        counts = np.array([len(c) for c in tree.children], dtype=np.int64)
        child_ptr = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
        child_idx = np.array([c for kids in tree.children for c in kids], dtype=np.int64)
        cached = (tree.postorder(), child_ptr, child_idx)
        tree.__dict__["_csr"] = cached
    return cached


@dataclass(frozen=True)
class SlopeFits:
    """Slope of ``y ~ x`` for many ``y`` columns sharing one ``x``; arrays are ``(p,)``."""

    coef: np.ndarray
    se: np.ndarray
    statistic: np.ndarray
    intercept: np.ndarray
    df: int


def fit_slopes(plan: ContrastPlan, x: np.ndarray, ys: np.ndarray) -> SlopeFits:
    """PGLS (BM) of every column of ``ys`` on ``x`` with an intercept.

    Parameters
    ----------
    plan
        From :func:`contrast_plan` for the species of ``x`` and ``ys``.
    x
        ``(n,)`` predictor (predicted activity), in plan tip order.
    ys
        ``(n, p)`` responses (the trait, and its permulations), in plan tip order.

    Returns
    -------
    SlopeFits
        Slope, its standard error with ``RSS / (n - 2)``, t statistic and intercept, per column. A constant
        ``x`` gives NaN (the slope is not identifiable); callers check for it first.
    """
    n = plan.n_tips
    cols = np.concatenate([x[:, None], ys], axis=1)
    contrasts, root = plan.apply(cols)
    ux, uy = contrasts[:, 0], contrasts[:, 1:]
    sxx = float(ux @ ux)
    with np.errstate(divide="ignore", invalid="ignore"):
        coef = (ux @ uy) / sxx
        resid = uy - ux[:, None] * coef[None, :]
        rss = np.einsum("ij,ij->j", resid, resid)
        se = np.sqrt(rss / (n - 2) / sxx)
        statistic = coef / se
    intercept = root[1:] - coef * root[0]
    return SlopeFits(coef, se, statistic, intercept, n - 2)


def t_pvalue(statistic: np.ndarray | float, df: int) -> np.ndarray:
    """Two-sided p-value of a t statistic with ``df`` degrees of freedom."""
    return 2.0 * stats.t.sf(np.abs(statistic), df)
