"""HALPER, line for line: orthologs of query peaks from halLiftover fragments and lifted summits.

Reimplements ``orthologFind.py`` of HALPER (Zhang et al. 2020, pfenninglab/halLiftover-postprocessing)
with whole-file numpy operations instead of per-line Python; the output files have the same lines.
HALPER's rules, for each query peak (``-qFile`` line) whose name has both fragments (``-tFile``) and a
lifted summit (``-sFile``); other peaks are written nowhere:

1. The peak's fragments are sorted by sequence name (shorter names first, then by code point) and start
   (fragments with the same sequence and start: the later file line first). Between neighbours on the
   same sequence a *gap* segment ``(end of previous, start of next)`` is inserted.
2. A binary search looks for the segment containing the lifted summit ``[s, e)`` (``start <= s`` and
   ``e <= end``). When it finds none - the summit is on a sequence without fragments, or in no segment
   the search visits (it can miss when fragments overlap) - the peak is written nowhere.
3. The ortholog spans the summit's sequence block: from the start of its first fragment to the end of
   its last fragment in the sorted order (not the largest end, when fragments overlap). The summit is
   ``s + (e - s) // 2``; lengths count both ends (``end - start + 1``).
4. The ortholog passes when ``min_len <= length <= max_len`` (or ``min_frac``/``max_frac`` times the
   query length plus one), ``summit - start >= protect_dist`` and ``end - summit >= protect_dist``, and
   its sequence starts with ``keep_chr_prefix`` (if given). Passing lines go to OUT, others to OUT.failed.

A summit lifted to several places (consecutive ``-sFile`` lines of one name) drops the peak, or with
``mult_keepone`` keeps the first of those lines. When a name has several runs of lines, the last run counts.

Deviations, all at the file boundary: HALPER's histograms are not drawn (``-noHist``); giving both a
length and a fraction limit is an error (HALPER silently uses the length); an unknown ``-preserve`` column
is an error (HALPER ignores it); malformed lines raise :class:`InputError` naming the file and line
(HALPER stops with a traceback); blank lines are skipped; empty fragment or summit files give empty
outputs with a warning (HALPER stops with an error).
"""

from __future__ import annotations

import logging
import os
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Iterator, NamedTuple, Sequence

import numpy as np

from .errors import InputError
from .io import atomic_writer, open_text
from .orthologs import check_species_name, qc_row, write_qc

log = logging.getLogger(__name__)

PRESERVABLE = {"score": 4, "signal": 6, "pvalue": 7, "qvalue": 8}  # narrowPeak column index (0-based)
_TAB, _NEWLINE, _CR = 9, 10, 13


@dataclass(frozen=True)
class HalperSettings:
    """HALPER's options: exactly one of ``min_len``/``min_frac`` and one of ``max_len``/``max_frac``.

    Lengths in bp as HALPER counts them (``end - start + 1``); fractions multiply the query peak length
    plus one. ``preserve`` names narrowPeak columns (score, signal, pvalue, qvalue; any case) copied to
    the ``narrowpeak`` output, which otherwise holds ``-1`` there.
    """

    min_len: int | None = None
    min_frac: float | None = None
    max_len: int | None = None
    max_frac: float | None = None
    protect_dist: int = 50
    mult_keepone: bool = False
    narrowpeak: bool = False
    preserve: tuple[str, ...] = ()
    keep_chr_prefix: str | None = None

    def __post_init__(self) -> None:
        for kind in ("min", "max"):
            given = [f"{kind}_{unit}" for unit in ("len", "frac") if getattr(self, f"{kind}_{unit}") is not None]
            if len(given) != 1:
                raise InputError(f"give exactly one of {kind}_len and {kind}_frac, got {given or 'neither'}")
        unknown = sorted({col.lower() for col in self.preserve} - set(PRESERVABLE))
        if unknown:
            raise InputError(f"cannot preserve {unknown}: choose from {sorted(PRESERVABLE)}")


class Table(NamedTuple):
    """One BED file (first four columns), one entry per non-blank line, in file order.

    ``chrom`` and ``name`` are codes (int64, shape (n,)) into the vocabularies of a :class:`HalperInput`
    (the query's ``chrom`` is all 0: HALPER does not use it); ``start`` and ``end`` are int64 bp.
    """

    chrom: np.ndarray
    start: np.ndarray
    end: np.ndarray
    name: np.ndarray


