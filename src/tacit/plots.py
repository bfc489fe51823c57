"""Figures for the Snakemake report: association QQ and volcano plots, top OCRs on the tree, model curves, QC.

Every function takes tables (as written by the workflow) and writes one PNG; nothing here computes statistics
beyond what a figure shows (genomic inflation lambda, ROC/PR points).
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd

from .association import TESTED
from .io import atomic_path
from .tree import Tree

CHI2_MEDIAN_1DF = 0.4549364231195724  # median of chi-square with 1 df


def _figure(width: float = 6.0, height: float = 4.5):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt.subplots(figsize=(width, height), dpi=110)


def _save(fig, path: str | Path) -> None:
    import matplotlib.pyplot as plt

    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", metadata={"Software": None})
    plt.close(fig)


def genomic_inflation(pvalues: np.ndarray) -> float:
    """lambda = median chi-square(1 df) of the p-values / its null median; 1 means calibrated."""
    from scipy import stats

    p = np.asarray(pvalues, dtype=float)
    p = p[np.isfinite(p) & (p > 0)]
    if len(p) == 0:
        return float("nan")
    return float(np.median(stats.chi2.isf(p, 1)) / CHI2_MEDIAN_1DF)


def qq_plot(table: pd.DataFrame, path: str | Path, title: str) -> None:
    """Observed vs expected -log10 p for the parametric and permulation p-values, with lambda in the legend."""
    fig, ax = _figure(5.5, 5.0)
    top = 0.0
    for column, colour in (("pvalue", "#1f77b4"), ("perm_pvalue", "#d62728")):
        p = table[column].to_numpy(dtype=float)
        p = np.sort(p[np.isfinite(p)])
        if len(p) == 0:
            continue
        expected = -np.log10((np.arange(1, len(p) + 1) - 0.5) / len(p))
        observed = -np.log10(p)
        ax.scatter(expected, observed, s=8, color=colour, label=f"{column} (λ = {genomic_inflation(p):.2f}, n = {len(p)})")
        top = max(top, expected.max())
    # The null line spans the expected range; strong hits rise far above it.
    ax.plot([0, top], [0, top], color="grey", lw=1, ls="--", label="null (y = x)")
    ax.set_xlim(0, top * 1.05 if top > 0 else 1)
    ax.set_xlabel("expected −log10 p (uniform null)")
    ax.set_ylabel("observed −log10 p")
    ax.set_title(title)
    ax.legend(loc="upper left", fontsize=8)
    _save(fig, path)


def volcano_plot(table: pd.DataFrame, path: str | Path, title: str, fdr: float = 0.1) -> None:
    """Slope of phenotype on activity against −log10 of the p-value used for FDR; discoveries in red."""
    fig, ax = _figure()
    ok = table[table["status"].isin(TESTED)]
    p = ok["perm_pvalue"].where(ok["perm_pvalue"].notna(), ok["pvalue"]).to_numpy(dtype=float)
    hit = (ok["fdr"] <= fdr).to_numpy()
    ax.scatter(ok["coef"][~hit], -np.log10(p[~hit]), s=8, color="grey", alpha=0.6, label="not significant")
    ax.scatter(ok["coef"][hit], -np.log10(p[hit]), s=12, color="#d62728", label=f"FDR ≤ {fdr} ({hit.sum()})")
    ax.axvline(0, color="black", lw=0.5)
    ax.set_xlabel("slope (phenotype per unit predicted activity; log-odds for binary traits)")
    ax.set_ylabel("−log10 p (permulation when run)")
    ax.set_title(title)
    ax.legend(fontsize=8)
    _save(fig, path)


def _tip_layout(tree: Tree) -> tuple[np.ndarray, np.ndarray]:
    """x (depth) and y (tip rank, internal nodes at the mean of their children) of every node."""
    x = tree.depths()
    y = np.zeros(tree.n_nodes)
    order = [n for n in tree.postorder()]
    tips = [n for n in tree.preorder() if n < tree.n_tips]
    y[tips] = np.arange(len(tips))[::-1]
    for node in order:
        if node >= tree.n_tips:
            y[node] = np.mean([y[c] for c in tree.children[node]])
    return x, y


def tree_heatmap(
    tree: Tree, activity: pd.DataFrame, phenotype: pd.Series, path: str | Path, title: str
) -> None:
    """The tree with, beside each species, predicted activity of the top OCRs and the phenotype.

    ``activity`` has species as index and one column per OCR; blank cells are species without an ortholog.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    x, y = _tip_layout(tree)
    n_tips = tree.n_tips
    height = max(4.0, 0.16 * n_tips + 1.5)
    fig, (ax_tree, ax_act, ax_ph) = plt.subplots(
        1, 3, figsize=(11, height), dpi=110, gridspec_kw={"width_ratios": [3, max(1, activity.shape[1]) * 0.4, 0.5]}
    )
    for node in range(tree.n_nodes):
        par = tree.parent[node]
        if par >= 0:
            ax_tree.plot([x[par], x[node]], [y[node], y[node]], color="black", lw=0.8)
            ax_tree.plot([x[par], x[par]], [y[par], y[node]], color="black", lw=0.8)
    for tip in range(n_tips):
        ax_tree.text(x[tip], y[tip], " " + tree.names[tip].replace("_", " "), va="center", fontsize=6, style="italic")
    ax_tree.set_xlim(0, x.max() * 1.45)
    ax_tree.set_ylim(-0.5, n_tips - 0.5)
    ax_tree.axis("off")
    rows = np.argsort(-y[:n_tips])
    species = [tree.names[t] for t in rows]
    grid = activity.reindex(species).to_numpy(dtype=float)
    image = ax_act.imshow(np.ma.masked_invalid(grid), aspect="auto", cmap="viridis", vmin=0, vmax=1,
                          extent=(-0.5, grid.shape[1] - 0.5, -0.5, n_tips - 0.5))
    ax_act.set_xticks(range(grid.shape[1]))
    ax_act.set_xticklabels(activity.columns, rotation=90, fontsize=6)
    ax_act.set_yticks([])
    ax_act.set_title("predicted activity", fontsize=8)
    fig.colorbar(image, ax=ax_act, fraction=0.05, pad=0.02)
    ph = phenotype.reindex(species).to_numpy(dtype=float)[:, None]
    ax_ph.imshow(np.ma.masked_invalid(ph), aspect="auto", cmap="magma", extent=(-0.5, 0.5, -0.5, n_tips - 0.5))
    ax_ph.set_xticks([0])
    ax_ph.set_xticklabels([phenotype.name or "phenotype"], rotation=90, fontsize=7)
    ax_ph.set_yticks([])
    fig.suptitle(title, fontsize=10)
    _save(fig, path)


