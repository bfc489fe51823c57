"""Binary traits: phylogenetic logistic regression per OCR and binary permulations (TACIT's ``fast_bin_perm``).

Model, as TACIT: ``trait ~ activity`` by :func:`tacit.phyloglm.fit_phyloglm` (phyloglm ``logistic_MPLE``)
on the OCR's species. A binary permulation simulates BM on the OCR's tree, calls the ``k`` species with
the largest simulated values foreground (``k`` = observed number of foreground species) and keeps the draw
only when its number of *foreground clades* (internal nodes whose descendant tips are all foreground)
equals the observed one, so the permulated trait keeps both the number of foreground species and how
clumped they are on the tree. Draws are addressed by index (:class:`tacit.permulation.PermulationSource`),
so the ``j``-th accepted permulation of an OCR is the same whatever the chunking; rejection is bounded
(``max_draws_per_permulation`` draws per permulation of a round's target) and an OCR that cannot reach its
target says so in ``status``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import numba
import numpy as np
from numba import njit

from .permulation import BLOCK, PermulationSource, conditional_pvalue, round_targets, share_out
from .phyloglm import PendingBatch, TreeGeometry, singular_design, tree_geometry
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


@njit(cache=True, nogil=True)
def foreground_draws(order: np.ndarray, local: np.ndarray, k: int, tip_row: np.ndarray, row_tip: np.ndarray,
                     parent_of: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """:func:`top_k_foreground` and :func:`foreground_clades` of many draws in one compiled pass.

    Parameters
    ----------
    order
        ``(p, n_all)``: per draw, every species of the analysis sorted by simulated value
        (:meth:`tacit.permulation.PermulationSource.orders`, one sort per block shared by every species set).
    local
        ``(n_all,)``: each species' tip in the tree, -1 when the tree lacks it.
    k
        Foreground species per draw: the tree's ``k`` with the largest values, found walking down ``order``.
    tip_row, row_tip, parent_of
        The tree's storage rows (:class:`tacit.phyloglm.TreeGeometry`: children before parents, root last).

    Returns
    -------
    foreground, clades
        ``(p, n)`` bool, one draw per row; ``(p,)`` its number of internal nodes whose tips are all foreground.

    Notes
    -----
    The clades are counted upwards from the foreground tips: each one tells its parent that one more child
    is all foreground, and a node that hears it from every child is a foreground clade and tells its own
    parent, so a draw costs ``O(k)`` steps plus one per clade rather than a pass over the tree. One thread:
    a block of 1,000 draws takes about 0.17 ms for 21 of 154 species when one block is examined again and
    again, 0.24 ms inside ``tacit associate`` (0.28 and 0.29 ms with a branch in the walk down the order),
    less than starting a parallel loop on two cores took, and the caller draws while helper threads climb
    other species sets' fits.
    """
    p, n_all = order.shape
    n = tip_row.shape[0]
    n_rows = row_tip.shape[0]
    root = n_rows - 1
    children = np.zeros(n_rows, dtype=np.int64)
    for r in range(n_rows - 1):
        children[parent_of[r]] += 1
    foreground = np.zeros((p, n), dtype=np.bool_)
    clades = np.zeros(p, dtype=np.int64)
    full = np.zeros(n_rows, dtype=np.int64)  # children known to be all foreground, for the draw in seen
    seen = np.full(n_rows, -1, dtype=np.int64)
    tips = np.empty(k + 1, dtype=np.int64)
    for j in range(p):
        # The top k of the tree's species, walking down the draw's order. Written without a branch on whether
        # the tree has the species (a species it lacks is written and then overwritten): that branch goes
        # either way at random, and its mispredictions took two thirds of this walk's time.
        taken = 0
        t = n_all - 1
        while taken < k and t >= 0:
            tip = local[order[j, t]]
            tips[taken] = tip
            taken += tip >= 0
            t -= 1
        count = 0
        for m in range(taken):
            tip = tips[m]
            foreground[j, tip] = True
            r = tip_row[tip]
            while r != root:
                pr = parent_of[r]
                if seen[pr] != j:
                    seen[pr] = j
                    full[pr] = 0
                full[pr] += 1
                if full[pr] < children[pr]:
                    break
                count += 1
                r = pr
        clades[j] = count
    return foreground, clades


@dataclass
class _Group:
    """OCRs sharing one species set: one tree, one observed trait, one stream of accepted permulations.

    The tree is kept as its geometry only: a ``Tree`` (names and all) took twice its memory, 41 KB at 170
    species, and a block of OCRs may hold 20,000 species sets."""

    present: np.ndarray
    geometry: TreeGeometry
    y: np.ndarray
    k: int
    clades: int
    members: list[int] = field(default_factory=list)
    drawn: int = 0  # draws examined so far (global permulation indices 0 .. drawn-1)
    count: int = 0  # permulations accepted so far (0 .. count-1, in draw order)
    held_from: int = 0  # the first accepted permulation still held (those before are released)
    # The held foreground vectors, bit-packed rows (one array per block examined). With a species set per
    # OCR, 20,000 OCRs at a time and 1,000 permulations, one bool array per row held about 7 GB at 241
    # species (341 bytes per row, measured); packed, 35 bytes.
    _held: list[np.ndarray] = field(default_factory=list)
    exhausted: bool = False

    @property
    def accepted(self) -> np.ndarray:
        """The accepted foreground vectors still held, ``(m, n)`` bool, in draw order."""
        return self.take(self.held_from, self.count)

    def take(self, start: int, stop: int) -> np.ndarray:
        """Accepted permulations ``start .. stop - 1`` (held; fewer where fewer were accepted), ``(m, n)`` bool."""
        n = len(self.y)
        stop = min(stop, self.count)
        if stop <= start:
            return np.zeros((0, n), dtype=bool)
        packed = self._packed()
        return np.unpackbits(packed[start - self.held_from : stop - self.held_from], axis=1, count=n).astype(bool)

    def release(self, upto: int) -> None:
        """Forget the accepted permulations before ``upto`` (their fits are done)."""
        drop = min(upto, self.count) - self.held_from
        if drop > 0:
            self._held = [self._packed()[drop:].copy()]
            self.held_from += drop

    def _packed(self) -> np.ndarray:
        if len(self._held) != 1:
            n_bytes = (len(self.y) + 7) // 8
            self._held = [np.concatenate(self._held) if self._held else np.zeros((0, n_bytes), dtype=np.uint8)]
        return self._held[0]

    def accept_until(self, source: PermulationSource, target: int, max_draws: int) -> None:
        """Examine draws in index order until ``target`` permulations are accepted or ``max_draws`` seen."""
        for _ in accept_all([self], source, target, max_draws):
            pass

    def needs(self, target: int, max_draws: int) -> bool:
        return self.count < target and self.drawn < max_draws

    def examine(self, ranks: np.ndarray, max_draws: int) -> None:
        """The draws from ``drawn`` to the end of its block (or ``max_draws``), given that block's rank order
        (:meth:`tacit.permulation.PermulationSource.ranks`)."""
        start = self.drawn
        first = start // BLOCK * BLOCK
        stop = min(first + BLOCK, max_draws)
        local = np.where(self.present, np.cumsum(self.present) - 1, -1)
        geometry = self.geometry
        fg, clades = foreground_draws(ranks[start - first : stop - first], local, self.k, geometry.tip_row,
                                      geometry.row_tip, geometry.parent_of)
        rows = fg[clades == self.clades]
        if len(rows):
            self._held.append(np.packbits(rows, axis=1))
            self.count += len(rows)
        self.drawn = stop


def accept_all(groups: list[_Group], source: PermulationSource, target: int, max_draws: int) -> Iterator[_Group]:
    """:meth:`_Group.accept_until` for every group, block by block, yielding each group once it is through
    (``target`` accepted, or ``max_draws`` examined and ``exhausted`` set): each block of draws is simulated
    and sorted once for all the groups that need it. (Species sets that walked hundreds of blocks one after
    another, as a trait whose clades are rare under BM makes them, had every block simulated again for each:
    the source keeps only a few.) Each group examines the same draws as alone."""
    started = reported = time.monotonic()
    pending = list(groups)
    while pending:
        for g in pending:
            if not g.needs(target, max_draws):
                g.exhausted = g.exhausted or g.count < target
                yield g
        pending = [g for g in pending if g.needs(target, max_draws)]
        if not pending:
            break
        block = min(g.drawn // BLOCK for g in pending)
        # Most likely needed next (sets through sooner leave them unused): drawn on other threads while the
        # sets examine this one.
        source.draw_ahead(block, max_draws)
        ranks = source.ranks(block)
        # The sets examine the block on this thread and the drawing threads (compiled, without Python's lock).
        here = [g for g in pending if g.drawn // BLOCK == block]
        share_out(lambda g, ranks=ranks: g.examine(ranks, max_draws), here, numba.get_num_threads())
        if time.monotonic() - reported >= 10.0:  # progress every 10 s
            reported = time.monotonic()
            log.info("binary permulations: drawing block %d, %d of %d species sets still short of %d (%.0f s)",
                     block, len(pending), len(groups), target, reported - started)


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
    pending: dict[bytes, list[int]] = {}  # OCRs to fit, by species set
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
        pending.setdefault(np.packbits(present).tobytes(), []).append(i)
    ocrs: dict[bytes, list[_Ocr]] = {}
    started, fitted = time.monotonic(), 0

    def absorb(key: bytes, rows: list[int], xs: np.ndarray, fit_rows: list[int], cov: np.ndarray | None,
               batch: PendingBatch) -> None:
        nonlocal fitted
        fits, group = batch.result(), groups[key]
        for t, m in enumerate(fit_rows):
            i = rows[m]
            status[i] = fits.status[t]
            for name, value in (("coef", fits.coef), ("se", fits.se), ("statistic", fits.z),
                                ("pvalue", fits.pvalue)):
                table[name][i] = value[t]
            if fits.status[t] in TESTED:
                group.members.append(i)
                ocrs.setdefault(key, []).append(_Ocr(i, xs[m], fits.coef[t], fits.z[t], cov))
        fitted += len(fit_rows)
        if fitted and fitted % 500 < len(fit_rows):
            log.info("phyloglm: %d OCRs fitted (%.1f s)", fitted, time.monotonic() - started)

    # Each species set's fits start before the last set's are taken in (PendingBatch): its tree and its
    # exact refits are Python work done while helper threads climb.
    previous = None
    for key, rows in pending.items():
        present = np.unpackbits(np.frombuffer(key, dtype=np.uint8), count=len(y_all)).astype(bool)
        y = y_all[present]
        sub = tree.keep_tips([s for s, k in zip(tree.tip_names, present) if k])
        fg = y.astype(bool)
        group = groups[key] = _Group(present, tree_geometry(sub, dense=False), y, int(fg.sum()),
                                     int(foreground_clades(sub, fg)))
        cov = None if cov_all is None else cov_all[group.present]
        xs = values[np.ix_(rows, group.present)]
        # Without covariates a non-constant predictor always gives a full-rank design.
        singular = [cov is not None and singular_design(np.column_stack([np.ones(len(x)), x, cov])) for x in xs]
        fit_rows = [m for m, bad in enumerate(singular) if not bad]
        for m, bad in enumerate(singular):
            if bad:
                status[rows[m]] = "singular_design"
        pairs = np.column_stack([fit_rows, np.zeros(len(fit_rows), dtype=np.int64)])
        batch = PendingBatch(group.geometry, xs, group.y[None, :], pairs, cov)
        if previous is not None:
            absorb(*previous)
        previous = (key, rows, xs, fit_rows, cov, batch)
    if previous is not None:
        absorb(*previous)
    log.info("phyloglm: %d OCRs fitted, %d species sets", fitted, len(groups))
    if settings.permulations > 0 and ocrs:
        from .association import RoundState

        _permulate(groups, ocrs, source or PermulationSource(tree, settings.seed), settings, table,
                   rounds or RoundState(None, 0))


def _ridge_signed(coef: np.ndarray, index: np.ndarray) -> np.ndarray:
    """Signs of permulated slopes for TACIT's conditional test, a slope of exactly 0 taking + for even and -
    for odd permulation indices.

    A fit whose maximum is the cusp at slope 0 (common on null data) has no sign; R's phyloglm stops a hair
    from the cusp (|coef| ~ 1e-5 SE) on a side that is as good as random, so TACIT counts such permulations
    for one sign or the other. Excluding them instead makes the test conservative by the share of cusp
    fits; alternating by index gives R's expected split, deterministically and whatever the chunking.
    """
    return np.where(coef == 0.0, np.where(index % 2 == 0, 1.0, -1.0), np.sign(coef))


def _permulation_fits(group: _Group, members: list[_Ocr], ys: np.ndarray) -> PendingBatch:
    """Every (OCR, permulation) pair of one species set and round in one threaded batch; OCR-major order."""
    xs = np.stack([ocr.x for ocr in members])
    pairs = np.stack(np.meshgrid(np.arange(len(members)), np.arange(len(ys)), indexing="ij"), axis=-1).reshape(-1, 2)
    return PendingBatch(group.geometry, xs, ys, pairs, members[0].covariates)


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
    reported = started

    def count(ordinal: int, members: list[_Ocr], pending: PendingBatch | None) -> None:
        """Take in one species set's permulation fits of this round (``done`` .. the round's target)."""
        nonlocal fits, reported
        if pending is not None:
            batch = pending.result()
            per = len(batch.coef) // len(members)
            fits += len(batch.coef)
            if time.monotonic() - reported >= 10.0:  # progress every 10 s
                reported = time.monotonic()
                log.info("binary permulations: %d fits (%.0f/s)", fits, fits / max(reported - started, 1e-9))
            for m, ocr in enumerate(members):
                part = slice(m * per, (m + 1) * per)
                ok = np.isin(batch.status[part], TESTED)
                coef, z = batch.coef[part][ok], batch.z[part][ok]
                extreme = np.abs(z) >= abs(ocr.z) * (1 - 1e-9)
                ocr.trials += per
                ocr.failed += int(per - ok.sum())
                if settings.perm_test == "conditional":
                    same = _ridge_signed(coef, (done + np.arange(per))[ok]) == np.sign(ocr.coef)
                    ocr.counted += int(same.sum())
                    ocr.exceed += int((extreme & same).sum())
                else:
                    ocr.counted += int(ok.sum())
                    ocr.exceed += int(extreme.sum())
        finished_groups.append(ordinal)
        rounds.save(state, force=False)  # inside a long round, every checkpoint interval

    resumed_groups = set(finished_groups)
    for target in round_targets(settings.permulations, maximum):
        if target <= done:
            continue
        # Each species set's fits start before the last set's are counted (see associate_binary).
        # Groups are fitted as their draws are through (accept_all draws block by block for all of them).
        previous = None
        key_of_group = {id(groups[key]): key for key in active}
        for group in accept_all([groups[key] for key in active], source, target,
                                settings.max_draws_per_permulation * target):
            key = key_of_group[id(group)]
            members = active[key]
            ordinal = ordinals[key]
            if ordinal in resumed_groups:
                group.release(target)
                continue  # done before the run was resumed
            accepted = group.take(done, target)
            group.release(target)
            batch = _permulation_fits(group, members, accepted.astype(float)) if len(accepted) else None
            if previous is not None:
                count(*previous)
            previous = (ordinal, members, batch)
        if previous is not None:
            count(*previous)
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
            # Its species set ran out of draws before it had its permulations: in the first round, or in a
            # later one while it was still unresolved.
            short = ocr.trials < settings.permulations or (ocr.exceed < settings.resolve_count and ocr.trials < maximum)
            if groups[key].exhausted and short:
                table["status"][ocr.index] = "permulation_rejection_limit"
