"""Permulations (Saputra et al. 2021) for continuous traits.

A permulation simulates a trait by Brownian motion on the tree, then hands the real trait values out by rank:
the species with the k-th smallest simulated value receives the k-th smallest real value. The permulated
trait keeps the real values and their phylogenetic structure but breaks any link to an OCR's activity.

BM on a pruned tree is the marginal of BM on the full tree, so one simulation of every species serves every
OCR; only the rank assignment is per OCR (over the species that OCR has). Simulations are drawn in fixed
blocks seeded by ``(seed, block)``, so permulation ``j`` is the same draw whichever chunk or round asks for it:
results do not depend on chunking.
"""

from __future__ import annotations

import threading
from concurrent.futures import Future, ThreadPoolExecutor, wait
from typing import Callable, Iterator, TypeVar

import numba
import numpy as np
from numba import njit

from .tree import Tree

BLOCK = 1000
CACHE_ENTRIES = 32  # simulated blocks and rank orders kept (~2 MB each on 241 species)
T = TypeVar("T")
AHEAD = 2  # blocks drawn ahead of the caller, each on a thread of its own (PermulationSource.prefetch)


def blocks_ahead() -> int:
    """How many blocks to draw ahead of the caller: ``AHEAD`` where the run may use more than one thread
    (numba's setting for the calling thread, which ``--threads`` sets), else none."""
    return AHEAD if numba.get_num_threads() > 1 else 0


