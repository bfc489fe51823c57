"""Benjamini–Hochberg false discovery rate."""

from __future__ import annotations

import numpy as np


def benjamini_hochberg(pvalues: np.ndarray) -> np.ndarray:
    """BH-adjusted p-values (q-values) for the finite entries of ``pvalues``; NaN stays NaN.

    The adjustment is over the finite p-values only (the OCRs that were tested), as R's
    ``p.adjust(method = "BH")`` on those values.
    """
    p = np.asarray(pvalues, dtype=float)
    out = np.full(p.shape, np.nan)
    idx = np.flatnonzero(np.isfinite(p))
    m = len(idx)
    if m == 0:
        return out
    order = np.argsort(p[idx], kind="stable")
    ranked = p[idx][order] * m / np.arange(1, m + 1)
    adjusted = np.minimum.accumulate(ranked[::-1])[::-1]
    out[idx[order]] = np.minimum(adjusted, 1.0)
    return out