class HalperInput(NamedTuple):
    """HALPER's three inputs with shared codes: sequence names ``chroms`` (of fragments and summits) and
    peak ``names`` (of all three files). ``extra`` holds the query columns ``preserve`` may copy, as text."""

    query: Table
    fragments: Table
    summits: Table
    chroms: list[str]
    names: Vocabulary
    extra: dict[str, list[str]]


class Orthologs(NamedTuple):
    """One row per query line with an ortholog, in query order; ``passed`` splits OUT from OUT.failed.

    ``row`` indexes the query lines; ``start``, ``end``, ``summit`` are bp on ``chrom``; ``length`` is
    ``end - start + 1``; ``to_start = summit - start`` and ``to_end = end - summit``.
    """

    row: np.ndarray
    chrom: np.ndarray
    start: np.ndarray
    end: np.ndarray
    summit: np.ndarray
    length: np.ndarray
    to_start: np.ndarray
    to_end: np.ndarray
    passed: np.ndarray


# --- reading ---------------------------------------------------------------------------------------------


_FRONT, _BACK = 16, 64  # zero bytes around each chunk, so that 8-byte words before/after a field exist
_CHUNK = 1 << 22  # bytes of text parsed at a time: temporaries stay small, memory follows the line count
_MASKS = np.array([(1 << (8 * m)) - 1 for m in range(9)], dtype=np.uint64)  # the low m bytes of a word
_ONES = 0x0101010101010101
_NO_RUNS = (np.zeros((0, 1), dtype=np.uint64), np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64))
_SPACE_BYTES = np.isin(np.arange(256), (9, 10, 11, 12, 13, 28, 29, 30, 31, 32))  # str.strip()'s, in ASCII


def _u64(value: int) -> np.uint64:
    return np.uint64(value & 0xFFFFFFFFFFFFFFFF)


def _words(buf: np.ndarray, pos: np.ndarray) -> np.ndarray:
    """The 8 bytes ``buf[pos:pos + 8]`` of each position as little-endian uint64 (first byte lowest)."""
    # a view of overlapping (unaligned) words, one starting at every byte: one gather, no copies
    return np.ndarray((buf.size - 7,), dtype="<u8", buffer=buf, strides=(1,))[pos]


