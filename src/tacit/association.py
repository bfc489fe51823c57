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
from typing import Callable

import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

from .errors import InputError
from .fdr import benjamini_hochberg
from .permulation import PermulationSource, conditional_pvalue, round_targets
from .regression import ContrastPlan, contrast_plan, t_pvalue
from .checkpoint import Checkpoint
from .tables import MatrixFile, PredictionMatrix
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
    # Binary permulations: a species set may examine this many BM draws per permulation of a round's target
    # (rejection sampling), then its OCRs report permulation_rejection_limit. TACIT's vocal learners keep
    # about 1 draw in 400.
    max_draws_per_permulation: int = 10_000
    block_rows: int = 20000  # OCRs worked on (and held in memory) at a time


@dataclass
class _Fit:
    index: int
    plan: ContrastPlan
    present: np.ndarray  # shared by the OCRs of one species set, like y (the trait of those species)
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


def reconcile(species: list[str], tree: Tree, trait: pd.Series) -> Reconciliation:
    """Species common to the matrix's ``species``, the tree and the known phenotypes; every dropped species
    is logged with the reason."""
    in_tree = set(tree.tip_names)
    in_matrix = set(species)
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


SPECIES_REPORT_COLUMNS = ["species", "in_matrix", "in_tree", "in_phenotypes", "trait_known", "covariates_known",
                          "analysed", "reason", "name_in_phenotypes"]


def species_report(species: list[str], tree: Tree, listed: dict[str, str], trait: pd.Series,
                   covariates: pd.DataFrame | None = None) -> pd.DataFrame:
    """Every species seen at any join of the association, whether it was analysed and, if not, why.

    Parameters
    ----------
    species
        The prediction matrix's species (normalised names).
    tree
        The tree.
    listed
        Every species row of the phenotype table: normalised name -> name as written there.
    trait
        Known trait values by species (:func:`tacit.tables.read_phenotypes`).
    covariates
        Known covariate values (species x columns), or None.

    Returns
    -------
    pd.DataFrame
        Columns :data:`SPECIES_REPORT_COLUMNS`, one row per species in the union of matrix, tree and
        phenotype table, analysed species first in tree order. ``reason`` names the first join that dropped
        the species; ``name_in_phenotypes`` is filled when the phenotype table wrote the name differently
        (e.g. ``Genus species``).
    """
    in_matrix, in_tree = set(species), set(tree.tip_names)
    cov_known = set(trait.index) if covariates is None else set(covariates.index[covariates.notna().all(axis=1)])
    rows = []
    for name in list(dict.fromkeys([*tree.tip_names, *species, *listed])):
        checks = [
            (name in in_matrix, "no predictions (not a column of the prediction matrix)"),
            (name in in_tree, "not a tip of the tree"),
            (name in listed, "not in the phenotype table"),
            (name in trait.index, "trait value missing (empty or NA)"),
            (name in cov_known, "a covariate value missing (empty or NA)"),
        ]
        reason = next((why for ok, why in checks if not ok), "")
        raw = listed.get(name, "")
        rows.append([name, *(ok for ok, _ in checks), not reason, reason, raw if raw != name else ""])
    table = pd.DataFrame(rows, columns=SPECIES_REPORT_COLUMNS)
    return table.sort_values("analysed", ascending=False, kind="stable").reset_index(drop=True)


def write_species_report(table: pd.DataFrame, path: str) -> None:
    """Write :func:`species_report` as TSV (``yes``/``no`` for the joins)."""
    from .io import atomic_writer

    out_table = table.replace({True: "yes", False: "no"})
    with atomic_writer(path) as out:
        out_table.to_csv(out, sep="\t", index=False, lineterminator="\n")


