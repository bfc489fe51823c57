"""Binary traits: phylogenetic logistic regression per OCR and binary permulations (TACIT's ``fast_bin_perm``).

Model, as TACIT: ``trait ~ activity`` by :func:`tacit.phyloglm.fit_phyloglm` (phyloglm ``logistic_MPLE``)
on the OCR's species. A binary permulation simulates BM on the OCR's tree, calls the ``k`` species with
the largest simulated values foreground (``k`` = observed number of foreground species) and keeps the draw
only when its number of *foreground clades* (internal nodes whose descendant tips are all foreground)
equals the observed one, so the permulated trait keeps both the number of foreground species and how
clumped they are on the tree. Draws are addressed by index (:class:`tacit.permulation.PermulationSource`),
so the ``j``-th accepted permulation of an OCR is the same whatever the chunking; rejection is bounded
(``max_draws_per_permulation``) and an OCR that cannot reach its target says so in ``status``.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

import numpy as np

from .permulation import BLOCK, PermulationSource, conditional_pvalue, round_targets
from .phyloglm import TreeGeometry, fit_phyloglm, tree_geometry
from .tree import Tree

log = logging.getLogger(__name__)

from .association import TESTED  # statuses of a valid fit (phyloglm warns on alpha at bound)


def foreground_clades(tree: Tree, foreground: np.ndarray) -> np.ndarray:
    """Number of internal nodes whose descendant tips are all foreground.

    Parameters
    ----------
    tree
        The tree; tips are nodes ``0 .. n_tips-1``.
    foreground
        ``(n_tips,)`` or ``(n_tips, p)`` bool.

    Returns
    -------
    np.ndarray
        ``()`` or ``(p,)`` int counts.
    """
    fg = np.asarray(foreground, dtype=bool)
    all_fg = np.ones((tree.n_nodes,) + fg.shape[1:], dtype=bool)
    all_fg[: tree.n_tips] = fg
    for node in tree.postorder():
        par = tree.parent[node]
        if par >= 0:
            all_fg[par] &= all_fg[node]
    return all_fg[tree.n_tips :].sum(axis=0)


def top_k_foreground(simulated: np.ndarray, k: int) -> np.ndarray:
    """``(n, p)`` bool: per column, the ``k`` rows with the largest simulated values."""
    n = simulated.shape[0]
    fg = np.zeros(simulated.shape, dtype=bool)
    if k > 0:
        top = np.argpartition(simulated, n - k, axis=0)[n - k :]
        fg[top, np.arange(simulated.shape[1])[None, :]] = True
    return fg


@dataclass
class _Group:
    """OCRs sharing one species set: one tree, one observed trait, one stream of accepted permulations."""

    present: np.ndarray
    tree: Tree
    geometry: TreeGeometry
    y: np.ndarray
    k: int
    clades: int
    members: list[int] = field(default_factory=list)
    drawn: int = 0  # draws examined so far (global permulation indices 0 .. drawn-1)
    accepted: list[np.ndarray] = field(default_factory=list)  # foreground vectors, in draw order
    exhausted: bool = False

    def accept_until(self, source: PermulationSource, target: int, max_draws: int) -> None:
        """Examine draws in index order until ``target`` permulations are accepted or ``max_draws`` seen."""
        while len(self.accepted) < target and self.drawn < max_draws:
            start = self.drawn
            stop = min((start // BLOCK + 1) * BLOCK, max_draws)
            for _, _, values in source.draws(start, stop):
                fg = top_k_foreground(values[self.present], self.k)
                ok = np.flatnonzero(foreground_clades(self.tree, fg) == self.clades)
                self.accepted.extend(fg[:, j].copy() for j in ok)
            self.drawn = stop
        if len(self.accepted) < target:
            self.exhausted = True


@dataclass
class _Ocr:
    index: int
    x: np.ndarray
    coef: float
    z: float
    covariates: np.ndarray | None = None
    exceed: int = 0
    counted: int = 0
    trials: int = 0
    failed: int = 0


def associate_binary(values: np.ndarray, y_all: np.ndarray, tree: Tree, threshold: float, table: dict[str, np.ndarray],
                     settings: "object", cov_all: np.ndarray | None = None,
                     source: PermulationSource | None = None, rounds: "RoundState | None" = None) -> None:
    """Fill ``table`` (columns of :data:`tacit.association.COLUMNS`) for a 0/1 trait.

    Parameters
    ----------
    values
        ``(m, n)`` predictions of the common species (columns in ``tree`` tip order), NaN = no ortholog.
    y_all
        ``(n,)`` 0/1 trait of the same species.
    tree
        Tree over the common species.
    threshold
        Minimum number of species for an OCR to be tested.
    table
        The output columns (:data:`tacit.association.COLUMNS` but ``ocr``) as arrays, one row per OCR,
        filled in place.
    settings
        :class:`tacit.association.AssociationSettings`.
    cov_all
        Optional ``(n, c)`` covariates of the same species, added to the model after activity.
    source
        BM draws on ``tree`` (shared by the blocks of a run); made from ``settings.seed`` when absent.
    rounds
        Where the permulation state is saved and restored (:class:`tacit.association.RoundState`).
    """
    status = table["status"]
    groups: dict[bytes, _Group] = {}
    ocrs: dict[bytes, list[_Ocr]] = {}
    started, fitted = time.monotonic(), 0
    for i, row in enumerate(values):
        present = np.isfinite(row)
        n = int(present.sum())
        table["n_species"][i] = n
        if n < threshold or n < 3:
            status[i] = "too_few_species"
            continue
        y = y_all[present]
        if y.min() == y.max():
            status[i] = "one_class"
            continue
        if np.ptp(row[present]) == 0:
            status[i] = "constant_activity"
            continue
        key = np.packbits(present).tobytes()
        group = groups.get(key)
        if group is None:
            sub = tree.keep_tips([s for s, k in zip(tree.tip_names, present) if k])
            fg = y.astype(bool)
            group = groups[key] = _Group(present, sub, tree_geometry(sub), y, int(fg.sum()),
                                         int(foreground_clades(sub, fg)))
        cov = None if cov_all is None else cov_all[present]
        fit = fit_phyloglm(group.geometry, row[present], y, cov)
        fitted += 1
        if fitted % 500 == 0:
            log.info("phyloglm: %d OCRs fitted (%.1f s)", fitted, time.monotonic() - started)
        status[i] = fit.status
        for name, value in (("coef", fit.coef), ("se", fit.se), ("statistic", fit.z), ("pvalue", fit.pvalue)):
            table[name][i] = value
        if fit.status in TESTED:
            group.members.append(i)
            ocrs.setdefault(key, []).append(_Ocr(i, row[present], fit.coef, fit.z, cov))
    log.info("phyloglm: %d OCRs fitted, %d species sets", fitted, len(groups))
    if settings.permulations > 0 and ocrs:
        from .association import RoundState

        _permulate(groups, ocrs, source or PermulationSource(tree, settings.seed), settings, table,
                   rounds or RoundState(None, 0))


def _permulate(groups: dict[bytes, _Group], ocrs: dict[bytes, list[_Ocr]], source: PermulationSource,
               settings: "object", table: dict[str, np.ndarray], rounds: "RoundState") -> None:
    maximum = max(settings.max_permulations or settings.permulations, settings.permulations)
    keys = list(ocrs)
    ordinals = {key: i for i, key in enumerate(keys)}
    flat = [ocr for key in keys for ocr in ocrs[key]]
    key_of = {id(ocr): key for key in keys for ocr in ocrs[key]}
    counters = ("exceed", "counted", "trials", "failed")
    active = {key: list(members) for key, members in ocrs.items()}
    done, finished_groups = 0, []  # permulations per OCR done; groups already through the running round
    saved = rounds.restore()
    if saved is not None:
        for name in counters:
            for ocr, value in zip(flat, saved[name].tolist()):
                setattr(ocr, name, value)
        active = {}
        for i in saved["active"].tolist():
            active.setdefault(key_of[id(flat[i])], []).append(flat[i])
        for key, gone in zip(keys, saved["exhausted"].tolist()):
            groups[key].exhausted = bool(gone)
        done, finished_groups = int(saved["done"]), saved["finished_groups"].tolist()

    def state() -> dict[str, np.ndarray | int]:
        where = {id(o): i for i, o in enumerate(flat)}
        return {"done": done, "finished_groups": np.array(finished_groups, dtype=np.int64),
                "active": np.array([where[id(o)] for members in active.values() for o in members], dtype=np.int64),
                "exhausted": np.array([groups[key].exhausted for key in keys], dtype=bool),
                **{name: np.array([getattr(o, name) for o in flat], dtype=np.int64) for name in counters}}

    started, fits = time.monotonic(), 0
    resumed_groups = set(finished_groups)
    for target in round_targets(settings.permulations, maximum):
        if target <= done:
            continue
        for key, members in active.items():
            group = groups[key]
            group.accept_until(source, target, settings.max_draws_per_permulation * maximum)
            ordinal = ordinals[key]
            if ordinal in resumed_groups:
                continue  # done before the run was resumed
            for fg in group.accepted[done:target]:
                y_perm = fg.astype(float)
                for ocr in members:
                    fit = fit_phyloglm(group.geometry, ocr.x, y_perm, ocr.covariates)
                    fits += 1
                    if fits % 5000 == 0:
                        log.info("binary permulations: %d fits (%.0f/s)", fits, fits / (time.monotonic() - started))
                    ocr.trials += 1
                    if fit.status not in TESTED:
                        ocr.failed += 1
                        continue
                    extreme = abs(fit.z) >= abs(ocr.z) * (1 - 1e-9)
                    if settings.perm_test == "conditional":
                        if np.sign(fit.coef) == np.sign(ocr.coef):
                            ocr.counted += 1
                            ocr.exceed += int(extreme)
                    else:
                        ocr.counted += 1
                        ocr.exceed += int(extreme)
            finished_groups.append(ordinal)
            rounds.save(state, force=False)  # inside a long round, every checkpoint interval
        done, finished_groups, resumed_groups = target, [], set()
        active = {key: [o for o in members if o.exceed < settings.resolve_count and not groups[key].exhausted]
                  for key, members in active.items()}
        active = {key: members for key, members in active.items() if members}
        rounds.save(state)
        log.info("binary permulations: %d per OCR done, %d OCRs unresolved (%.1f s)", done,
                 sum(map(len, active.values())), time.monotonic() - started)
        if not active:
            break
    for key, members in ocrs.items():
        for ocr in members:
            p = conditional_pvalue(ocr.exceed, ocr.counted) if settings.perm_test == "conditional" else \
                (1.0 + ocr.exceed) / (1.0 + ocr.counted)
            table["perm_pvalue"][ocr.index] = p
            table["perm_trials"][ocr.index] = ocr.trials
            if groups[key].exhausted and ocr.trials < settings.permulations:
                table["status"][ocr.index] = "permulation_rejection_limit"