def _parse_uint(buf: np.ndarray, a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Decimal integers of 1 to 16 digits in ``buf[a:b]``, eight digits per word operation (SWAR).

    Returns the int64 values and a mask of the fields that are such integers.
    """
    length = b - a
    ok = (length >= 1) & (length <= 16)
    value = np.zeros(a.size, dtype=np.uint64)
    for shift, n_digits in ((16, np.clip(length - 8, 0, 8)), (8, np.minimum(length, 8))):
        low = _MASKS[8 - n_digits]  # bytes before the digits (the word ends where the field ends)
        x = (_words(buf, b - shift) & ~low) | (_u64(0x30 * _ONES) & low)  # pad with ASCII zeros
        ok &= ((x & _u64(0xF0 * _ONES)) == _u64(0x30 * _ONES))
        ok &= (((x + _u64(0x06 * _ONES)) & _u64(0xF0 * _ONES)) == _u64(0x30 * _ONES))
        x = x - _u64(0x30 * _ONES)
        x = (x * np.uint64(10) + (x >> np.uint64(8))) & _u64(0x00FF00FF00FF00FF)
        x = (x * np.uint64(100) + (x >> np.uint64(16))) & _u64(0x0000FFFF0000FFFF)
        x = (x * np.uint64(10000) + (x >> np.uint64(32))) & _u64(0xFFFFFFFF)
        value = value * np.uint64(100_000_000) + x
    return value.astype(np.int64), ok


def _field_words(buf: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The bytes of each field ``buf[a:b]`` as rows of uint64 words, zero after the field's end."""
    length = b - a
    n_words = max(1, -(-int(length.max(initial=0)) // 8))
    if a.size and int(a.max()) + 8 * n_words > buf.size:
        buf = np.concatenate([buf, np.zeros(8 * n_words, dtype=np.uint8)])
    words = np.empty((a.size, n_words), dtype=np.uint64)
    for k in range(n_words):
        words[:, k] = _words(buf, a + 8 * k) & _MASKS[np.clip(length - 8 * k, 0, 8)]
    return words


def _chunks(path: str | os.PathLike[str]) -> Iterator[tuple[np.ndarray, int]]:
    """Whole lines, about :data:`_CHUNK` bytes at a time, as zero-padded uint8 arrays, with their first line number."""
    with open_text(path) as handle:
        binary, rest, line = handle.buffer, b"", 1
        while True:
            block = binary.read(_CHUNK)
            if not block and not rest:
                return
            text = rest + block if block else rest + b"\n"
            cut = text.rfind(b"\n") + 1
            rest = text[cut:]
            if cut:
                buf = np.zeros(_FRONT + cut + _BACK, dtype=np.uint8)
                buf[_FRONT:_FRONT + cut] = np.frombuffer(text, dtype=np.uint8, count=cut)
                yield buf, line
                line += text.count(b"\n", 0, cut)


def _line_bounds(buf: np.ndarray, first_line: int, path: object) -> tuple[np.ndarray, ...]:
    """Per non-blank line of a chunk: line start, the first four tabs (or the line end), line end, line number."""
    seps = np.flatnonzero((buf == _TAB) | (buf == _NEWLINE))
    is_newline = buf[seps] == _NEWLINE
    k = int(np.argmax(is_newline)) + 1  # separators on the first line
    if k >= 4 and seps.size % k == 0 and is_newline[k - 1::k].all() and is_newline.sum() == seps.size // k:
        # fast path: every line has the same k - 1 >= 3 tabs, as halLiftover writes
        grid = seps.reshape(-1, k)
        ends, tabs = grid[:, -1], [grid[:, j] for j in range(3)]
        starts = np.r_[_FRONT, ends[:-1] + 1]
        number = np.arange(first_line, first_line + ends.size)
        tabs.append(grid[:, 3])
    else:
        ends = seps[is_newline]
        starts = np.r_[_FRONT, ends[:-1] + 1]
        number = np.arange(first_line, first_line + ends.size)
        keep = ends - starts > (buf[ends - 1] == _CR)  # skip blank lines
        starts, ends, number = starts[keep], ends[keep], number[keep]
        tab_pos = np.r_[seps[~is_newline], [buf.size] * 4]
        first = np.searchsorted(tab_pos, starts)
        tabs = [tab_pos[first + j] for j in range(4)]
        short = tabs[2] >= ends
        if short.any():
            raise InputError("need at least 4 tab-separated columns (chrom, start, end, name)", path,
                             int(number[np.argmax(short)]))
    stop = ends - (buf[ends - 1] == _CR)
    return starts, tabs[0], tabs[1], tabs[2], np.minimum(tabs[3], stop), number


def _runs(buf: np.ndarray, a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Fields ``buf[a:b]`` as runs of equal neighbours: words and length of each run's field, run lengths."""
    if a.size == 0:
        return _NO_RUNS
    words, length = _field_words(buf, a, b), b - a
    new = np.r_[True, (words[1:] != words[:-1]).any(axis=1) | (length[1:] != length[:-1])]
    return words[new], length[new], np.diff(np.r_[np.flatnonzero(new), a.size])


def _parse_chunk(buf: np.ndarray, first_line: int, path: object) -> tuple:
    """Chrom runs, start, end and name runs (see :func:`_runs`) of the non-blank lines of one chunk."""
    starts, t1, t2, t3, t4, number = _line_bounds(buf, first_line, path)
    name_a, name_b = t3 + 1, t4
    while True:  # strip surrounding whitespace from names, as HALPER does
        lead = (name_a < name_b) & _SPACE_BYTES[buf[name_a]]
        trail = (name_a < name_b) & _SPACE_BYTES[buf[name_b - 1]]
        if not (lead.any() or trail.any()):
            break
        name_a, name_b = name_a + lead, name_b - trail
    start, start_ok = _parse_uint(buf, t1 + 1, t2)
    end, end_ok = _parse_uint(buf, t2 + 1, t3)
    for what, ok, a, b in (("start (column 2)", start_ok, t1 + 1, t2), ("end (column 3)", end_ok, t2 + 1, t3)):
        if not ok.all():
            i = int(np.argmin(ok))
            text = buf[a[i]:b[i]].tobytes().decode(errors="replace")
            raise InputError(f"{what} must be an integer of 1 to 16 digits, got {text!r}", path, int(number[i]))
    return _runs(buf, starts, t1), start, end, _runs(buf, name_a, name_b)


class Vocabulary:
    """Distinct strings, held as the uint64 words of their UTF-8 bytes until decoded."""

    def __init__(self, key: np.ndarray, length: np.ndarray) -> None:
        self.key, self.length = key, length

    def __len__(self) -> int:
        return self.length.size

    def decode(self, codes: Sequence[int] | None = None) -> list[str]:
        """The strings of ``codes`` (all, in code order, by default)."""
        codes = range(len(self)) if codes is None else codes
        key, length = self.key, self.length
        return [key[i].tobytes()[:length[i]].decode() for i in codes]


def _factorize(runs: list[tuple[np.ndarray, np.ndarray, np.ndarray]]) -> tuple[list[np.ndarray], Vocabulary]:
    """Codes (int64, one per field) for several lists of runs (see :func:`_runs`), numbered by first appearance.

    Run fields are hashed; the codes are then checked word for word against the first field of each
    code, falling back to an exact sort on a hash collision. Returns the codes per list of runs.
    """
    key, length, _ = _concat_runs(runs)
    n_words = key.shape[1]
    digest = length.astype(np.uint64) * _u64(0x9E3779B97F4A7C15)
    for k in range(n_words):
        digest = (digest ^ key[:, k]) * _u64(0xBF58476D1CE4E5B9 + 2 * k)
    _, first, codes = np.unique(digest, return_index=True, return_inverse=True)
    if not (np.array_equal(key, key[first[codes]]) and np.array_equal(length, length[first[codes]])):
        exact = np.ascontiguousarray(np.column_stack([key, length.astype(np.uint64)]))
        _, first, codes = np.unique(exact.view(f"V{exact.shape[1] * 8}").ravel(), return_index=True,
                                    return_inverse=True)
    # renumber by first appearance, so codes do not depend on the hash
    by_appearance = np.argsort(first, kind="stable")
    renumber = np.empty_like(by_appearance)
    renumber[by_appearance] = np.arange(by_appearance.size)
    codes = renumber[codes.ravel()]
    vocabulary = Vocabulary(key[first[by_appearance]], length[first[by_appearance]])
    bounds = np.cumsum([0] + [run_len.size for _, _, run_len in runs])
    return [np.repeat(codes[a:b], run_len) for a, b, (_, _, run_len) in zip(bounds[:-1], bounds[1:], runs)], vocabulary


def _read_table(path: str | os.PathLike[str]) -> tuple:
    """Chrom runs, start, end and name runs of every non-blank line of a BED file (see :func:`_parse_chunk`)."""
    # numpy releases the GIL in the bulk of the parsing: chunks are parsed by a thread per core, in order.
    with ThreadPoolExecutor(max_workers=min(8, os.cpu_count() or 1)) as pool:
        parts = list(pool.map(lambda chunk: _parse_chunk(chunk[0], chunk[1], path), _chunks(path)))
    if not parts:
        return _NO_RUNS, np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64), _NO_RUNS
    chrom, start, end, name = zip(*parts)
    return _concat_runs(chrom), np.concatenate(start), np.concatenate(end), _concat_runs(name)


def _concat_runs(runs: Sequence[tuple[np.ndarray, np.ndarray, np.ndarray]]) -> tuple[np.ndarray, ...]:
    """One list of runs from several (words padded with zero words to the widest)."""
    n_words = max(words.shape[1] for words, _, _ in runs)
    words = np.concatenate([np.pad(words, ((0, 0), (0, n_words - words.shape[1]))) for words, _, _ in runs])
    return words, np.concatenate([length for _, length, _ in runs]), np.concatenate([n for _, _, n in runs])


def _read_extra(path: str | os.PathLike[str], preserve: Sequence[str]) -> dict[str, list[str]]:
    """The query columns to preserve, per non-blank line, split as HALPER does (``-1`` where missing)."""
    columns = {col: PRESERVABLE[col] for col in preserve}
    extra: dict[str, list[str]] = {col: [] for col in columns}
    with open_text(path) as handle:
        for line in handle:
            fields = line.strip().split("\t")
            if fields != [""]:
                for col, index in columns.items():
                    extra[col].append(fields[index] if len(fields) > index else "-1")
    return extra


def read_inputs(query: str | os.PathLike[str], fragments: str | os.PathLike[str],
                summits: str | os.PathLike[str], preserve: Sequence[str] = ()) -> HalperInput:
    """Read HALPER's ``-qFile``, ``-tFile`` and ``-sFile`` (plain or gzip), with shared name codes.

    All three are tab-separated BED files: chrom, start, end, name, optional further columns (the query
    may be narrowPeak). Names are stripped of surrounding whitespace, as HALPER does for the lifted files.
    Query names need not be unique: each line is processed on its own. Blank lines are skipped.

    Raises
    ------
    InputError
        Naming the file and line: fewer than four tab-separated columns, or a start or end that is not a
        non-negative integer of at most 16 digits; or a query file without peaks.
    """
    (q_chrom, q_start, q_end, q_name), (f_chrom, f_start, f_end, f_name), (s_chrom, s_start, s_end, s_name) = (
        _read_table(path) for path in (query, fragments, summits))
    if q_start.size == 0:
        raise InputError("no query peaks", query)
    (f_chrom, s_chrom), chroms = _factorize([f_chrom, s_chrom])
    (q_name, f_name, s_name), names = _factorize([q_name, f_name, s_name])
    no_chrom = np.zeros(q_start.size, dtype=np.int64)
    extra = _read_extra(query, [col.lower() for col in preserve]) if preserve else {}
    return HalperInput(Table(no_chrom, q_start, q_end, q_name), Table(f_chrom, f_start, f_end, f_name),
                       Table(s_chrom, s_start, s_end, s_name), chroms.decode(), names, extra)


# --- HALPER's rules --------------------------------------------------------------------------------------


def _chrom_ranks(chroms: list[str]) -> np.ndarray:
    """Rank of each sequence name in HALPER's order (shorter names first, then by code point)."""
    order = sorted(range(len(chroms)), key=lambda i: (len(chroms[i]), chroms[i]))
    rank = np.empty(len(chroms), dtype=np.int64)
    rank[order] = np.arange(len(chroms))
    return rank


def pick_summits(name: np.ndarray, mult_keepone: bool) -> tuple[np.ndarray, np.ndarray]:
    """HALPER's choice of one summit line per name: the first line of the name's last run of lines.

    ``name`` holds the name code of each summit line, in file order. Returns the name codes and their
    line indices (int64); names whose last run has several lines are left out unless ``mult_keepone``.
    """
    run_first = np.flatnonzero(np.r_[True, name[1:] != name[:-1]])
    run_len = np.diff(np.r_[run_first, name.size])
    run_name = name[run_first]
    _, from_end = np.unique(run_name[::-1], return_index=True)
    last_run = run_name.size - 1 - from_end
    if not mult_keepone:
        last_run = last_run[run_len[last_run] == 1]
    return run_name[last_run], run_first[last_run]


def _halper_order(name: np.ndarray, chrom: np.ndarray, start: np.ndarray) -> np.ndarray:
    """Order by name, sequence rank and start; ties in reverse line order (HALPER's merge sort keeps
    the right half first on ties, which reverses equal elements)."""
    n, backwards = name.size, slice(None, None, -1)
    low = int(start.min())
    n_chrom, span = int(chrom.max()) + 1, int(start.max()) - low + 1
    if (int(name.max()) + 1) * n_chrom * span < 2**63:  # one int64 key: much faster than lexsort
        key = (name * n_chrom + chrom) * span + (start - low)
        return n - 1 - np.argsort(key[backwards], kind="stable")
    return n - 1 - np.lexsort((start[backwards], chrom[backwards], name[backwards]))


class _Segments(NamedTuple):
    """HALPER's sorted fragments of every name, with a gap segment before each fragment that continues a
    block (same name and sequence), indexed without building the gap segments.

    ``pos`` is the segment index of each sorted fragment (increasing); a segment index missing from
    ``pos`` is the gap ``(end of fragment f - 1, start of fragment f)`` with ``f = searchsorted(pos, j)``.
    ``first`` and ``last`` give each name's segment range (-1 for names without fragments);
    ``block_start`` and ``block_end`` the start of each block's first and the end of its last fragment.
    """

    chrom: np.ndarray
    start: np.ndarray
    end: np.ndarray
    block: np.ndarray
    pos: np.ndarray
    first: np.ndarray
    last: np.ndarray
    block_start: np.ndarray
    block_end: np.ndarray

    def at(self, j: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Sequence rank, start, end and block of segments ``j``."""
        f = np.searchsorted(self.pos, j)
        fragment = self.pos[f] == j
        start = np.where(fragment, self.start[f], self.end[f - 1])
        end = np.where(fragment, self.end[f], self.start[f])
        return self.chrom[f], start, end, self.block[f]


def _segments(name: np.ndarray, chrom: np.ndarray, start: np.ndarray, end: np.ndarray, n_names: int) -> _Segments:
    """HALPER's ``process_search_seg`` for every name at once (``chrom`` holds sequence ranks)."""
    order = _halper_order(name, chrom, start)
    name, chrom, start, end = name[order], chrom[order], start[order], end[order]
    new_name = np.r_[True, name[1:] != name[:-1]]
    new_block = new_name | np.r_[True, chrom[1:] != chrom[:-1]]
    last_of_name, last_of_block = np.r_[new_name[1:], True], np.r_[new_block[1:], True]
    pos = np.cumsum(2 - new_block) - 1
    first, last = np.full(n_names, -1), np.full(n_names, -1)
    first[name[new_name]] = pos[new_name]
    last[name[last_of_name]] = pos[last_of_name]
    return _Segments(chrom, start, end, np.cumsum(new_block) - 1, pos, first, last, start[new_block],
                     end[last_of_block])


def _binary_search(segments: _Segments, low: np.ndarray, high: np.ndarray, chrom: np.ndarray, s: np.ndarray,
                   e: np.ndarray) -> np.ndarray:
    """HALPER's ``binsearch_summitseg`` for many peaks at once: index of the segment found, or -1.

    Compares the summit ``(chrom, s, e)`` with the middle segment: inside (same sequence, ``start <= s``,
    ``e <= end``) ends the search; a smaller sequence rank or ``s < start`` goes left, all else right.
    """
    low, high = low.copy(), high.copy()
    found = np.full(low.size, -1, dtype=np.int64)
    active = np.flatnonzero(low <= high)
    while active.size:
        lo, hi = low[active], high[active]
        mid = lo + (hi - lo) // 2
        c, sa, sb = chrom[active], s[active], e[active]
        seg_chrom, seg_start, seg_end, _ = segments.at(mid)
        same = seg_chrom == c
        inside = same & (sa >= seg_start) & (sb <= seg_end)
        left = np.where(same, sa < seg_start, c < seg_chrom)
        found[active[inside]] = mid[inside]
        high[active] = np.where(left, mid - 1, hi)
        low[active] = np.where(left, lo, mid + 1)
        active = active[~inside & (low[active] <= high[active])]
    return found


def find_orthologs(data: HalperInput, settings: HalperSettings) -> Orthologs:
    """Apply HALPER's rules (see the module docstring) to every query line.

    Returns
    -------
    Orthologs
        Rows for query lines whose name has fragments and a usable summit, and whose summit lies in a
        segment the binary search finds; ``chrom`` holds the summit's sequence names.
    """
    fragments, summits, n_names = data.fragments, data.summits, len(data.names)
    empty = np.zeros(0, dtype=np.int64)
    if fragments.name.size == 0 or summits.name.size == 0:
        return Orthologs(empty, np.zeros(0, dtype=object), *[empty] * 6, np.zeros(0, dtype=bool))
    rank = _chrom_ranks(data.chroms)
    segments = _segments(fragments.name, rank[fragments.chrom], fragments.start, fragments.end, n_names)
    summit_line = np.full(n_names, -1)
    summit_names, lines = pick_summits(summits.name, settings.mult_keepone)
    summit_line[summit_names] = lines

    names = np.flatnonzero((summit_line >= 0) & (segments.first >= 0))
    lines = summit_line[names]
    s, e = summits.start[lines], summits.end[lines]
    hit = _binary_search(segments, segments.first[names], segments.last[names], rank[summits.chrom[lines]], s, e)
    result_of = np.full(n_names, -1)
    result_of[names[hit >= 0]] = np.flatnonzero(hit >= 0)
    block = segments.at(np.maximum(hit, 0))[3]

    rows = np.flatnonzero(result_of[data.query.name] >= 0)
    r = result_of[data.query.name[rows]]
    start, end = segments.block_start[block[r]], segments.block_end[block[r]]
    summit = s[r] + (e[r] - s[r]) // 2
    chrom = summits.chrom[lines[r]]
    length = end - start + 1
    query_length = data.query.end[rows] - data.query.start[rows]
    passed = _passes(length, summit - start, end - summit, query_length, settings)
    if settings.keep_chr_prefix is not None:
        passed &= np.array([name.startswith(settings.keep_chr_prefix) for name in data.chroms], dtype=bool)[chrom]
    chroms = np.array(data.chroms, dtype=object)[chrom]
    return Orthologs(rows, chroms, start, end, summit, length, summit - start, end - summit, passed)


def _failures(length: np.ndarray, to_start: np.ndarray, to_end: np.ndarray, query_length: np.ndarray,
              settings: HalperSettings) -> dict[str, np.ndarray]:
    """Rows failing each of HALPER's ``validOrtholog`` limits (bool masks), named as in the QC table:
    ``too_long``, ``too_short`` (absolute, or fractions of the query length plus one) and ``summit_near_edge``
    (summit protection); the limits are inclusive."""
    span = query_length + 1
    max_len = settings.max_len if settings.max_len is not None else settings.max_frac * span
    min_len = settings.min_len if settings.min_len is not None else settings.min_frac * span.astype(np.float64)
    return {"too_long": ~(length <= max_len), "too_short": ~(length >= min_len),
            "summit_near_edge": ~((to_start >= settings.protect_dist) & (to_end >= settings.protect_dist))}


def _passes(length: np.ndarray, to_start: np.ndarray, to_end: np.ndarray, query_length: np.ndarray,
            settings: HalperSettings) -> np.ndarray:
    """HALPER's ``validOrtholog`` limits: length (absolute, or fractions of the query length plus one)
    and summit protection, all inclusive."""
    failed = _failures(length, to_start, to_end, query_length, settings)
    return ~(failed["too_long"] | failed["too_short"] | failed["summit_near_edge"])


def count_outcomes(data: HalperInput, result: Orthologs, settings: HalperSettings) -> Counter:
    """One outcome per query line, named as the MAF path's QC columns (:data:`tacit.orthologs.QC_COLUMNS`).

    * ``no_alignment``: the line's name has no fragment (HALPER writes it nowhere);
    * ``summit_unaligned``: fragments but no usable summit (none lifted; lifted to several places without
      ``mult_keepone``; on a sequence or at a place the binary search finds in no segment: HALPER writes it
      nowhere), or an ortholog on a sequence without ``keep_chr_prefix`` (in OUT.failed);
    * ``too_long``, ``too_short``, ``summit_near_edge``: the first limit the ortholog fails, in this order
      (as :func:`tacit.orthologs.stitch`; in OUT.failed);
    * ``mapped``: the line is in OUT.

    ``other_chrom`` counts, besides, lines with an ortholog whose name has fragments on other sequences than
    the ortholog's (HALPER leaves them out of the ortholog).
    """
    names = data.query.name
    has_fragments = np.zeros(len(data.names), dtype=bool)
    has_fragments[data.fragments.name] = True
    counts: Counter = Counter()
    counts["no_alignment"] = int(np.count_nonzero(~has_fragments[names]))
    query_length = data.query.end[result.row] - data.query.start[result.row]
    failed = _failures(result.length, result.to_start, result.to_end, query_length, settings)
    if settings.keep_chr_prefix is not None:
        undecided = np.array([chrom.startswith(settings.keep_chr_prefix) for chrom in result.chrom.tolist()],
                             dtype=bool)
    else:
        undecided = np.ones(result.row.size, dtype=bool)
    n_without = int(np.count_nonzero(has_fragments[names])) - result.row.size  # written nowhere
    counts["summit_unaligned"] = n_without + int(np.count_nonzero(~undecided))
    for reason in ("too_long", "too_short", "summit_near_edge"):
        hit = undecided & failed[reason]
        counts[reason] = int(np.count_nonzero(hit))
        undecided &= ~hit
    counts["mapped"] = int(np.count_nonzero(undecided))
    assert counts["mapped"] == int(np.count_nonzero(result.passed))
    n_chroms = max(len(data.chroms), 1)
    pairs = np.unique(data.fragments.name * n_chroms + data.fragments.chrom)
    chroms_per_name = np.bincount(pairs // n_chroms, minlength=len(data.names))
    counts["other_chrom"] = int(np.count_nonzero(chroms_per_name[names[result.row]] > 1))
    return counts


# --- writing ---------------------------------------------------------------------------------------------


def format_lines(data: HalperInput, result: Orthologs, settings: HalperSettings) -> list[str]:
    """HALPER's output lines (with newline), one per row of ``result``.

    Default columns: chrom, start, end, summit, name, ortholog length, query length, summit - start,
    end - summit. With ``narrowpeak``: chrom, start, end, name, score, ``.``, signal, pValue, qValue,
    summit - start, where score to qValue are ``-1`` unless preserved.
    """
    rows = result.row.tolist()
    name = data.names.decode(data.query.name[result.row].tolist())
    start, end, to_start = result.start.tolist(), result.end.tolist(), result.to_start.tolist()
    if settings.narrowpeak:
        missing = ["-1"] * len(rows)
        kept = {col: [data.extra[col][i] for i in rows] for col in data.extra}
        score, signal, p, q = (kept.get(col, missing) for col in PRESERVABLE)
        columns = [result.chrom.tolist(), start, end, name, score, signal, p, q, to_start]
        template = "%s\t%d\t%d\t%s\t%s\t.\t%s\t%s\t%s\t%d\n"
    else:
        query_length = data.query.end[result.row] - data.query.start[result.row]
        columns = [result.chrom.tolist(), start, end, result.summit.tolist(), name, result.length.tolist(),
                   query_length.tolist(), to_start, result.to_end.tolist()]
        template = "%s\t%d\t%d\t%d\t%s\t%d\t%d\t%d\t%d\n"
    return list(map(template.__mod__, zip(*columns)))


def run_halper(query: str | os.PathLike[str], fragments: str | os.PathLike[str],
               summits: str | os.PathLike[str], out: str | os.PathLike[str],
               settings: HalperSettings, qc: str | os.PathLike[str] | None = None,
               species: str | None = None) -> Orthologs:
    """Run HALPER's ``orthologFind.py`` on files: write OUT (passing orthologs) and OUT.failed, atomically.

    Lines are in query order. With ``qc``, also write a one-row table of the MAF path's QC columns for
    ``species`` (:func:`count_outcomes`; ``median_length`` of the passing orthologs, ``end - start`` in bp).
    Returns the rows, for counting.
    """
    if qc is not None and not species:
        raise InputError("a QC table needs the species name")
    data = read_inputs(query, fragments, summits, settings.preserve if settings.narrowpeak else ())
    for path, table in ((fragments, data.fragments), (summits, data.summits)):
        if table.name.size == 0:
            log.warning("%s has no lines: no orthologs", path)
    result = find_orthologs(data, settings)
    lines = format_lines(data, result, settings)
    passed = result.passed.tolist()
    with atomic_writer(out) as handle:
        handle.writelines(line for line, ok in zip(lines, passed) if ok)
    with atomic_writer(f"{os.fspath(out)}.failed") as handle:
        handle.writelines(line for line, ok in zip(lines, passed) if not ok)
    if qc is not None:
        lengths = (result.end - result.start)[result.passed]
        write_qc([qc_row(check_species_name(species), int(data.query.name.size),
                         count_outcomes(data, result, settings), lengths)], qc)
    return result