def associate(matrix: PredictionMatrix | MatrixFile, tree: Tree, trait: pd.Series, settings: AssociationSettings,
              covariates: pd.DataFrame | None = None, chunk: tuple[int, int] = (0, 1),
              fdr: bool = True, checkpoint: Checkpoint | None = None) -> pd.DataFrame:
    """Fit every OCR, run adaptive permulations and add BH FDR.

    ``covariates`` (species x columns, optional) enter the model after activity (``trait ~ activity +
    covariates``); species with an unknown covariate are dropped like those with an unknown trait (NaN in
    ``trait``, or not in it). The permulated variable stays the trait. A binary trait must be 0 or 1 and any
    trait numeric (:class:`InputError` naming a species otherwise).

    ``chunk = (k, n)`` fits only the k-th of n equal slices of the OCRs (rows ``k*m//n .. (k+1)*m//n``);
    species reconciliation and the coverage threshold still use the whole matrix, and permulation ``j`` is the
    same draw in every chunk, so the slices of a chunked run are the rows of the whole run. With
    ``fdr=False`` the ``fdr`` column is left empty, for :func:`gather` to fill over all chunks.

    The OCRs are worked through in blocks of ``settings.block_rows`` (a :class:`MatrixFile` is read one
    block at a time, so memory follows the block, not the matrix); each OCR's result depends only on its own
    row, so the blocking never changes the table. With a ``checkpoint``, finished blocks and the running
    block's permulation counts are saved, and a rerun continues where the last one stopped.

    Returns
    -------
    pd.DataFrame
        One row per OCR of ``matrix`` in its order, columns :data:`COLUMNS`. ``status`` is ``ok`` or why the
        OCR was not tested (``too_few_species``, ``constant_activity``, ``constant_trait``, ``singular_tree``;
        binary traits also ``one_class``, ``not_converged``, ``alpha_at_bound`` - tested, as phyloglm
        reports it with a warning - and ``permulation_rejection_limit``). For binary traits ``statistic``
        is phyloglm's Wald z, else the t of the slope.
    """
    # Every linear-algebra call of this step is small (a few coefficients, one tree), so BLAS threads never
    # speed it up; but a threaded BLAS call wakes threads that then compete with the compiled loops' threads
    # and the exact maximiser: with the cores busy (other jobs on the node) the exact phyloglm fits took 2-2.5x
    # as long. One BLAS thread here; the user's setting returns afterwards.
    with threadpool_limits(limits=1, user_api="blas"):
        return _associate(matrix, tree, trait, settings, covariates, chunk, fdr, checkpoint)


def _known_trait(trait: pd.Series, trait_type: str) -> pd.Series:
    """The species whose trait is known: NaN (pandas' reading of ``NA`` or an empty cell) means unknown, as a
    species missing from the series does (reconcile logs them). A binary trait must be 0 or 1."""
    name = f"trait {trait.name!r}" if trait.name is not None else "the trait"
    values = pd.to_numeric(trait, errors="coerce")
    text = trait[values.isna() & trait.notna()]
    if len(text):
        raise InputError(f"{name} must be numeric, found {text.iloc[0]!r} for {text.index[0]}")
    values = values[values.notna()]
    if trait_type == "binary":
        bad = values[~values.isin((0.0, 1.0))]
        if len(bad):
            more = f" (and {len(bad) - 1} more species)" if len(bad) > 1 else ""
            raise InputError(f"binary {name} must be 0 or 1, found {float(bad.iloc[0]):g} for {bad.index[0]}{more}")
    return values


