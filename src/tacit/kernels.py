"""Compiled inner loop of the permulation test (numba): per permulation, the permulated trait, its contrasts
and every OCR's slope statistic, without a Python step or a temporary array per permulation.

Each OCR's statistic is computed from its own activity contrasts and the permulation's trait contrasts in a
fixed order, so it does not depend on which other OCRs share the call (chunking never changes a count).
Permulations are spread over threads (``numba.set_num_threads``); counts are summed in a fixed order.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

# error_model="numpy": a zero residual gives an infinite t, as in numpy, instead of ZeroDivisionError.


@njit(parallel=True, cache=True, error_model="numpy")
def permulation_counts(order: np.ndarray, local: np.ndarray, sorted_y: np.ndarray, op_index: np.ndarray,
                       op_weight: np.ndarray, basis: np.ndarray, ux: np.ndarray, sxx: np.ndarray,
                       observed: np.ndarray, sign: np.ndarray, df: float, conditional: bool
                       ) -> tuple[np.ndarray, np.ndarray]:
    """Count, per OCR, the permulations whose slope t is as extreme as observed.

    Parameters
    ----------
    order
        ``(p, n_all)``: per permulation, every species' index sorted by simulated value.
    local
        ``(n_all,)``: the species' row among the OCRs' species, or -1 when absent.
    sorted_y
        ``(k,)`` the real trait values of those species, sorted: the k-th smallest simulated species
        receives the k-th smallest value.
    op_index, op_weight
        ``(k-1, 3)`` int rows ``a, b, out`` and ``(k-1, 3)`` float ``w_a, w_b, scale`` of the contrast plan,
        in postorder: contrast ``out - k`` is ``(v[a] - v[b]) * scale`` and ``v[out] = w_a v[a] + w_b v[b]``.
    basis
        ``(k-1, r)`` orthonormal basis of the covariates' contrasts (``r = 0`` without covariates).
    ux
        ``(m, k-1)`` the OCRs' activity contrasts (already orthogonal to ``basis``).
    sxx, observed, sign
        ``(m,)`` sum of squares of ``ux``, observed ``|t|`` and sign of the observed slope.
    df
        Residual degrees of freedom.
    conditional
        TACIT's conditional test: count only permulations whose slope has the observed sign.

    Returns
    -------
    exceed, counted
        ``(m,)`` int64: permulations as extreme as observed (among those counted), and those counted (all
        ``p`` for the two-sided test).
    """
    p = order.shape[0]
    n_all = order.shape[1]
    k = sorted_y.shape[0]
    m = ux.shape[0]
    r = basis.shape[1]
    n_ops = op_index.shape[0]
    # 1. Per permulation (in parallel): the permulated trait, its contrasts (column j of `contrasts`) and their
    #    residual sum of squares.
    contrasts = np.empty((k - 1, p))
    sumsq = np.empty(p)
    for j in prange(p):
        values = np.empty(2 * k - 1)
        rank = 0
        for t in range(n_all):
            row = local[order[j, t]]
            if row >= 0:
                values[row] = sorted_y[rank]
                rank += 1
        total = 0.0
        for o in range(n_ops):
            va = values[op_index[o, 0]]
            vb = values[op_index[o, 1]]
            c = (va - vb) * op_weight[o, 2]
            contrasts[op_index[o, 2] - k, j] = c
            total += c * c
            values[op_index[o, 2]] = va * op_weight[o, 0] + vb * op_weight[o, 1]
        for b in range(r):
            proj = 0.0
            for o in range(n_ops):
                proj += basis[op_index[o, 2] - k, b] * contrasts[op_index[o, 2] - k, j]
            total -= proj * proj
        sumsq[j] = total
    # 2. Per OCR (in parallel): its slope on every permulation, summed over contrasts in a fixed order (the
    #    inner loop runs over permulations, so it vectorises without reordering any sum).
    exceed = np.zeros(m, dtype=np.int64)
    counted = np.zeros(m, dtype=np.int64)
    for q in prange(m):
        dot = np.zeros(p)
        for i in range(k - 1):
            u = ux[q, i]
            for j in range(p):
                dot[j] += u * contrasts[i, j]
        n_exceed = 0
        n_counted = 0
        for j in range(p):
            coef = dot[j] / sxx[q]
            rss = max(sumsq[j] - coef * coef * sxx[q], 0.0)
            stat = coef / np.sqrt(rss / df / sxx[q])
            # Equal |t| counts as "as extreme"; the tolerance absorbs rounding when a permulation equals the data.
            as_extreme = abs(stat) >= observed[q] * (1 - 1e-9)
            if conditional:
                if np.sign(coef) == sign[q]:
                    n_counted += 1
                    n_exceed += as_extreme
            else:
                n_counted += 1
                n_exceed += as_extreme
        exceed[q] = n_exceed
        counted[q] = n_counted
    return exceed, counted


@njit(cache=True)
def plan_ops(postorder: np.ndarray, child_ptr: np.ndarray, child_idx: np.ndarray, length: np.ndarray,
             n_tips: int, present: np.ndarray) -> tuple[np.ndarray, ...]:
    """The pairwise combinations of a contrast pass over the tips where ``present`` is true
    (:func:`tacit.regression.contrast_plan`); nodes left with one child pass their value up.

    Returns
    -------
    a, b, out, length_a, length_b, root_row
        Per combination (in postorder): the buffer rows combined, the row written and the two branch lengths;
        ``root_row`` holds the root.
    """
    n_nodes = length.shape[0]
    row = np.full(n_nodes, -1, dtype=np.int64)
    extra = np.zeros(n_nodes)
    k = 0
    for t in range(n_tips):
        if present[t]:
            row[t] = k
            k += 1
    a = np.empty(k - 1, dtype=np.int64)
    b = np.empty(k - 1, dtype=np.int64)
    out = np.empty(k - 1, dtype=np.int64)
    length_a = np.empty(k - 1)
    length_b = np.empty(k - 1)
    n_ops = 0
    next_row = k
    for node in postorder:
        if node < n_tips:
            continue
        cur_row = -1
        cur_len = 0.0
        for i in range(child_ptr[node], child_ptr[node + 1]):
            c = child_idx[i]
            if row[c] < 0:
                continue
            ln = length[c] + extra[c]
            if cur_row < 0:
                cur_row = row[c]
                cur_len = ln
                continue
            a[n_ops] = cur_row
            b[n_ops] = row[c]
            out[n_ops] = next_row
            length_a[n_ops] = cur_len
            length_b[n_ops] = ln
            total = cur_len + ln
            cur_len = cur_len * ln / total if total > 0 else 0.0
            cur_row = next_row
            next_row += 1
            n_ops += 1
        if cur_row >= 0:
            row[node] = cur_row
            extra[node] = cur_len
    return a, b, out, length_a, length_b, row[postorder[-1]]


@njit(cache=True)
def apply_plan(values: np.ndarray, op_index: np.ndarray, op_weight: np.ndarray, root_row: int
               ) -> tuple[np.ndarray, np.ndarray]:
    """Contrasts ``(k-1, p)`` and root estimates ``(p,)`` of the columns of ``values`` ``(k, p)`` under a
    contrast plan (:class:`tacit.regression.ContrastPlan`)."""
    k, p = values.shape
    buffer = np.empty((2 * k - 1, p))
    buffer[:k] = values
    contrasts = np.empty((k - 1, p))
    for o in range(op_index.shape[0]):
        a, b, out = op_index[o, 0], op_index[o, 1], op_index[o, 2]
        wa, wb, scale = op_weight[o, 0], op_weight[o, 1], op_weight[o, 2]
        for j in range(p):
            va = buffer[a, j]
            vb = buffer[b, j]
            contrasts[out - k, j] = (va - vb) * scale
            buffer[out, j] = va * wa + vb * wb
    return contrasts, buffer[root_row].copy()
