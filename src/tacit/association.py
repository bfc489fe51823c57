"""Per-OCR phylogenetic association of a phenotype with predicted activity, with permulation p-values.

For each OCR, as TACIT: the species are those common to the matrix, the tree and the known phenotypes, that
have an ortholog (a prediction). OCRs whose species number is below ``min_species_fraction`` of the common
species are skipped. The model is ``phenotype ~ activity`` (PGLS under BM), so the permulated variable is the
phenotype and the activity stays fixed.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .errors import InputError
from .fdr import benjamini_hochberg
from .permulation import PermulationSource, assign_by_order, conditional_pvalue, round_targets
from .regression import ContrastPlan, contrast_plan, t_pvalue
from .tables import PredictionMatrix
from .tree import Tree

log = logging.getLogger(__name__)

COLUMNS = ["ocr", "n_species", "coef", "se", "statistic", "pvalue", "perm_pvalue", "perm_trials", "fdr", "status"]
PERM_TESTS = ("conditional", "two-sided")


@dataclass
class AssociationSettings:
    """Options of :func:`associate` (defaults are TACIT's)."""

    permulations: int = 0
    max_permulations: int | None = None
    seed: int = 1
    min_species_fraction: float = 0.5
    perm_test: str = "conditional"
    resolve_count: int = 10  # an OCR is resolved once this many permulations are as extreme as observed
    trait_type: str = "continuous"
    max_draws_per_permulation: int = 100  # binary permulations: bound on rejection sampling


@dataclass
class _Fit:
    index: int
    plan: ContrastPlan
    present: np.ndarray
    x: np.ndarray
    y: np.ndarray
    coef: float
    stat: float
    ux: np.ndarray
    basis: np.ndarray | None = None  # orthonormal basis of the covariates' contrasts (FWL), or None
    exceed: int = 0
    counted: int = 0
    trials: int = 0


@dataclass
class Reconciliation:
    """Which species each join kept and dropped, for the log and the report."""

    common: list[str]
    dropped: dict[str, list[str]] = field(default_factory=dict)


def reconcile(matrix: PredictionMatrix, tree: Tree, trait: pd.Series) -> Reconciliation:
    """Species common to matrix, tree and known phenotype; every dropped species is logged with the reason."""
    in_tree = set(tree.tip_names)
    in_matrix = set(matrix.species)
    known = set(trait.index)
    dropped = {
        "matrix species not in tree": sorted(in_matrix - in_tree),
        "matrix species without a known phenotype": sorted((in_matrix & in_tree) - known),
        "tree species not in matrix": sorted(in_tree - in_matrix),
        "phenotype species not in matrix or tree": sorted(known - (in_matrix & in_tree)),
    }
    for reason, names in dropped.items():
        if names:
            shown = ", ".join(names[:10]) + (f" and {len(names) - 10} more" if len(names) > 10 else "")
            log.warning("%d %s: %s", len(names), reason, shown)
    common = [s for s in tree.tip_names if s in in_matrix and s in known]
    return Reconciliation(common, dropped)


def associate(matrix: PredictionMatrix, tree: Tree, trait: pd.Series, settings: AssociationSettings,
              covariates: pd.DataFrame | None = None, chunk: tuple[int, int] = (0, 1),
              fdr: bool = True) -> pd.DataFrame:
    """Fit every OCR, run adaptive permulations and add BH FDR.

    ``covariates`` (species x columns, optional) enter the model after activity (``trait ~ activity +
    covariates``); species with an unknown covariate are dropped like those with an unknown trait. The
    permulated variable stays the trait.

    ``chunk = (k, n)`` fits only the k-th of n equal slices of the OCRs (rows ``k*m//n .. (k+1)*m//n``);
    species reconciliation and the coverage threshold still use the whole matrix, and permulation ``j`` is the
    same draw in every chunk, so the slices of a chunked run are the rows of the whole run. With
    ``fdr=False`` the ``fdr`` column is left empty, for :func:`gather` to fill over all chunks.

    Returns
    -------
    pd.DataFrame
        One row per OCR of ``matrix`` in its order, columns :data:`COLUMNS`. ``status`` is ``ok`` or why the
        OCR was not tested (``too_few_species``, ``constant_activity``, ``constant_trait``, ``singular_tree``;
        binary traits also ``one_class``, ``not_converged``, ``alpha_at_bound`` - tested, as phyloglm
        reports it with a warning - and ``permulation_rejection_limit``). For binary traits ``statistic``
        is phyloglm's Wald z, else the t of the slope.
    """
    if settings.perm_test not in PERM_TESTS:
        raise ValueError(f"perm_test must be one of {PERM_TESTS}")
    if covariates is not None and covariates.shape[1]:
        known = covariates.index[covariates.notna().all(axis=1)]
        unknown = sorted(set(trait.index) - set(known))
        if unknown:
            log.warning("%d species without a known covariate dropped: %s", len(unknown), ", ".join(unknown[:10]))
        trait = trait[trait.index.isin(known)]
    else:
        covariates = None
    rec = reconcile(matrix, tree, trait)
    if len(rec.common) < 3:
        raise InputError(f"only {len(rec.common)} species are shared by the matrix, the tree and the phenotypes; need at least 3")
    sub_tree = tree.keep_tips(rec.common)
    col = {s: j for j, s in enumerate(matrix.species)}
    values = matrix.values[:, [col[s] for s in sub_tree.tip_names]]
    y_all = trait.loc[sub_tree.tip_names].to_numpy(dtype=float)
    cov_all = None if covariates is None else covariates.loc[sub_tree.tip_names].to_numpy(dtype=float)
    threshold = settings.min_species_fraction * len(rec.common)
    log.info("%d OCRs, %d common species, an OCR needs >= %.1f species", len(matrix.ocrs), len(rec.common), threshold)
    k, n_chunks = chunk
    if not 0 <= k < n_chunks:
        raise ValueError(f"chunk {k} of {n_chunks} does not exist")
    rows = slice(k * len(matrix.ocrs) // n_chunks, (k + 1) * len(matrix.ocrs) // n_chunks)
    values = values[rows]
    if n_chunks > 1:
        log.info("chunk %d of %d: OCRs %d-%d", k + 1, n_chunks, rows.start + 1, rows.stop)

    table = pd.DataFrame({"ocr": matrix.ocrs[rows]})
    for name in COLUMNS[1:-1]:
        table[name] = np.nan
    table["status"] = "ok"
    if settings.trait_type == "binary":
        from .binary import associate_binary

        associate_binary(values, y_all, sub_tree, threshold, table, settings, cov_all)
    else:
        fits = _observed_fits(values, y_all, sub_tree, threshold, table, cov_all)
        if settings.permulations > 0 and fits:
            _permulate(fits, sub_tree, settings, table)
    table["n_species"] = table["n_species"].astype("Int64")
    table["perm_trials"] = table["perm_trials"].astype("Int64")
    if fdr:
        add_fdr(table, settings.permulations > 0)
    return table[COLUMNS]


TESTED = ("ok", "alpha_at_bound")  # statuses whose p-values enter the FDR (phyloglm reports alpha at bound)


def add_fdr(table: pd.DataFrame, permulations: bool) -> None:
    """BH FDR over the tested OCRs, on ``perm_pvalue`` when permulations ran, else on ``pvalue`` (in place)."""
    tested = table["status"].isin(TESTED) & table["pvalue"].notna()
    basis = table["perm_pvalue"] if permulations else table["pvalue"]
    table["fdr"] = benjamini_hochberg(np.where(tested, basis.astype(float), np.nan))


def gather(parts: list[pd.DataFrame], permulations: bool) -> pd.DataFrame:
    """The association table of a chunked run: the chunks' rows in order, with BH FDR over all of them."""
    table = pd.concat(parts, ignore_index=True)
    if table["ocr"].duplicated().any():
        raise ValueError(f"OCR {table.loc[table['ocr'].duplicated(), 'ocr'].iloc[0]!r} is in two chunks")
    add_fdr(table, permulations)
    return table[COLUMNS]


def read_associations(path: str) -> pd.DataFrame:
    """Read a table written by :func:`write_associations` back with its column types."""
    table = pd.read_csv(path, sep="\t", dtype={"ocr": str, "status": str}, keep_default_na=False,
                        na_values={c: [""] for c in COLUMNS if c not in ("ocr", "status")})
    missing = [c for c in COLUMNS if c not in table.columns]
    if missing:
        raise InputError(f"not an association table: columns {missing} missing", path)
    table["n_species"] = table["n_species"].astype("Int64")
    table["perm_trials"] = table["perm_trials"].astype("Int64")
    return table[COLUMNS]


def _observed_fits(values: np.ndarray, y_all: np.ndarray, tree: Tree, threshold: float, table: pd.DataFrame,
                   cov_all: np.ndarray | None = None) -> list[_Fit]:
    plans: dict[bytes, tuple[ContrastPlan, np.ndarray | None]] = {}
    fits: list[_Fit] = []
    status = table["status"].to_numpy(dtype=object)
    n_cov = 0 if cov_all is None else cov_all.shape[1]
    for i, row in enumerate(values):
        present = np.isfinite(row)
        n = int(present.sum())
        table.iat[i, 1] = n
        if n < threshold or n < 3 + n_cov:
            status[i] = "too_few_species"
            continue
        x, y = row[present], y_all[present]
        if np.ptp(x) == 0:
            status[i] = "constant_activity"
            continue
        if np.ptp(y) == 0:
            status[i] = "constant_trait"
            continue
        key = np.packbits(present).tobytes()
        if key not in plans:
            plans[key] = _plan_with_covariates(tree, present, cov_all)
        plan, basis = plans[key]
        if plan.singular:
            status[i] = "singular_tree"
            continue
        ux, uy = plan.apply(np.column_stack([x, y]))[0].T  # one contrast pass for both
        if basis is not None:
            # Frisch-Waugh-Lovell: the slope of y on x given covariates is that of the residuals of both.
            ux = ux - basis @ (basis.T @ ux)
            uy = uy - basis @ (basis.T @ uy)
        sxx = float(ux @ ux)
        if sxx <= 1e-12 * max(float(np.sum(x * x)), 1e-300):
            status[i] = "collinear_covariates"
            continue
        df = n - 2 - (0 if basis is None else basis.shape[1])
        coef = float(ux @ uy) / sxx
        rss = max(float(uy @ uy) - coef * coef * sxx, 0.0)
        se = float(np.sqrt(rss / df / sxx))
        stat = coef / se if se > 0 else np.inf * np.sign(coef)
        table.loc[i, ["coef", "se", "statistic", "pvalue"]] = [coef, se, stat, float(t_pvalue(stat, df))]
        fits.append(_Fit(i, plan, present, x, y, coef, stat, ux, basis))
    table["status"] = status
    log.info("fitted %d OCRs; %d not tested", len(fits), len(values) - len(fits))
    return fits


def _plan_with_covariates(tree: Tree, present: np.ndarray, cov_all: np.ndarray | None
                          ) -> tuple[ContrastPlan, np.ndarray | None]:
    """Contrast plan of a species set and an orthonormal basis of its covariates' contrasts (or None)."""
    plan = contrast_plan(tree, present)
    if cov_all is None or plan.singular:
        return plan, None
    # Orthonormal basis of the covariates' contrasts, rank-revealing (collinear covariates count once).
    u, sv, _ = np.linalg.svd(plan.apply(cov_all[present])[0], full_matrices=False)
    rank = int(np.sum(sv > sv.max(initial=0.0) * 1e-10))
    return plan, u[:, :rank]


def _permulate(fits: list[_Fit], tree: Tree, settings: AssociationSettings, table: pd.DataFrame) -> None:
    source = PermulationSource(tree, settings.seed)
    maximum = max(settings.max_permulations or settings.permulations, settings.permulations)
    active = list(fits)
    done = 0
    started = time.monotonic()
    for target in round_targets(settings.permulations, maximum):
        if not active:
            break
        groups: dict[int, list[_Fit]] = {}
        for fit in active:
            groups.setdefault(id(fit.plan), []).append(fit)
        for _, _, order in source.orders(done, target):
            for members in groups.values():
                # OCRs with the same species set share the permulated trait and its contrasts.
                lead = members[0]
                permuted = assign_by_order(order, lead.present, lead.y)
                contrasts, _ = lead.plan.apply(permuted)
                sumsq = np.einsum("ij,ij->j", contrasts, contrasts)
                if lead.basis is not None:
                    # Residual sum of squares given covariates; ux is already orthogonal to them.
                    proj = lead.basis.T @ contrasts
                    sumsq = sumsq - np.einsum("ij,ij->j", proj, proj)
                for first in range(0, len(members), 256):
                    _count(members[first : first + 256], contrasts, sumsq, settings.perm_test)
        done = target
        active = [f for f in active if f.exceed < settings.resolve_count]
        log.info(
            "permulations: %d per OCR done, %d OCRs unresolved (%.1f s)", done, len(active), time.monotonic() - started
        )
    for fit in fits:
        if settings.perm_test == "conditional":
            p = conditional_pvalue(fit.exceed, fit.counted)
        else:
            p = (1.0 + fit.exceed) / (1.0 + fit.trials)
        table.loc[fit.index, ["perm_pvalue", "perm_trials"]] = [float(p), fit.trials]


def _count(fits: list[_Fit], contrasts: np.ndarray, sumsq: np.ndarray, perm_test: str) -> None:
    """Add one block of permulations to the counts of ``fits``, which share one species set.

    ``contrasts`` are the ``(n-1, p)`` contrasts of the permulated traits and ``sumsq`` their column sums of
    squares; each slope's t follows from the OCR's activity contrasts alone (RSS = S_yy - b^2 S_xx), so the
    whole group costs one matrix product.
    """
    ux = np.stack([f.ux for f in fits])
    sxx = np.einsum("ij,ij->i", ux, ux)[:, None]
    coef = (ux @ contrasts) / sxx
    rss = np.maximum(sumsq[None, :] - coef * coef * sxx, 0.0)
    with np.errstate(divide="ignore"):
        n_cov = 0 if fits[0].basis is None else fits[0].basis.shape[1]
        stat = coef / np.sqrt(rss / (fits[0].plan.n_tips - 2 - n_cov) / sxx)
    observed = np.array([[abs(f.stat)] for f in fits])
    # Equal |t| counts as "as extreme"; the tolerance absorbs rounding when a permulation equals the data.
    extreme = np.abs(stat) >= observed * (1 - 1e-9)
    if perm_test == "conditional":
        same_sign = np.sign(coef) == np.array([[np.sign(f.coef)] for f in fits])
        counted = same_sign.sum(axis=1)
        exceed = (extreme & same_sign).sum(axis=1)
    else:
        counted = np.zeros(len(fits), dtype=int)
        exceed = extreme.sum(axis=1)
    for fit, c, e in zip(fits, counted.tolist(), exceed.tolist()):
        fit.counted += c
        fit.exceed += e
        fit.trials += contrasts.shape[1]


def write_associations(table: pd.DataFrame, path: str, exact: bool = False) -> None:
    """Write the association table as TSV: floats with 12 significant digits (17 with ``exact``, for chunks
    that are gathered later, so the gathered table equals an unchunked run's), empty cells for NaN."""
    from .io import atomic_writer

    with atomic_writer(path) as out:
        table.to_csv(out, sep="\t", index=False, na_rep="", float_format="%.17g" if exact else "%.12g",
                     lineterminator="\n")
