"""Negative windows for training, by kind: given regions, other tissues' OCRs, GC-matched genome windows and
dinucleotide-shuffled positives.

Kinds (every negative window carries one):

``bed`` (or a name the user gives), ``closed_orthologs``
    Regions from BED files, windows centred on interval midpoints. ``closed_orthologs`` are regions whose
    orthologous region is not open in the tissue (TACIT's main negatives). Overlap with positives is kept: the
    file is the user's choice.
``other_tissue``
    Other tissues' OCRs (narrowPeak), windows centred on summits; those overlapping a positive are dropped
    (``overlaps_positive``).
``gc_matched``
    Genome windows with the positives' GC-content distribution, overlapping no positive.
``shuffled``
    Dinucleotide-preserving shuffles of the positive windows (same chromosome, so same split, as their
    positive).

"Overlapping a positive" means overlapping a positive peak or its summit-centred window. Generated kinds draw
from their own random streams (``numpy.random.default_rng([seed, k])``), so turning one kind on or off does not
change another's windows.
"""

from __future__ import annotations

import logging
import os
import re
from collections import defaultdict
from typing import Sequence

import numpy as np

from .errors import InputError
from .genome import open_genome
from .peaks import Peak

log = logging.getLogger(__name__)

GENERATED_KINDS = ("other_tissue", "gc_matched", "shuffled")
DEFAULT_KIND = "bed"
KIND_PATTERN = re.compile(r"[a-z][a-z0-9_]*")
GC_BINS = 20
_STREAM = {"gc_matched": 1, "shuffled": 2}  # random stream per generated kind
_GC_LUT = np.zeros(256, dtype=np.uint8)
_ACGT_LUT = np.zeros(256, dtype=np.uint8)
for _base in b"GCgc":
    _GC_LUT[_base] = 1
for _base in b"ACGTacgt":
    _ACGT_LUT[_base] = 1
_TILES_PER_READ = 20_000  # genome read in blocks of this many windows (10 MB at 500 bp)


def named_region_file(value: str) -> tuple[str, str]:
    """Parse ``[KIND=]BED`` (the ``--negatives`` argument) into ``(kind, path)``; the kind defaults to ``bed``.

    ``KIND`` is lower-case letters, digits and ``_`` starting with a letter; a value whose part before the first
    ``=`` is not such a name is a path.

    Raises
    ------
    InputError
        The kind is one of the generated kinds (:data:`GENERATED_KINDS`) or ``positives``.
    """
    kind, sep, path = value.partition("=")
    if not sep or not KIND_PATTERN.fullmatch(kind):
        return DEFAULT_KIND, value
    if kind in GENERATED_KINDS or kind == "positives":
        raise InputError(f"negative kind {kind!r} is reserved; name BED negatives otherwise", path)
    return kind, path


# ---------------------------------------------------------------------------------------------- overlap