class PermulationSource:
    """BM draws on the tips of ``tree``, addressed by permulation index.

    Parameters
    ----------
    tree
        Tree over the species of the analysis (matrix ∩ tree ∩ known phenotype).
    seed
        Seed; the same seed gives the same draws.
    """

    def __init__(self, tree: Tree, seed: int) -> None:
        self.tree = tree
        self.seed = int(seed)
        order = tree.preorder()[1:]
        self._order = order
        self._parent = tree.parent[order]
        self._scale = np.sqrt(tree.length[order])
        self._cache: dict[int, np.ndarray] = {}
        self._ahead: dict[int, Future] = {}  # blocks being simulated and sorted ahead, by block index
        self._lock = threading.Lock()

    def _store(self, key: int, value: np.ndarray) -> None:
        # A small cache: the first rounds' blocks are asked for by every OCR block of a run, later rounds'
        # once each; bounded, so 10^6 permulations never pile up in memory.
        with self._lock:
            if key not in self._cache and len(self._cache) >= CACHE_ENTRIES:
                self._cache.pop(next(iter(self._cache)))
            self._cache[key] = value

    def _get(self, index: int, ranks: bool) -> np.ndarray:
        key = -1 - index if ranks else index
        with self._lock:
            cached = self._cache.get(key)
            ahead = self._ahead.get(index)
        if cached is not None:
            return cached
        if ahead is not None:
            return ahead.result()[int(ranks)]
        value = np.argsort(self.block(index).T, axis=1) if ranks else self._simulate(index)
        self._store(key, value)
        return value

    def block(self, index: int) -> np.ndarray:
        """Tip values of block ``index``: ``(n_tips, BLOCK)``, permulations ``index*BLOCK ...``."""
        return self._get(index, ranks=False)

    def ranks(self, index: int) -> np.ndarray:
        """Species sorted by simulated value, per permulation of block ``index``: ``(BLOCK, n_tips)``.

        Restricting a row to an OCR's species keeps their order, so one sort serves every OCR.
        """
        return self._get(index, ranks=True)

    def draw_ahead(self, index: int, stop: int) -> None:
        """:meth:`prefetch` the :func:`blocks_ahead` blocks after block ``index`` that begin before draw
        ``stop`` (the caller will most likely need them next)."""
        for ahead in range(1, blocks_ahead() + 1):
            if (index + ahead) * BLOCK < stop:
                self.prefetch(index + ahead)

    def prefetch(self, index: int) -> None:
        """Simulate and sort block ``index`` on a helper thread while the caller works on another one (the
        random numbers, the descent and the sort run without Python's lock); :meth:`block` and :meth:`ranks`
        then wait for it. The values are those the caller would compute: blocks are seeded by index."""
        with self._lock:
            if index in self._ahead or (index in self._cache and -1 - index in self._cache):
                return
            self._ahead[index] = _drawer().submit(self._prepare, index)

    def _prepare(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        try:
            values = self._simulate(index)
            order = np.argsort(values.T, axis=1)
            self._store(index, values)
            self._store(-1 - index, order)
            return values, order
        finally:
            with self._lock:
                self._ahead.pop(index, None)

    def _simulate(self, index: int) -> np.ndarray:
        rng = np.random.default_rng([self.seed, index])
        noise = rng.standard_normal((self.tree.n_nodes, BLOCK))
        values = np.zeros((self.tree.n_nodes, BLOCK))
        _descend(self._order, self._parent, self._scale, noise, values)
        return values[: self.tree.n_tips]

    def orders(self, start: int, stop: int) -> Iterator[tuple[int, int, np.ndarray]]:
        """Like :meth:`draws`, but each piece is the ``(n_perm, n_tips)`` rank order of the draws."""
        for j, end, b in self._pieces(start, stop):
            self.draw_ahead(b, stop)  # the next blocks are needed too: drawn meanwhile
            yield j, end, self.ranks(b)[j - b * BLOCK : end - b * BLOCK]

    def draws(self, start: int, stop: int) -> Iterator[tuple[int, int, np.ndarray]]:
        """Draws for permulations ``start .. stop-1`` as ``(start_j, stop_j, tip values)`` pieces by block."""
        for j, end, b in self._pieces(start, stop):
            yield j, end, self.block(b)[:, j - b * BLOCK : end - b * BLOCK]

    @staticmethod
    def _pieces(start: int, stop: int) -> Iterator[tuple[int, int, int]]:
        j = start
        while j < stop:
            b = j // BLOCK
            end = min(stop, (b + 1) * BLOCK)
            yield j, end, b
            j = end


_DRAWER: list[ThreadPoolExecutor] = []
_DRAWER_LOCK = threading.Lock()


def _drawer() -> ThreadPoolExecutor:
    """The threads (per process) that draw blocks ahead (:meth:`PermulationSource.prefetch`) and share
    examinations of them out (:func:`share_out`)."""
    with _DRAWER_LOCK:
        if not _DRAWER:
            # AHEAD threads for the blocks drawn ahead and one fewer than numba may use for share_out, so
            # neither waits for the other (threads start only when needed)
            size = AHEAD + max(numba.config.NUMBA_NUM_THREADS, 2) - 1
            _DRAWER.append(ThreadPoolExecutor(size, thread_name_prefix="tacit-draws"))
        return _DRAWER[0]


def share_out(work: Callable[[T], None], items: list[T], threads: int) -> None:
    """``work(item)`` for every item, on the calling thread and ``threads - 1`` drawing threads together,
    interleaved (for work that runs mostly compiled, without Python's lock; at least 4 items per thread);
    returns when all are done, raising the error met. The work must not wait for a block being drawn ahead:
    a part could then hold the thread that block waits for."""
    parts = min(threads, len(items) // 4)
    if parts < 2:
        for item in items:
            work(item)
        return

    def run(part: int) -> None:
        for item in items[part::parts]:
            work(item)

    futures = [_drawer().submit(run, part) for part in range(1, parts)]
    try:
        run(0)
    finally:  # no part may still run when this returns or raises
        wait(futures)
    for future in futures:
        future.result()


@njit(cache=True, nogil=True)
def _descend(order: np.ndarray, parent: np.ndarray, scale: np.ndarray, noise: np.ndarray, values: np.ndarray) -> None:
    """``values[node] = values[parent] + scale * noise[node]`` for the nodes in ``order`` (preorder, root
    excluded): Brownian motion down the tree, the same operations as numpy's row by row (a Python loop over
    the nodes took as long as drawing the noise)."""
    for i in range(order.shape[0]):
        node = order[i]
        par = parent[i]
        sc = scale[i]
        for c in range(values.shape[1]):
            values[node, c] = values[par, c] + sc * noise[node, c]


def assign_by_rank(simulated: np.ndarray, real: np.ndarray) -> np.ndarray:
    """Give the real values out by the rank of the simulated ones, per column.

    Parameters
    ----------
    simulated
        ``(n, p)`` simulated values of the OCR's species (rows in species order).
    real
        ``(n,)`` real trait values of the same species.

    Returns
    -------
    np.ndarray
        ``(n, p)``: in each column the species with the k-th smallest simulated value holds the k-th
        smallest real value.
    """
    # Sort along contiguous rows (one permulation per row): much faster than a strided column sort.
    by_perm = np.ascontiguousarray(simulated.T)
    order = np.argsort(by_perm, axis=1, kind="stable")
    out = np.empty(by_perm.shape)
    out[np.arange(by_perm.shape[0])[:, None], order] = np.sort(real)[None, :]
    return out.T


def assign_by_order(order: np.ndarray, present: np.ndarray, real: np.ndarray) -> np.ndarray:
    """:func:`assign_by_rank` from a precomputed rank order of all species.

    Parameters
    ----------
    order
        ``(p, n_all)``: per permulation, all species' indices sorted by simulated value.
    present
        ``(n_all,)`` bool: the OCR's species.
    real
        ``(k,)`` real trait values of the OCR's species, in species-index order.

    Returns
    -------
    np.ndarray
        ``(k, p)`` permulated trait values of the OCR's species.
    """
    local = np.cumsum(present) - 1
    k = len(real)
    sub = order[present[order]].reshape(order.shape[0], k)
    out = np.empty((order.shape[0], k))
    out[np.arange(order.shape[0])[:, None], local[sub]] = np.sort(real)[None, :]
    return out.T


def conditional_pvalue(exceed: np.ndarray, counted: np.ndarray) -> np.ndarray:
    """TACIT's permulation p (Kulinskaya 2008): ``(1 + #as extreme) / (1 + #same-sign permulations)``."""
    return (1.0 + exceed) / (1.0 + counted)


def round_targets(first: int, maximum: int) -> list[int]:
    """Cumulative permulation counts per adaptive round: ``first, 10*first, ...`` capped at ``maximum``."""
    if first <= 0:
        return []
    targets = [first]
    while targets[-1] < maximum:
        targets.append(min(targets[-1] * 10, maximum))
    return targets