def _associate(matrix: PredictionMatrix | MatrixFile, tree: Tree, trait: pd.Series, settings: AssociationSettings,
               covariates: pd.DataFrame | None, chunk: tuple[int, int], fdr: bool,
               checkpoint: Checkpoint | None) -> pd.DataFrame:
    """:func:`associate`, with BLAS on one thread."""
    if settings.perm_test not in PERM_TESTS:
        raise ValueError(f"perm_test must be one of {PERM_TESTS}")
    trait = _known_trait(trait, settings.trait_type)
    if covariates is not None and covariates.shape[1]:
        known = covariates.index[covariates.notna().all(axis=1)]
        unknown = sorted(set(trait.index) - set(known))
        if unknown:
            log.warning("%d species without a known covariate dropped: %s", len(unknown), ", ".join(unknown[:10]))
        trait = trait[trait.index.isin(known)]
    else:
        covariates = None
    rec = reconcile(matrix.species, tree, trait)
    if len(rec.common) < 3:
        raise InputError(f"only {len(rec.common)} species are shared by the matrix, the tree and the phenotypes; need at least 3")
    sub_tree = tree.keep_tips(rec.common)
    col = {s: j for j, s in enumerate(matrix.species)}
    columns = [col[s] for s in sub_tree.tip_names]
    y_all = trait.loc[sub_tree.tip_names].to_numpy(dtype=float)
    cov_all = None if covariates is None else covariates.loc[sub_tree.tip_names].to_numpy(dtype=float)
    threshold = settings.min_species_fraction * len(rec.common)
    log.info("%d OCRs, %d common species, an OCR needs >= %.1f species", matrix.n_rows, len(rec.common), threshold)
    k, n_chunks = chunk
    if not 0 <= k < n_chunks:
        raise ValueError(f"chunk {k} of {n_chunks} does not exist")
    rows = range(k * matrix.n_rows // n_chunks, (k + 1) * matrix.n_rows // n_chunks)
    if n_chunks > 1:
        log.info("chunk %d of %d: OCRs %d-%d", k + 1, n_chunks, rows.start + 1, rows.stop)

    source = PermulationSource(sub_tree, settings.seed)  # shared by the blocks: early rounds are drawn once
    n_blocks = -(-len(rows) // settings.block_rows)
    parts: list[pd.DataFrame] = []
    started = time.monotonic()
    skip = checkpoint.is_finished if checkpoint is not None else (lambda b: False)
    for b, block in matrix.blocks(rows.start, rows.stop, settings.block_rows, skip):
        if block is None:
            parts.append(checkpoint.finished(b))  # type: ignore[union-attr]
            continue
        values = block.values[:, columns]
        # Filled per OCR as numpy columns (a pandas cell assignment costs milliseconds), framed at the end.
        cells: dict[str, np.ndarray] = {name: np.full(len(block.ocrs), np.nan) for name in COLUMNS[1:-1]}
        cells["status"] = np.full(len(block.ocrs), "ok", dtype=object)
        rounds = RoundState(checkpoint, b)
        if settings.trait_type == "binary":
            from .binary import associate_binary

            associate_binary(values, y_all, sub_tree, threshold, cells, settings, cov_all, source, rounds)
        else:
            fits = _observed_fits(values, y_all, sub_tree, threshold, cells, cov_all)
            if settings.permulations > 0 and fits:
                _permulate(fits, source, settings, cells, rounds)
        table = pd.DataFrame({"ocr": block.ocrs, **cells})
        table["n_species"] = table["n_species"].astype("Int64")
        table["perm_trials"] = table["perm_trials"].astype("Int64")
        if checkpoint is not None:
            checkpoint.save_finished(b, table)
        parts.append(table)
        if n_blocks > 1:
            log.info("block %d of %d done: %d OCRs (%.1f s)", b + 1, n_blocks, sum(map(len, parts)),
                     time.monotonic() - started)
    table = pd.concat(parts, ignore_index=True) if parts else _empty_table()
    if fdr:
        add_fdr(table, settings.permulations > 0)
    return table[COLUMNS]


def _empty_table() -> pd.DataFrame:
    table = pd.DataFrame({name: pd.Series(dtype=float) for name in COLUMNS})
    table["ocr"] = table["ocr"].astype(object)
    table["status"] = table["status"].astype(object)
    table["n_species"] = table["n_species"].astype("Int64")
    table["perm_trials"] = table["perm_trials"].astype("Int64")
    return table


@dataclass
class RoundState:
    """One OCR block's permulation state, saved to and restored from a :class:`Checkpoint` (or nothing)."""

    checkpoint: Checkpoint | None
    block: int

    def restore(self) -> dict[str, np.ndarray] | None:
        return None if self.checkpoint is None else self.checkpoint.running(self.block)

    def save(self, state: Callable[[], dict[str, np.ndarray | int]], force: bool = True) -> None:
        """Save ``state()`` (built only when a save happens) at round ends, or when the interval is due."""
        if self.checkpoint is not None and (force or self.checkpoint.due()):
            self.checkpoint.save_running(self.block, state())


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


def _observed_fits(values: np.ndarray, y_all: np.ndarray, tree: Tree, threshold: float, table: dict[str, np.ndarray],
                   cov_all: np.ndarray | None = None) -> list[_Fit]:
    """Fit every OCR of ``values``; ``table`` holds the output columns as arrays, filled in place.

    OCRs with the same species set share one contrast pass (their activities are columns of one matrix);
    each OCR's numbers are still computed from its own column alone, so they do not depend on which other
    OCRs share the pass.
    """
    status = table["status"]
    n_cov = 0 if cov_all is None else cov_all.shape[1]
    present_all = np.isfinite(values)
    counts = present_all.sum(axis=1)
    table["n_species"][:] = counts
    by_set: dict[bytes, list[int]] = {}
    for i in range(len(values)):
        if counts[i] < threshold or counts[i] < 3 + n_cov:
            status[i] = "too_few_species"
        elif np.ptp(values[i, present_all[i]]) == 0:
            status[i] = "constant_activity"
        else:
            by_set.setdefault(np.packbits(present_all[i]).tobytes(), []).append(i)
    fits: list[_Fit] = []
    dfs = np.zeros(len(values))
    for rows in by_set.values():
        present = present_all[rows[0]]
        y = y_all[present]
        if np.ptp(y) == 0:
            status[rows] = "constant_trait"
            continue
        plan, basis = _plan_with_covariates(tree, present, cov_all)
        if plan.singular:
            status[rows] = "singular_tree"
            continue
        activity = values[np.ix_(rows, present)]
        contrasts = plan.apply(np.column_stack([activity.T, y]))[0]  # one pass for the set's OCRs and the trait
        uy = contrasts[:, -1].copy()
        if basis is not None:
            # Frisch-Waugh-Lovell: the slope of y on x given covariates is that of the residuals of both.
            uy = uy - basis @ (basis.T @ uy)
        df = len(y) - 2 - (0 if basis is None else basis.shape[1])
        for col, i in enumerate(rows):
            ux = contrasts[:, col].copy()
            if basis is not None:
                ux = ux - basis @ (basis.T @ ux)
            sxx = float(ux @ ux)
            x = activity[col]
            if sxx <= 1e-12 * max(float(np.sum(x * x)), 1e-300):
                status[i] = "collinear_covariates"
                continue
            coef = float(ux @ uy) / sxx
            rss = max(float(uy @ uy) - coef * coef * sxx, 0.0)
            se = float(np.sqrt(rss / df / sxx))
            stat = coef / se if se > 0 else np.inf * np.sign(coef)
            table["coef"][i], table["se"][i], table["statistic"][i], dfs[i] = coef, se, stat, df
            fits.append(_Fit(i, plan, present, y, coef, stat, ux, basis))
    fits.sort(key=lambda f: f.index)
    fitted = np.array([f.index for f in fits], dtype=np.int64)
    if len(fitted):
        table["pvalue"][fitted] = t_pvalue(table["statistic"][fitted], dfs[fitted])
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


def _permulate(fits: list[_Fit], source: PermulationSource, settings: AssociationSettings,
               table: dict[str, np.ndarray], rounds: RoundState) -> None:
    maximum = max(settings.max_permulations or settings.permulations, settings.permulations)
    active = list(fits)
    done = 0
    saved = rounds.restore()
    if saved is not None:
        for name in ("exceed", "counted", "trials"):
            for fit, value in zip(fits, saved[name].tolist()):
                setattr(fit, name, value)
        active = [fits[i] for i in saved["active"].tolist()]
        done = int(saved["done"])

    def state(now: int) -> dict[str, np.ndarray | int]:
        where = {id(f): i for i, f in enumerate(fits)}
        return {"done": now, "active": np.array([where[id(f)] for f in active], dtype=np.int64),
                **{name: np.array([getattr(f, name) for f in fits], dtype=np.int64)
                   for name in ("exceed", "counted", "trials")}}

    started = time.monotonic()
    for target in round_targets(settings.permulations, maximum):
        if target <= done:
            continue
        if not active:
            break
        groups: dict[int, list[_Fit]] = {}
        for fit in active:
            groups.setdefault(id(fit.plan), []).append(fit)
        batches = [_Batch.of(members, settings.perm_test == "conditional") for members in groups.values()]
        for _, end, order in source.orders(done, target):
            for batch in batches:
                # OCRs with the same species set share the permulated trait and its contrasts.
                batch.count(order)
            if end < target:
                rounds.save(lambda: state(end), force=False)  # inside a long round, every checkpoint interval
        done = target
        active = [f for f in active if f.exceed < settings.resolve_count]
        rounds.save(lambda: state(done))
        log.info(
            "permulations: %d per OCR done, %d OCRs unresolved (%.1f s)", done, len(active), time.monotonic() - started
        )
    for fit in fits:
        if settings.perm_test == "conditional":
            p = conditional_pvalue(fit.exceed, fit.counted)
        else:
            p = (1.0 + fit.exceed) / (1.0 + fit.trials)
        table["perm_pvalue"][fit.index] = p
        table["perm_trials"][fit.index] = fit.trials


@dataclass
class _Batch:
    """OCRs sharing one species set, laid out for :func:`tacit.kernels.permulation_counts`."""

    fits: list[_Fit]
    local: np.ndarray
    sorted_y: np.ndarray
    op_index: np.ndarray
    op_weight: np.ndarray
    basis: np.ndarray
    ux: np.ndarray
    sxx: np.ndarray
    observed: np.ndarray
    sign: np.ndarray
    df: float
    conditional: bool

    @classmethod
    def of(cls, fits: list[_Fit], conditional: bool) -> "_Batch":
        lead = fits[0]
        local = np.full(len(lead.present), -1, dtype=np.int64)
        local[lead.present] = np.arange(int(lead.present.sum()))
        op_index, op_weight = lead.plan.flat_ops()
        basis = lead.basis if lead.basis is not None else np.zeros((lead.plan.n_tips - 1, 0))
        ux = np.ascontiguousarray(np.stack([f.ux for f in fits]))
        return cls(fits, local, np.sort(lead.y), op_index, op_weight, np.ascontiguousarray(basis), ux,
                   np.array([float(f.ux @ f.ux) for f in fits]), np.array([abs(f.stat) for f in fits]),
                   np.array([np.sign(f.coef) for f in fits]), float(lead.plan.n_tips - 2 - basis.shape[1]),
                   conditional)

    def count(self, order: np.ndarray) -> None:
        """Add the permulations of ``order`` (``(p, n_all)`` rank orders) to every OCR's counts."""
        from .kernels import permulation_counts

        exceed, counted = permulation_counts(order, self.local, self.sorted_y, self.op_index, self.op_weight,
                                             self.basis, self.ux, self.sxx, self.observed, self.sign, self.df,
                                             self.conditional)
        for fit, e, c in zip(self.fits, exceed.tolist(), counted.tolist()):
            fit.exceed += e
            fit.counted += c if self.conditional else 0
            fit.trials += order.shape[0]


def write_associations(table: pd.DataFrame, path: str, exact: bool = False) -> None:
    """Write the association table as TSV: floats with 12 significant digits (17 with ``exact``, for chunks
    that are gathered later, so the gathered table equals an unchunked run's), empty cells for NaN."""
    from .io import atomic_writer

    with atomic_writer(path) as out:
        table.to_csv(out, sep="\t", index=False, na_rep="", float_format="%.17g" if exact else "%.12g",
                     lineterminator="\n")
