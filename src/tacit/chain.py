"""Orthologs of reference peaks through a UCSC chain file, stitched as HALPER does.

A chain aligns a *target* genome (``tName``, the genome of the peaks; UCSC's liftOver direction) to a
*query* genome (``qName``) as ungapped blocks. Each peak is lifted block by block into *fragments*, one per
block it overlaps (the query interval aligned to the overlapping part), across all chains, as halLiftover
lifts a BED interval; the summit base is lifted too. Fragments and summit are then stitched into one
ortholog by :func:`tacit.orthologs.stitch` (fragments on another sequence or strand than the summit are
dropped, the ortholog spans the rest, HALPER's length and summit limits apply).

Coordinates are 0-based, half-open, on the forward strand of each genome. Chain coordinates on a ``-``
query strand count from the end of the query sequence and are converted with ``qSize``. The strand of a
fragment or ortholog is ``+`` when the chain's query strand equals its target strand, else ``-``.
When the summit lifts through several chains, the chain with the highest score (then the first in the
file) gives it.

Chain format (https://genome.ucsc.edu/goldenPath/help/chain.html): a header line
``chain score tName tSize tStrand tStart tEnd qName qSize qStrand qStart qEnd [id]``, then lines
``size dt dq`` and a last line ``size``; chains are separated by blank lines; ``#`` lines are comments.
"""

from __future__ import annotations

import logging
import os
import warnings
from collections import Counter
from dataclasses import dataclass
from typing import Iterable, Iterator, NamedTuple, Sequence

import numpy as np

from .errors import InputError
from .io import open_text
from .orthologs import (REASONS, Fragments, Locus, OrthologSettings, SpeciesOrthologs, qc_row, stitch,
                        write_ortholog_peaks)
from .peaks import Peak

log = logging.getLogger(__name__)

OUTCOMES = ("mapped", *REASONS, "other_chrom")


class Chain(NamedTuple):
    """One chain: header fields and its blocks (int64 arrays of equal length n >= 1).

    ``t_block`` and ``q_block`` are block starts on the target (forward) and on the query strand
    ``q_strand`` (counted from the end of the query sequence when ``-``); ``size`` the block lengths.
    ``line`` is the 1-based line number of the header.
    """

    score: float
    t_name: str
    t_size: int
    t_start: int
    t_end: int
    q_name: str
    q_size: int
    q_strand: str
    q_start: int
    q_end: int
    id: str
    line: int
    t_block: np.ndarray
    q_block: np.ndarray
    size: np.ndarray


def _parse_header(fields: list[str], path: object, number: int) -> tuple:
    """Check a ``chain`` header line; return its typed fields (score, tName, ..., qEnd, id)."""
    if len(fields) not in (12, 13):
        raise InputError(f"chain header needs 12 or 13 fields (chain score tName tSize tStrand tStart tEnd "
                         f"qName qSize qStrand qStart qEnd [id]), found {len(fields)}", path, number)
    _, score, t_name, t_size, t_strand, t_start, t_end, q_name, q_size, q_strand, q_start, q_end = fields[:12]
    try:
        score_value = float(score)
        t_size, t_start, t_end, q_size, q_start, q_end = map(int, (t_size, t_start, t_end, q_size, q_start, q_end))
    except ValueError:
        raise InputError("chain header: score must be a number and sizes, starts and ends integers", path,
                         number) from None
    if t_strand != "+":
        raise InputError(f"chain header: target strand must be '+' (UCSC chains), got {t_strand!r}", path, number)
    if q_strand not in ("+", "-"):
        raise InputError(f"chain header: query strand must be '+' or '-', got {q_strand!r}", path, number)
    for side, start, end, size in (("target", t_start, t_end, t_size), ("query", q_start, q_end, q_size)):
        if not 0 <= start <= end <= size:
            raise InputError(f"chain header: need 0 <= {side} start <= end <= size, got {start} {end} {size}",
                             path, number)
    chain_id = fields[12] if len(fields) == 13 else ""
    return score_value, t_name, t_size, t_start, t_end, q_name, q_size, q_strand, q_start, q_end, chain_id


