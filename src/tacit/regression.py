"""Phylogenetic generalised least squares under Brownian motion, through independent contrasts.

For a tree with ``n`` tips, Felsenstein's contrasts ``C`` (``(n-1, n)``) whiten the space orthogonal to the
root: for ``y = a + b x + e`` with ``cov(e) = sigma2 * V`` (BM), the GLS slope is the regression through the
origin of ``C y`` on ``C x``, and the GLS residual sum of squares is that regression's. This equals R's
``phylolm(y ~ x, model = "BM")``: its standard error uses ``RSS / (n - 2)`` and its p-value is a two-sided
t-test with ``n - 2`` degrees of freedom. Polytomies need no resolution: contrasts are taken sequentially
among the children, which is what zero-length branches from ``multi2di`` would give.

The pass over the tree is compiled once per species subset into a :class:`ContrastPlan` (a list of
pairwise combinations grouped by level), then applied to many columns at once (the observed trait and
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
    levels
        Per level, arrays ``(a, b, out, weight_a, weight_b, scale)``: rows ``a`` and ``b`` of the working
        buffer combine into row ``out`` as ``weight_a * v[a] + weight_b * v[b]``; their contrast is
        ``(v[a] - v[b]) * scale`` and is stored at contrast index ``out - n_tips``.
    root_row
        Buffer row holding the root (GLS mean) estimate.
    singular
        True when two tips are at distance 0 (the BM covariance is singular).
    """

    n_tips: int
    levels: tuple[tuple[np.ndarray, ...], ...]
    root_row: int
    singular: bool

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
        k, p = values.shape
        buffer = np.empty((2 * k - 1, p))
        buffer[:k] = values
        contrasts = np.empty((k - 1, p))
        for a, b, out, wa, wb, scale in self.levels:
            va = buffer[a]
            vb = buffer[b]
            contrasts[out - k] = (va - vb) * scale[:, None]
            buffer[out] = va * wa[:, None] + vb * wb[:, None]
        return contrasts, buffer[self.root_row]


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
    tips = np.flatnonzero(present)
    k = len(tips)
    if k < 2:
        raise ValueError("a contrast plan needs at least two tips")
    row = np.full(tree.n_nodes, -1, dtype=np.int64)
    extra = np.zeros(tree.n_nodes)
    row[tips] = np.arange(k)
    level = np.zeros(2 * k - 1, dtype=np.int64)
    ops: list[tuple[int, int, int, float, float]] = []
    next_row = k
    length = tree.length
    for node in tree.postorder():
        if node < tree.n_tips:
            continue
        kids = [(row[c], length[c] + extra[c]) for c in tree.children[node] if row[c] >= 0]
        if not kids:
            continue
        cur_row, cur_len = kids[0]
        for r, ln in kids[1:]:
            ops.append((int(cur_row), int(r), next_row, float(cur_len), float(ln)))
            level[next_row] = 1 + max(level[cur_row], level[r])
            total = cur_len + ln
            cur_len = cur_len * ln / total if total > 0 else 0.0
            cur_row = next_row
            next_row += 1
        row[node] = cur_row
        extra[node] = cur_len
    ops_arr = np.array(ops, dtype=float).reshape(-1, 5)
    a = ops_arr[:, 0].astype(np.int64)
    b = ops_arr[:, 1].astype(np.int64)
    out = ops_arr[:, 2].astype(np.int64)
    la, lb = ops_arr[:, 3], ops_arr[:, 4]
    total = la + lb
    singular = bool(np.any(total <= 0))
    safe = np.where(total > 0, total, 1.0)
    # Combined value: weighted by inverse variance, i.e. (v_a * l_b + v_b * l_a) / (l_a + l_b).
    wa = np.where(total > 0, lb / safe, 0.5)
    wb = np.where(total > 0, la / safe, 0.5)
    scale = np.where(total > 0, 1.0 / np.sqrt(safe), np.inf)
    op_level = level[out]
    levels = []
    for lv in np.unique(op_level):
        sel = op_level == lv
        levels.append((a[sel], b[sel], out[sel], wa[sel], wb[sel], scale[sel]))
    return ContrastPlan(k, tuple(levels), int(row[tree.root]), singular)


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