def training_curves(history: pd.DataFrame, path: str | Path, title: str) -> None:
    """Loss per epoch (training, validation) and validation AUPRC when recorded."""
    fig, ax = _figure()
    for column in [c for c in history.columns if "loss" in c]:
        ax.plot(history["epoch"], history[column], marker="o", label=column)
    ax.set_xlabel("epoch")
    ax.set_ylabel("binary cross-entropy")
    metric_cols = [c for c in history.columns if "auprc" in c or "auroc" in c]
    if metric_cols:
        twin = ax.twinx()
        for column in metric_cols:
            twin.plot(history["epoch"], history[column], ls="--", marker=".", label=column)
        twin.set_ylabel("validation metric")
        twin.set_ylim(0, 1.02)
        twin.legend(loc="center right", fontsize=8)
    ax.legend(loc="upper right", fontsize=8)
    ax.set_title(title)
    _save(fig, path)


def roc_pr_curves(labels: np.ndarray, scores: np.ndarray, groups: Sequence[str], path: str | Path, title: str) -> None:
    """ROC and precision-recall curves per group (e.g. validation and test chromosomes)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (roc, pr) = plt.subplots(1, 2, figsize=(10, 4.5), dpi=110)
    groups = np.asarray(groups)
    for group in dict.fromkeys(groups):
        sel = groups == group
        y, s = np.asarray(labels)[sel], np.asarray(scores)[sel]
        order = np.argsort(-s, kind="stable")
        tp = np.cumsum(y[order] == 1)
        fp = np.cumsum(y[order] == 0)
        pos, neg = max(tp[-1], 1), max(fp[-1], 1)
        roc.plot(np.r_[0, fp / neg], np.r_[0, tp / pos], label=f"{group} (n = {sel.sum()})")
        pr.plot(tp / pos, tp / np.arange(1, len(y) + 1), label=f"{group} (positives {int(tp[-1])})")
    roc.plot([0, 1], [0, 1], color="grey", ls="--", lw=1)
    roc.set_xlabel("false positive rate")
    roc.set_ylabel("true positive rate")
    roc.set_title("ROC")
    pr.set_xlabel("recall")
    pr.set_ylabel("precision")
    pr.set_title("precision-recall")
    roc.legend(fontsize=8)
    pr.legend(fontsize=8)
    fig.suptitle(title)
    _save(fig, path)


def ortholog_qc(mapping: pd.DataFrame, sequences: pd.DataFrame, path: str | Path, title: str) -> None:
    """Per species: OCRs with an extracted sequence, and those lost at mapping or extraction, by reason."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    merged = mapping.merge(sequences, on="species", how="left").fillna(0)
    merged = merged.sort_values("extracted")
    reasons = [c for c in mapping.columns if c not in ("species", "n_peaks", "mapped", "median_length", "other_chrom")]
    reasons += [c for c in sequences.columns if c not in ("species", "n_orthologs", "extracted")]
    fig, ax = plt.subplots(figsize=(8, max(4, 0.18 * len(merged) + 1)), dpi=110)
    left = np.zeros(len(merged))
    for column, colour in [("extracted", "#2ca02c")] + [(r, None) for r in reasons]:
        values = merged[column].to_numpy(dtype=float)
        if column != "extracted" and not values.any():
            continue
        ax.barh(merged["species"].str.replace("_", " "), values, left=left, color=colour, label=column)
        left += values
    ax.set_xlabel("reference OCRs")
    ax.tick_params(axis="y", labelsize=6)
    ax.legend(fontsize=7, loc="lower right")
    ax.set_title(title)
    _save(fig, path)