def _block_numbers(lines: list[str], path: object, first: int) -> np.ndarray:
    """The numbers of a chain's block lines (``size dt dq`` ..., then ``size``) as an (n, 3) int64 array
    (the last row's gaps are 0). Fast path through numpy; on any doubt, a line-by-line check names the
    bad line (``first`` is the line number of ``lines[0]``)."""
    expected = 3 * len(lines) - 2
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", DeprecationWarning)  # numpy < 2.3 warns instead of raising
            numbers = np.fromstring("".join(lines), dtype=np.int64, sep=" ")
    except (ValueError, DeprecationWarning):
        numbers = None
    if numbers is None or numbers.size != expected or len(lines[-1].split()) != 1 or (numbers < 0).any():
        for offset, line in enumerate(lines):
            fields = line.split()
            want = 1 if offset == len(lines) - 1 else 3
            if len(fields) != want or not all(field.isdigit() for field in fields):
                what = "the last line of a chain is one block size" if want == 1 else "block lines are 'size dt dq'"
                raise InputError(f"{what} (non-negative integers), got {line.strip()!r}", path, first + offset)
        raise InputError("malformed block lines", path, first)  # pragma: no cover - the scan finds it
    return np.append(numbers, [0, 0]).reshape(-1, 3)


def _make_chain(header: tuple, header_line: int, lines: list[str], path: object) -> Chain:
    """Blocks of one chain from its header and block lines; their spans must match the header's."""
    if not lines:
        raise InputError("chain without block lines", path, header_line)
    numbers = _block_numbers(lines, path, header_line + 1)
    size, dt, dq = numbers[:, 0], numbers[:, 1], numbers[:, 2]
    score, t_name, t_size, t_start, t_end, q_name, q_size, q_strand, q_start, q_end, chain_id = header
    t_block = t_start + np.r_[0, np.cumsum(size + dt)[:-1]]
    q_block = q_start + np.r_[0, np.cumsum(size + dq)[:-1]]
    if t_block[-1] + size[-1] != t_end or q_block[-1] + size[-1] != q_end:
        raise InputError(f"chain blocks span target {t_start}-{t_block[-1] + size[-1]} and query "
                         f"{q_start}-{q_block[-1] + size[-1]}, but the header says {t_start}-{t_end} and "
                         f"{q_start}-{q_end}", path, header_line)
    return Chain(score, t_name, t_size, t_start, t_end, q_name, q_size, q_strand, q_start, q_end, chain_id,
                 header_line, t_block, q_block, size)


def read_chains(path: str | os.PathLike[str]) -> Iterator[Chain]:
    """Yield the chains of a UCSC chain file (plain or gzip), one at a time, in file order.

    Raises
    ------
    InputError
        Naming the file and line: a header with the wrong field count, non-numeric fields, a target strand
        other than ``+``, a query strand other than ``+``/``-`` or a start/end outside the sequence; block
        lines before any header, with other than three (or, last, one) non-negative integers; a chain
        without blocks or whose blocks do not add up to the header's spans.
    """
    header, header_line, lines = None, 0, []
    with open_text(path) as handle:
        for number, line in enumerate(handle, start=1):
            if line.startswith("#"):
                continue
            if line.startswith("chain"):
                if header is not None:
                    yield _make_chain(header, header_line, lines, path)
                header, header_line, lines = _parse_header(line.split(), path, number), number, []
            elif not line.strip():
                if header is not None:
                    yield _make_chain(header, header_line, lines, path)
                header = None
            elif header is None:
                raise InputError("block line outside a chain (no preceding 'chain' header)", path, number)
            else:
                lines.append(line)
    if header is not None:
        yield _make_chain(header, header_line, lines, path)


class _ChromPeaks(NamedTuple):
    """Peaks of one target sequence sorted by start: index into the peak list, start, end, summit."""

    index: np.ndarray
    start: np.ndarray
    end: np.ndarray
    summit: np.ndarray
    max_len: int


def _index_peaks(peaks: Sequence[Peak]) -> dict[str, _ChromPeaks]:
    groups: dict[str, list[int]] = {}
    for i, peak in enumerate(peaks):
        groups.setdefault(peak.chrom, []).append(i)
    index = {}
    for chrom, members in groups.items():
        members.sort(key=lambda i: peaks[i].start)
        start = np.array([peaks[i].start for i in members], dtype=np.int64)
        end = np.array([peaks[i].end for i in members], dtype=np.int64)
        summit = np.array([peaks[i].summit for i in members], dtype=np.int64)
        index[chrom] = _ChromPeaks(np.array(members, dtype=np.int64), start, end, summit, int((end - start).max()))
    return index