class Blocked:
    """Merged intervals per chromosome (0-based, half-open) that negatives must not overlap."""

    def __init__(self, intervals: Sequence[tuple[str, int, int]]) -> None:
        by_chrom: dict[str, list[tuple[int, int]]] = defaultdict(list)
        for chrom, start, end in intervals:
            by_chrom[chrom].append((start, end))
        self._merged: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        for chrom, spans in by_chrom.items():
            spans.sort()
            starts, ends = [spans[0][0]], [spans[0][1]]
            for start, end in spans[1:]:
                if start <= ends[-1]:
                    ends[-1] = max(ends[-1], end)
                else:
                    starts.append(start)
                    ends.append(end)
            self._merged[chrom] = (np.array(starts, dtype=np.int64), np.array(ends, dtype=np.int64))

    @classmethod
    def around_peaks(cls, peaks: Sequence[Peak], width: int) -> "Blocked":
        """Each peak and its ``width``-bp summit-centred window."""
        return cls([(p.chrom, min(p.start, p.summit - width // 2), max(p.end, p.summit - width // 2 + width))
                    for p in peaks])

    def overlaps(self, chrom: str, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
        """Whether each ``[start, end)`` on ``chrom`` overlaps a blocked interval (boolean array)."""
        starts = np.asarray(starts, dtype=np.int64)
        if chrom not in self._merged:
            return np.zeros(len(starts), dtype=bool)
        block_starts, block_ends = self._merged[chrom]
        # The last blocked interval starting before `end` is the only candidate (merged, so ends are sorted).
        last = np.searchsorted(block_starts, np.asarray(ends, dtype=np.int64), side="left") - 1
        return (last >= 0) & (block_ends[np.maximum(last, 0)] > starts)


def drop_overlapping(peaks: Sequence[Peak], blocked: Blocked, width: int) -> tuple[list[Peak], int]:
    """Peaks whose summit-centred window overlaps nothing in ``blocked``; and the number dropped."""
    by_chrom: dict[str, list[int]] = defaultdict(list)
    for i, peak in enumerate(peaks):
        by_chrom[peak.chrom].append(i)
    hit = np.zeros(len(peaks), dtype=bool)
    for chrom, idx in by_chrom.items():
        starts = np.array([peaks[i].summit - width // 2 for i in idx], dtype=np.int64)
        hit[idx] = blocked.overlaps(chrom, starts, starts + width)
    return [p for p, h in zip(peaks, hit) if not h], int(hit.sum())


def overlapping_index(queries: Sequence[Peak], targets: Sequence[Peak]) -> np.ndarray:
    """For each query, the index of the target on its chromosome it overlaps most (-1: none).

    Intervals are 0-based, half-open; ties go to the target listed first.
    """
    by_chrom: dict[str, list[int]] = defaultdict(list)
    for i, t in enumerate(targets):
        by_chrom[t.chrom].append(i)
    spans: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray, int]] = {}
    for chrom, idx in by_chrom.items():
        order = sorted(idx, key=lambda i: (targets[i].start, i))
        starts = np.array([targets[i].start for i in order], dtype=np.int64)
        ends = np.array([targets[i].end for i in order], dtype=np.int64)
        spans[chrom] = (starts, ends, np.array(order, dtype=np.int64), int((ends - starts).max()))
    out = np.full(len(queries), -1, dtype=np.int64)
    for q, query in enumerate(queries):
        if query.chrom not in spans:
            continue
        starts, ends, order, longest = spans[query.chrom]
        best, best_overlap = -1, 0
        # Targets starting before the query ends and no earlier than the longest target could reach back.
        j = int(np.searchsorted(starts, query.end, side="left")) - 1
        while j >= 0 and starts[j] + longest > query.start:
            overlap = min(ends[j], query.end) - max(starts[j], query.start)
            if overlap > best_overlap or (overlap == best_overlap > 0 and order[j] < best):
                best, best_overlap = int(order[j]), int(overlap)
            j -= 1
        out[q] = best
    return out


# ---------------------------------------------------------------------------------------------- GC matching


def gc_counts(windows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """G+C and A+C+G+T counts per row of an ``(n, width)`` uint8 array of ASCII bases (either case)."""
    return (_GC_LUT[windows].sum(axis=1, dtype=np.int64), _ACGT_LUT[windows].sum(axis=1, dtype=np.int64))


def gc_bin(gc: np.ndarray, acgt: np.ndarray, bins: int = GC_BINS) -> np.ndarray:
    """GC-content bin per window: ``floor(bins * gc / acgt)``, with GC = 1 in the last bin (integer arithmetic,
    so a fraction on a bin edge always falls in the same bin)."""
    return np.minimum(gc * bins // np.maximum(acgt, 1), bins - 1)


def _bin_targets(counts: np.ndarray, per_positive: float) -> np.ndarray:
    """Windows wanted per bin: ``per_positive`` times the positives in it, rounded so the total is
    ``round(per_positive * n)`` (largest remainders get the extra ones; ties to the lower bin)."""
    exact = counts * per_positive
    targets = np.floor(exact).astype(np.int64)
    short = int(round(per_positive * counts.sum())) - int(targets.sum())
    if short > 0:
        order = np.argsort(-(exact - targets), kind="stable")
        targets[order[:short]] += 1
    return targets


def _genome_tiles(genome, chroms: Sequence[str], width: int, blocked: Blocked, max_n_fraction: float,
                  rng: np.random.Generator, bins: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every candidate window: each chromosome tiled with ``width``-bp windows from a random offset in
    ``[0, width)``; tiles overlapping ``blocked`` or with too many non-ACGT bases are left out.

    Returns chromosome index (into ``chroms``), start and GC bin of each candidate.
    """
    index, starts, bin_of = [], [], []
    for i, chrom in enumerate(chroms):
        length = len(genome[chrom])
        offset = int(rng.integers(0, width))
        n_tiles = max(0, (length - offset) // width)
        for first in range(0, n_tiles, _TILES_PER_READ):
            n = min(_TILES_PER_READ, n_tiles - first)
            begin = offset + first * width
            raw = genome.get_seq(chrom, begin + 1, begin + n * width)  # pyfaidx: 1-based, inclusive
            gc, acgt = gc_counts(np.frombuffer(raw.encode("ascii", "replace"), dtype=np.uint8).reshape(n, width))
            tile_starts = begin + width * np.arange(n, dtype=np.int64)
            ok = (width - acgt <= max_n_fraction * width) & (acgt > 0)
            ok &= ~blocked.overlaps(chrom, tile_starts, tile_starts + width)
            index.append(np.full(int(ok.sum()), i, dtype=np.int32))
            starts.append(tile_starts[ok])
            bin_of.append(gc_bin(gc[ok], acgt[ok], bins).astype(np.int8))
    if not starts:
        return np.zeros(0, np.int32), np.zeros(0, np.int64), np.zeros(0, np.int8)
    return np.concatenate(index), np.concatenate(starts), np.concatenate(bin_of)


def gc_matched_windows(genome_fasta: str | os.PathLike[str], positive_seqs: Sequence[str],
                       positive_chroms: Sequence[str], blocked: Blocked, width: int, per_positive: float,
                       seed: int, max_n_fraction: float = 0.05,
                       bins: int = GC_BINS) -> tuple[list[Peak], dict[str, int]]:
    """Genome windows whose GC-content distribution matches the positive windows'.

    Positive windows are binned by GC fraction (G+C over A+C+G+T, ``bins`` equal bins of [0, 1]); each bin
    asks for ``per_positive`` windows per positive in it. Candidates are all ``width``-bp tiles of the
    chromosomes that carry positives (other sequences — unplaced scaffolds, chrM — are not used), laid from a
    random offset per chromosome; tiles overlapping ``blocked`` or with more than ``max_n_fraction`` non-ACGT
    bases are excluded. Each bin's windows are drawn without replacement from its candidates. The genome is
    read once, in blocks, and GC counted with NumPy: about the time of reading the FASTA.

    Returns
    -------
    windows, counts
        Windows as peaks (summit at the window centre, name ``chrom:start-end``) sorted by chromosome (genome
        order) and start; ``requested`` and ``no_gc_match`` (windows a bin lacked candidates for).

    Raises
    ------
    InputError
        ``per_positive`` < 0, or the genome cannot be opened.
    """
    if not per_positive >= 0:
        raise InputError(f"GC-matched negatives per positive must be >= 0, got {per_positive}")
    rng = np.random.default_rng([seed, _STREAM["gc_matched"]])
    if positive_seqs:
        pos = np.frombuffer("".join(positive_seqs).encode("ascii", "replace"), dtype=np.uint8)
        pos_bins = gc_bin(*gc_counts(pos.reshape(len(positive_seqs), width)), bins)
    else:
        pos_bins = np.zeros(0, dtype=np.int64)
    targets = _bin_targets(np.bincount(pos_bins, minlength=bins), per_positive)
    requested = int(targets.sum())
    if requested == 0:
        return [], {"requested": 0, "no_gc_match": 0}
    genome = open_genome(genome_fasta)
    with genome:
        wanted = set(positive_chroms)
        chroms = [c for c in genome.keys() if c in wanted]
        index, starts, bin_of = _genome_tiles(genome, chroms, width, blocked, max_n_fraction, rng, bins)
    chosen = []
    for b in range(bins):
        candidates = np.flatnonzero(bin_of == b)
        take = min(int(targets[b]), len(candidates))
        if take:
            chosen.append(rng.choice(candidates, take, replace=False))
    picked = np.concatenate(chosen) if chosen else np.zeros(0, dtype=np.int64)
    picked = picked[np.lexsort((starts[picked], index[picked]))]
    windows = [Peak(chroms[index[i]], int(starts[i]), int(starts[i]) + width,
                    f"{chroms[index[i]]}:{starts[i]}-{starts[i] + width}", int(starts[i]) + width // 2)
               for i in picked]
    missing = requested - len(windows)
    if missing:
        log.warning("gc_matched: %d of %d windows requested found no genome window in their GC bin", missing,
                    requested)
    return windows, {"requested": requested, "no_gc_match": missing}


# ---------------------------------------------------------------------------------------------- shuffling


def dinucleotide_shuffle(seq: str, rng: np.random.Generator) -> str:
    """A random sequence with exactly the dinucleotide counts, first and last letter of ``seq``.

    Altschul and Erickson (1985) as an Euler path: letters are vertices, each adjacent pair an edge. A last
    exit edge is drawn for every vertex except the final letter until those edges form a tree leading to the
    final letter; every vertex's other exits are put in random order, its last exit after them; the walk from
    the first letter along the exits in that order uses every edge once. Every character is a letter (N and
    lower case included).
    """
    n = len(seq)
    if n < 3:
        return seq
    codes = np.frombuffer(seq.encode("latin-1"), dtype=np.uint8)
    sources, targets = codes[:-1], codes[1:]
    final = int(codes[-1])
    vertices, vertex_of_edge, n_exits = np.unique(sources, return_inverse=True, return_counts=True)
    by_vertex = np.argsort(vertex_of_edge, kind="stable")  # edge indices grouped by source vertex
    first_exit = np.r_[0, np.cumsum(n_exits)[:-1]]
    leaves = vertices != final
    while True:
        last_exit = by_vertex[first_exit + rng.integers(n_exits)]
        if _reaches(final, dict(zip(vertices[leaves].tolist(), targets[last_exit[leaves]].tolist()))):
            break
    keys = rng.random(n - 1)
    keys[last_exit[leaves]] = 2.0  # after every random key: each vertex's last exit is used last
    exits = targets[np.lexsort((keys, vertex_of_edge))].tolist()
    take_exit = {int(v): iter(exits[a:a + k]).__next__ for v, a, k in zip(vertices, first_exit, n_exits)}
    walk = [int(codes[0])]
    v = walk[0]
    for _ in range(n - 1):
        v = take_exit[v]()
        walk.append(v)
    return bytes(walk).decode("latin-1")


def _reaches(final: int, next_of: dict[int, int]) -> bool:
    """Whether following ``next_of`` from every vertex ends at ``final`` (no cycle)."""
    for start in next_of:
        v, steps = start, 0
        while v != final:
            v = next_of[v]
            steps += 1
            if steps > len(next_of):
                return False
    return True


def shuffled_windows(seqs: Sequence[str], names: Sequence[str], chroms: Sequence[str], per_positive: int,
                     seed: int) -> tuple[list[str], list[str], list[str]]:
    """``per_positive`` dinucleotide shuffles of each sequence, named ``{name}:shuffled{k}`` (k from 1) and kept
    on their positive's chromosome so that they fall in its split.

    Returns sequences, names and chromosomes, grouped by positive.

    Raises
    ------
    InputError
        ``per_positive`` < 0.
    """
    if per_positive < 0:
        raise InputError(f"shuffled negatives per positive must be >= 0, got {per_positive}")
    rng = np.random.default_rng([seed, _STREAM["shuffled"]])
    out_seqs, out_names, out_chroms = [], [], []
    for seq, name, chrom in zip(seqs, names, chroms):
        for k in range(1, per_positive + 1):
            out_seqs.append(dinucleotide_shuffle(seq, rng))
            out_names.append(f"{name}:shuffled{k}")
            out_chroms.append(chrom)
    return out_seqs, out_names, out_chroms