def _query_interval(chain: Chain, block: np.ndarray, a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Forward query interval aligned to the target interval ``[a, b)`` inside blocks ``block``."""
    lo = chain.q_block[block] + (a - chain.t_block[block])
    hi = lo + (b - a)
    if chain.q_strand == "-":
        return chain.q_size - hi, chain.q_size - lo
    return lo, hi


@dataclass
class LiftedPeaks:
    """Fragments and lifted summits of peaks through chains, as flat columns.

    ``frag_*``: one row per (peak, overlapped block), ``frag_peak`` indexing the peak list. ``summit_*``:
    one row per (peak, chain whose block holds the summit), with the chain's score and file order.
    """

    frag_peak: list[np.ndarray]
    frag_chrom: list[str]  # one per array of frag_peak (all fragments of one chain share the sequence)
    frag_strand: list[str]
    frag_start: list[np.ndarray]
    frag_end: list[np.ndarray]
    summit_peak: list[np.ndarray]
    summit_pos: list[np.ndarray]
    summit_chain: list[int]  # chain number (file order) of each array
    chains: list[tuple[str, str, float]]  # per chain number: query name, strand, score


def lift_peaks(chains: Iterable[Chain], peaks: Sequence[Peak]) -> LiftedPeaks:
    """Lift every peak and its summit through every chain, block by block (one pass over ``chains``)."""
    index = _index_peaks(peaks)
    out = LiftedPeaks([], [], [], [], [], [], [], [], [])
    for number, chain in enumerate(chains):
        on_chrom = index.get(chain.t_name)
        if on_chrom is None:
            continue
        lo = np.searchsorted(on_chrom.start, chain.t_start - on_chrom.max_len, side="right")
        hi = np.searchsorted(on_chrom.start, chain.t_end, side="left")
        hits = np.arange(lo, hi)[on_chrom.end[lo:hi] > chain.t_start]
        if hits.size == 0:
            continue
        strand = "+" if chain.q_strand == "+" else "-"
        out.chains.append((chain.q_name, strand, chain.score))
        block_end = chain.t_block + chain.size
        first = np.searchsorted(block_end, on_chrom.start[hits], side="right")
        stop = np.searchsorted(chain.t_block, on_chrom.end[hits], side="left")
        count = np.maximum(stop - first, 0)
        peak = np.repeat(hits, count)
        block = np.repeat(first, count) + np.arange(count.sum()) - np.repeat(np.cumsum(count) - count, count)
        a = np.maximum(on_chrom.start[peak], chain.t_block[block])
        b = np.minimum(on_chrom.end[peak], block_end[block])
        keep = b > a  # empty blocks (size 0) give nothing
        q_lo, q_hi = _query_interval(chain, block[keep], a[keep], b[keep])
        out.frag_peak.append(on_chrom.index[peak[keep]])
        out.frag_chrom.append(chain.q_name)
        out.frag_strand.append(strand)
        out.frag_start.append(q_lo)
        out.frag_end.append(q_hi)
        summit = on_chrom.summit[hits]
        holder = np.searchsorted(chain.t_block, summit, side="right") - 1
        inside = (holder >= 0) & (summit < block_end[np.maximum(holder, 0)])
        pos, _ = _query_interval(chain, holder[inside], summit[inside], summit[inside] + 1)
        out.summit_peak.append(on_chrom.index[hits[inside]])
        out.summit_pos.append(pos)
        out.summit_chain.append(len(out.chains) - 1)
    return out


def _best_summits(lifted: LiftedPeaks, n_peaks: int) -> tuple[np.ndarray, np.ndarray]:
    """Per peak, the chain number giving its summit (-1 if none) and the forward position."""
    if not lifted.summit_peak:
        return np.full(n_peaks, -1), np.zeros(n_peaks, dtype=np.int64)
    peak = np.concatenate(lifted.summit_peak)
    pos = np.concatenate(lifted.summit_pos)
    chain = np.concatenate([np.full(p.size, c) for p, c in zip(lifted.summit_peak, lifted.summit_chain)])
    score = np.array([score for _, _, score in lifted.chains])[chain]
    order = np.lexsort((chain, -score, peak))  # highest score, then first chain in the file
    first = order[np.r_[True, peak[order][1:] != peak[order][:-1]]]
    best_chain, best_pos = np.full(n_peaks, -1), np.zeros(n_peaks, dtype=np.int64)
    best_chain[peak[first]], best_pos[peak[first]] = chain[first], pos[first]
    return best_chain, best_pos


@dataclass
class ChainOrthologs:
    """Accepted orthologs (``orthologs.peak`` indexes ``peaks``) and per-outcome counts (:data:`OUTCOMES`)."""

    peaks: list[Peak]
    orthologs: SpeciesOrthologs
    counts: Counter

    def qc_row(self, species: str) -> dict[str, object]:
        """The species' row of the MAF path's ``qc.tsv`` (:data:`tacit.orthologs.QC_COLUMNS`)."""
        return qc_row(species, len(self.peaks), self.counts, self.orthologs.lengths())


def stitch_lifted(lifted: LiftedPeaks, peaks: Sequence[Peak], settings: OrthologSettings) -> ChainOrthologs:
    """Stitch each peak's fragments around its lifted summit (:func:`tacit.orthologs.stitch`).

    Outcomes per peak: ``no_alignment`` (no fragment), ``summit_unaligned`` (the summit base is in no
    block, or outside the kept fragments), a :func:`~tacit.orthologs.stitch` rejection, or ``mapped``;
    ``other_chrom`` counts peaks whose fragments on another sequence or strand were dropped.
    """
    counts: Counter = Counter({key: 0 for key in OUTCOMES})
    table = SpeciesOrthologs()
    sizes = [p.size for p in lifted.frag_peak]
    frag_peak = np.concatenate(lifted.frag_peak) if sizes else np.zeros(0, dtype=np.int64)
    chrom = np.repeat(np.array(lifted.frag_chrom, dtype=object), sizes)
    strand = np.repeat(np.array(lifted.frag_strand, dtype=object), sizes)
    start = np.concatenate(lifted.frag_start) if sizes else frag_peak
    end = np.concatenate(lifted.frag_end) if sizes else frag_peak
    order = np.argsort(frag_peak, kind="stable")
    bounds = np.searchsorted(frag_peak[order], np.arange(len(peaks) + 1))
    best_chain, best_pos = _best_summits(lifted, len(peaks))
    for p in range(len(peaks)):
        rows = order[bounds[p]:bounds[p + 1]]
        if rows.size == 0:
            counts["no_alignment"] += 1
            continue
        if best_chain[p] < 0:
            counts["summit_unaligned"] += 1
            continue
        q_name, q_strand, _ = lifted.chains[best_chain[p]]
        summit = Locus(q_name, q_strand, int(best_pos[p]))
        result = stitch(Fragments(chrom[rows], strand[rows], start[rows], end[rows]), summit,
                        min_len=settings.min_len, max_len=settings.max_len, protect_dist=settings.protect_dist)
        counts["other_chrom"] += result.n_dropped > 0
        counts[result.reason or "mapped"] += 1
        if result.reason is None:
            table.add(q_name, result.start, result.end, p, summit.pos, q_strand)
    return ChainOrthologs(list(peaks), table, counts)


def chain_orthologs(chain_path: str | os.PathLike[str], peaks: Sequence[Peak], out: str | os.PathLike[str],
                    settings: OrthologSettings = OrthologSettings()) -> ChainOrthologs:
    """Map ``peaks`` (on the chain's target genome) through the chain file and write the orthologs to ``out``.

    Raises
    ------
    InputError
        Any error of :func:`read_chains`.
    """
    seen: set[str] = set()

    def chains() -> Iterator[Chain]:
        for chain in read_chains(chain_path):
            seen.add(chain.t_name)
            yield chain

    result = stitch_lifted(lift_peaks(chains(), peaks), peaks, settings)
    missing = {peak.chrom for peak in peaks} - seen
    if missing:
        log.warning("%d sequence(s) with peaks are the target of no chain in %s, e.g. %s: their peaks have "
                    "no orthologs", len(missing), chain_path, min(missing))
    write_ortholog_peaks(result.orthologs.to_peaks([peak.name for peak in result.peaks]), out)
    return result
