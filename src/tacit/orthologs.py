"""Orthologs of reference OCRs in every species of a multiple alignment (MAF), in one streaming pass.

For each reference peak and each other species, the MAF gives *fragments*: per block and alignment row,
the contiguous species interval spanned by the species bases aligned to reference bases inside the peak
(species bases inserted between two such aligned bases are inside that span). The reference summit base
is lifted too: the species base in the same alignment column. The fragments and the lifted summit are
then stitched into one ortholog as HALPER does (Zhang et al. 2020; pfenninglab/halLiftover-postprocessing
``orthologFind.py``), see :func:`stitch`.

All coordinates are 0-based, half-open, on the forward (``+``) strand of each genome. The strand of an
ortholog is ``+`` when its alignment row is on the same strand as the reference row, else ``-``.

Memory grows with the number of peaks and species, not with the size of the MAF: blocks are read one at a
time, and, when the MAF is sorted by reference position (UCSC multiz and ``hal2maf`` output are), each peak
is stitched and its fragments released as soon as the blocks have moved past it.
"""

from __future__ import annotations

import logging
import os
import re
import time
from array import array
from collections import Counter
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Iterable, Mapping, NamedTuple, Sequence

import numpy as np

from .errors import InputError
from .io import atomic_writer, open_text
from .maf import MafRow, plus_interval, read_maf
from .peaks import Peak

log = logging.getLogger(__name__)

GAP = ord("-")
REASONS = ("no_alignment", "summit_unaligned", "too_short", "too_long", "summit_near_edge")
PROGRESS_BLOCKS = 200_000  # a progress line every this many alignment blocks
QC_COLUMNS = ("species", "n_peaks", "mapped", *REASONS, "other_chrom", "median_length")
_UNSAFE_NAME = re.compile(r"[\s/\\]")


@dataclass(frozen=True)
class OrthologSettings:
    """HALPER's acceptance rules, in bp (HALPER's ``-min_len -max_len -protect_dist``)."""

    min_len: int = 50
    max_len: int = 1000
    protect_dist: int = 5

    def __post_init__(self) -> None:
        if not 0 < self.min_len <= self.max_len:
            raise InputError(f"need 0 < min_len <= max_len, got min_len={self.min_len} max_len={self.max_len}")
        if self.protect_dist < 0:
            raise InputError(f"protect_dist must be >= 0, got {self.protect_dist}")


class Locus(NamedTuple):
    """One base: sequence name, strand relative to the reference (``+``/``-``), 0-based forward position."""

    chrom: str
    strand: str
    pos: int


class Fragments(NamedTuple):
    """Aligned fragments of one peak in one species, as parallel arrays of length n (any order).

    ``chrom`` and ``strand`` hold strings; ``start`` and ``end`` are 0-based half-open forward-strand bp.
    """

    chrom: np.ndarray
    strand: np.ndarray
    start: np.ndarray
    end: np.ndarray

    @classmethod
    def from_lists(cls, chrom: Sequence[str], strand: Sequence[str], start: Sequence[int],
                   end: Sequence[int]) -> Fragments:
        """Arrays from parallel lists (strings as object arrays, coordinates as int64)."""
        return cls(np.asarray(chrom, dtype=object), np.asarray(strand, dtype=object),
                   np.asarray(start, dtype=np.int64), np.asarray(end, dtype=np.int64))


class Stitched(NamedTuple):
    """Result of :func:`stitch`: the ortholog ``[start, end)`` and ``reason`` (None when accepted).

    ``start`` and ``end`` are None when no fragment was kept. ``n_dropped`` counts fragments left out for
    lying on another sequence or strand than the summit.
    """

    start: int | None
    end: int | None
    reason: str | None
    n_dropped: int


def stitch(fragments: Fragments, summit: Locus, *, min_len: int = 50, max_len: int = 1000,
           protect_dist: int = 5) -> Stitched:
    """Stitch aligned fragments into one ortholog around the lifted summit, as HALPER does.

    Fragments on another sequence or strand than the summit are dropped (HALPER drops other sequences;
    it does not see strands). The ortholog spans all remaining fragments, from the smallest start to the
    largest end, gaps included: HALPER's ``extend_summit`` fills the gaps between neighbouring fragments
    of the summit's sequence and extends over all of them, and only then applies the limits.

    Parameters
    ----------
    fragments
        Fragments of one peak in one species (n >= 0), any order.
    summit
        The species base aligned to the reference summit.
    min_len, max_len
        Accepted ortholog lengths ``end - start`` in bp, inclusive. HALPER counts one more base
        (``end - start + 1``), so HALPER's ``-min_len 50 -max_len 1000`` equals ``min_len=49, max_len=999``.
    protect_dist
        Required bases on each side: ``summit - start >= protect_dist`` and ``end - summit >= protect_dist``
        (the right side counts the summit base itself, as in HALPER).

    Returns
    -------
    Stitched
        ``reason`` is None (accepted), ``summit_unaligned`` (summit outside the kept span, or nothing kept:
        start and end are None then), ``too_long``, ``too_short`` or ``summit_near_edge``, checked in that order.
    """
    keep = (fragments.chrom == summit.chrom) & (fragments.strand == summit.strand)
    n_dropped = int(keep.size - np.count_nonzero(keep))
    if not keep.any():
        return Stitched(None, None, "summit_unaligned", n_dropped)
    start, end = int(fragments.start[keep].min()), int(fragments.end[keep].max())
    if not start <= summit.pos < end:
        return Stitched(start, end, "summit_unaligned", n_dropped)
    reason = None
    if end - start > max_len:
        reason = "too_long"
    elif end - start < min_len:
        reason = "too_short"
    elif summit.pos - start < protect_dist or end - summit.pos < protect_dist:
        reason = "summit_near_edge"
    return Stitched(start, end, reason, n_dropped)


class _Lift:
    """Fragments and lifted summit of one peak in one species, growing block by block."""

    __slots__ = ("chrom", "strand", "start", "end", "summit")

    def __init__(self) -> None:
        self.chrom: list[str] = []
        self.strand: list[str] = []
        self.start: list[int] = []
        self.end: list[int] = []
        self.summit: Locus | None = None

    def fragments(self) -> Fragments:
        return Fragments.from_lists(self.chrom, self.strand, self.start, self.end)


class SpeciesOrthologs:
    """Accepted orthologs of one species, stored compactly as columns (peak = index into the peak list)."""

    def __init__(self) -> None:
        self._chrom_ids: dict[str, int] = {}
        self.chroms: list[str] = []
        self.chrom, self.peak = array("i"), array("i")
        self.start, self.end, self.summit = array("q"), array("q"), array("q")
        self.minus = array("b")

    def __len__(self) -> int:
        return len(self.start)

    def add(self, chrom: str, start: int, end: int, peak: int, summit: int, strand: str) -> None:
        chrom_id = self._chrom_ids.setdefault(chrom, len(self.chroms))
        if chrom_id == len(self.chroms):
            self.chroms.append(chrom)
        self.chrom.append(chrom_id)
        self.start.append(start)
        self.end.append(end)
        self.peak.append(peak)
        self.summit.append(summit)
        self.minus.append(strand == "-")

    def lengths(self) -> np.ndarray:
        """Ortholog lengths in bp, shape (n,)."""
        return np.frombuffer(self.end, dtype=np.int64) - np.frombuffer(self.start, dtype=np.int64)

    def order(self, names: Sequence[str]) -> np.ndarray:
        """Row order sorted by sequence name, start, then peak name (``names`` indexed by peak)."""
        chrom_rank = np.argsort(np.argsort(np.array(self.chroms, dtype=object), kind="stable"))
        peak = np.frombuffer(self.peak, dtype=np.int32)
        name_rank = np.argsort(np.argsort(np.array(names, dtype=object)[peak], kind="stable"))
        return np.lexsort((name_rank, np.frombuffer(self.start, dtype=np.int64),
                           chrom_rank[np.frombuffer(self.chrom, dtype=np.int32)]))

    def to_peaks(self, names: Sequence[str]) -> list[Peak]:
        """Orthologs as peaks named after their reference OCR, sorted by sequence, start, name."""
        return [Peak(self.chroms[self.chrom[i]], self.start[i], self.end[i], names[self.peak[i]],
                     self.summit[i], "-" if self.minus[i] else "+") for i in self.order(names)]


class _ChromPeaks:
    """Peaks of one reference sequence, indexed for overlap queries and for closing in order of end."""

    def __init__(self, peaks: Sequence[Peak], indices: Sequence[int]) -> None:
        by_start = sorted(indices, key=lambda i: peaks[i].start)
        self.idx = np.array(by_start, dtype=np.int64)
        self.start = np.array([peaks[i].start for i in by_start], dtype=np.int64)
        self.end = np.array([peaks[i].end for i in by_start], dtype=np.int64)
        self.max_len = int((self.end - self.start).max())
        by_end = np.argsort(self.end, kind="stable")
        self.idx_by_end, self.end_sorted = self.idx[by_end], self.end[by_end]
        self.n_closed = 0

    def overlapping(self, lo: int, hi: int) -> np.ndarray:
        """Peak indices overlapping the forward interval ``[lo, hi)``, in order of start."""
        first = np.searchsorted(self.start, lo - self.max_len, side="left")
        last = np.searchsorted(self.start, hi, side="left")
        hits = np.flatnonzero(self.end[first:last] > lo) + first
        return self.idx[hits]

    def passed(self, lo: int) -> np.ndarray:
        """Peak indices ending at or before ``lo`` not reported before (for a sorted MAF, they are complete)."""
        k = int(np.searchsorted(self.end_sorted, lo, side="right"))
        done = self.idx_by_end[self.n_closed:k]
        self.n_closed = max(self.n_closed, k)
        return done


def _aligned_offsets(rows: list[MafRow], ref_index: int) -> np.ndarray:
    """Per row, the 0-based offset (into the row's bases) of the base aligned to each reference base.

    Returns an int32 array of shape (rows, reference bases of the block); -1 where the row has a gap.
    """
    text = "".join(row.text for row in rows).encode("ascii", errors="replace")
    present = np.frombuffer(text, dtype=np.uint8).reshape(len(rows), -1) != GAP
    ref_cols = np.flatnonzero(present[ref_index])
    offsets = np.cumsum(present, axis=1, dtype=np.int32)[:, ref_cols] - 1
    return np.where(present[:, ref_cols], offsets, -1)


def _local_offsets(ref: MafRow, lo: int, hi: int) -> tuple[int, int]:
    """Offsets into the reference row's bases of the forward interval ``[lo, hi)``, clipped to the row."""
    if ref.strand == "-":
        lo, hi = ref.src_size - hi, ref.src_size - lo
    return max(lo, ref.start) - ref.start, min(hi, ref.start + ref.size) - ref.start


@dataclass
class OrthologMap:
    """Orthologs of every peak in every species, with per-species counts of outcomes.

    Attributes
    ----------
    peaks
        The reference peaks; ``SpeciesOrthologs.peak`` indexes this list.
    species
        Sorted names: every species of the MAF, of the optional species list, and the reference.
    orthologs
        Accepted orthologs per species (the reference maps to its own peaks).
    counts
        Per species: ``mapped``, each reason of :data:`REASONS`, and ``other_chrom`` (peaks whose lifted
        summit was stitched after dropping fragments on another sequence or strand; such a peak is also
        counted under its outcome). Every peak has exactly one outcome per species.
    n_reference_blocks
        Number of alignment blocks with a reference row.
    reference_chroms
        Reference sequences seen in those blocks.
    """

    peaks: list[Peak]
    reference: str
    species: list[str]
    orthologs: dict[str, SpeciesOrthologs]
    counts: dict[str, Counter]
    n_reference_blocks: int
    reference_chroms: set[str]

    def qc_rows(self) -> list[dict[str, object]]:
        """One row per species with the :data:`QC_COLUMNS`; ``median_length`` in bp, ``NA`` when none mapped."""
        return [qc_row(name, len(self.peaks), self.counts[name], self.orthologs[name].lengths())
                for name in self.species]


def qc_row(species: str, n_peaks: int, counts: Mapping[str, int], lengths: np.ndarray) -> dict[str, object]:
    """One QC row (:data:`QC_COLUMNS`): ``counts`` of ``mapped``, each reason and ``other_chrom`` (missing keys
    are 0), and the median of the mapped orthologs' ``lengths`` in bp (``NA`` when none)."""
    row: dict[str, object] = {"species": species, "n_peaks": n_peaks, "mapped": counts.get("mapped", 0)}
    row.update({key: counts.get(key, 0) for key in (*REASONS, "other_chrom")})
    # median of integers: whole or half bp
    row["median_length"] = f"{np.median(lengths):.1f}".removesuffix(".0") if len(lengths) else "NA"
    return row


def write_qc(rows: Iterable[Mapping[str, object]], path: str | os.PathLike[str]) -> None:
    """A QC table: header :data:`QC_COLUMNS`, then the rows (atomically)."""
    with atomic_writer(path) as handle:
        handle.write("\t".join(QC_COLUMNS) + "\n")
        for row in rows:
            handle.write("\t".join(str(row[key]) for key in QC_COLUMNS) + "\n")


class _Mapper:
    """Streaming state: open peaks with their fragments per species, closed as blocks move past them."""

    def __init__(self, peaks: Sequence[Peak], reference: str, settings: OrthologSettings, source: object) -> None:
        self.peaks, self.reference, self.settings, self.source = peaks, reference, settings, source
        groups: dict[str, list[int]] = {}
        for i, peak in enumerate(peaks):
            groups.setdefault(peak.chrom, []).append(i)
        self.index = {chrom: _ChromPeaks(peaks, members) for chrom, members in groups.items()}
        self.closed = np.zeros(len(peaks), dtype=bool)
        self.open: dict[int, dict[str, _Lift]] = {}
        self.seen: set[str] = set()
        self.ref_chroms: set[str] = set()
        self.orthologs: dict[str, SpeciesOrthologs] = {}
        self.counts: dict[str, Counter] = {}
        self.n_reference_blocks = 0

    def add_block(self, rows: list[MafRow]) -> None:
        """Collect the fragments of the peaks overlapping one block; close peaks the block has moved past."""
        species = [row.species for row in rows]
        self.seen.update(species)
        if self.reference not in species:
            return
        ref_index = species.index(self.reference)
        ref = rows[ref_index]
        self.n_reference_blocks += 1
        self.ref_chroms.add(ref.chrom)
        index = self.index.get(ref.chrom)
        if index is None or ref.size == 0:
            return
        lo, hi = plus_interval(ref, 0, ref.size)
        for p in index.passed(lo):
            self._close(int(p))
        hits = index.overlapping(lo, hi)
        if hits.size == 0:
            return
        if self.closed[hits].any():
            name = self.peaks[int(hits[self.closed[hits]][0])].name
            raise InputError(
                f"alignment blocks are not sorted by {self.reference} position: this block "
                f"({ref.chrom}:{lo}-{hi}) overlaps peak {name}, which earlier blocks had passed; "
                "sort the MAF by reference position (e.g. UCSC mafSort, or hal2maf with --refGenome)",
                self.source, ref.line)
        offsets = _aligned_offsets(rows, ref_index)
        for p in hits:
            self._add_peak(rows, ref_index, offsets, int(p), lo, hi)

    def _add_peak(self, rows: list[MafRow], ref_index: int, offsets: np.ndarray, p: int, lo: int, hi: int) -> None:
        """Add one block's fragments of peak ``p`` (and its lifted summit, if the block holds it)."""
        peak, ref = self.peaks[p], rows[ref_index]
        a, b = _local_offsets(ref, peak.start, peak.end)
        window = offsets[:, a:b]
        last = window.max(axis=1)
        first = np.where(window >= 0, window, np.iinfo(np.int32).max).min(axis=1)
        at_summit = offsets[:, _local_offsets(ref, peak.summit, peak.summit + 1)[0]] if lo <= peak.summit < hi else None
        lifts = self.open.setdefault(p, {})
        for r in np.flatnonzero(last >= 0):
            row = rows[r]
            if row.species == self.reference:
                continue
            lift = lifts.get(row.species) or lifts.setdefault(row.species, _Lift())
            strand = "+" if row.strand == ref.strand else "-"
            start, end = plus_interval(row, int(first[r]), int(last[r]) + 1)
            lift.chrom.append(row.chrom)
            lift.strand.append(strand)
            lift.start.append(start)
            lift.end.append(end)
            if at_summit is not None and at_summit[r] >= 0 and lift.summit is None:
                offset = int(at_summit[r])
                lift.summit = Locus(row.chrom, strand, plus_interval(row, offset, offset + 1)[0])

    def _close(self, p: int) -> None:
        """Stitch peak ``p`` in every species that has fragments, and release them."""
        self.closed[p] = True
        for species, lift in self.open.pop(p, {}).items():
            counts = self.counts.setdefault(species, Counter())
            if lift.summit is None:
                counts["summit_unaligned"] += 1
                continue
            s = self.settings
            result = stitch(lift.fragments(), lift.summit, min_len=s.min_len, max_len=s.max_len,
                            protect_dist=s.protect_dist)
            counts["other_chrom"] += result.n_dropped > 0
            if result.reason is not None:
                counts[result.reason] += 1
                continue
            counts["mapped"] += 1
            table = self.orthologs.setdefault(species, SpeciesOrthologs())
            assert result.start is not None and result.end is not None  # accepted orthologs have a span
            table.add(lift.summit.chrom, result.start, result.end, p, lift.summit.pos, lift.summit.strand)

    def finish(self, extra_species: Iterable[str]) -> OrthologMap:
        """Close the remaining peaks, add the reference identity, and count ``no_alignment``."""
        for p in np.flatnonzero(~self.closed):
            self._close(int(p))
        identity = SpeciesOrthologs()
        for i, peak in enumerate(self.peaks):
            identity.add(peak.chrom, peak.start, peak.end, i, peak.summit, "+")
        self.orthologs[self.reference] = identity
        self.counts[self.reference] = Counter(mapped=len(self.peaks))
        species = sorted(set(self.seen) | set(extra_species) | {self.reference})
        for name in species:
            counts = self.counts.setdefault(name, Counter())
            self.orthologs.setdefault(name, SpeciesOrthologs())
            counts["no_alignment"] = len(self.peaks) - counts["mapped"] - sum(counts[r] for r in REASONS[1:])
        return OrthologMap(list(self.peaks), self.reference, species, self.orthologs, self.counts,
                           self.n_reference_blocks, self.ref_chroms)


def lift_peaks(blocks: Iterable[list[MafRow]], peaks: Sequence[Peak], reference: str,
               settings: OrthologSettings = OrthologSettings(), species: Iterable[str] = (),
               source: str | os.PathLike[str] | None = None) -> OrthologMap:
    """Map reference peaks to every species through alignment blocks, in one pass over ``blocks``.

    Parameters
    ----------
    blocks
        Alignment blocks in file order (see :func:`tacit.maf.read_maf`). Only the first row of the
        reference species in a block anchors it; blocks without a reference row are skipped.
    peaks
        Reference peaks with unique names, any order.
    reference
        Reference species name, as before the first dot of MAF source names.
    settings
        Stitching limits, see :func:`stitch`.
    species
        Species to report besides those of the MAF (they get no orthologs unless the MAF has them).
    source
        The MAF path, for error messages.

    Returns
    -------
    OrthologMap
        Per species, one outcome per peak: ``mapped``; ``no_alignment`` (no base of the peak aligned);
        ``summit_unaligned`` (the summit base is a gap in the species or in no block; with several rows
        of the species at the summit, the first row in the block is used); or a :func:`stitch` rejection.

    Raises
    ------
    InputError
        A block overlaps a peak that earlier blocks had already moved past (MAF not sorted by reference
        position on that sequence).
    """
    mapper = _Mapper(peaks, reference, settings, source)
    started = time.monotonic()
    for n, block in enumerate(blocks, start=1):
        mapper.add_block(block)
        if n % PROGRESS_BLOCKS == 0:  # periodic counts, so `tail -f` of a job log tells where it is
            log.info("%d alignment blocks read, %d of %d peaks done (%.0f s)", n, int(mapper.closed.sum()),
                     len(peaks), time.monotonic() - started)
    return mapper.finish(species)


def check_species_name(name: str, path: object = None, line: int | None = None) -> str:
    """Species names become file names: no whitespace, slashes, or bare dots."""
    if not name or name in (".", "..") or _UNSAFE_NAME.search(name):
        raise InputError(f"species name {name!r} cannot be used as a file name", path, line)
    return name


def read_species_list(path: str | os.PathLike[str]) -> list[str]:
    """Species names, one per line; blank lines and ``#`` comments are skipped, surrounding spaces removed."""
    names: list[str] = []
    with open_text(path) as handle:
        for number, line in enumerate(handle, start=1):
            name = line.strip()
            if name and not name.startswith("#"):
                names.append(check_species_name(name, path, number))
    return names


def write_orthologs(result: OrthologMap, out_dir: str | os.PathLike[str], qc_name: str = "qc.tsv") -> None:
    """Write ``{species}.narrowPeak`` for every species and ``qc.tsv`` into ``out_dir`` (atomically).

    narrowPeak columns: chrom, start, end, name (reference OCR), score 0, strand, signal -1, p -1, q -1,
    summit offset from start. Rows sorted by chrom, start, name. Species without orthologs get an empty
    file. ``qc.tsv`` has a header (:data:`QC_COLUMNS`) and one row per species, sorted by name.
    """
    out = Path(out_dir)
    names = [peak.name for peak in result.peaks]
    for species in result.species:
        path = out / f"{check_species_name(species)}.narrowPeak"
        write_ortholog_peaks(result.orthologs[species].to_peaks(names), path)
    write_qc(result.qc_rows(), out / qc_name)


def write_ortholog_peaks(peaks: Iterable[Peak], path: str | os.PathLike[str]) -> None:
    """The ortholog file format every alignment path ends in (atomically), in the order given.

    narrowPeak columns: chrom, start, end, name (reference OCR), score 0, strand, signal -1, p -1, q -1,
    summit offset from start.
    """
    with atomic_writer(path) as handle:
        handle.writelines(f"{p.chrom}\t{p.start}\t{p.end}\t{p.name}\t0\t{p.strand}\t-1\t-1\t-1\t{p.summit_offset}\n"
                          for p in peaks)


def map_orthologs(maf: str | os.PathLike[str], peaks: Sequence[Peak], reference: str, out_dir: str | os.PathLike[str],
                  species: Iterable[str] = (), settings: OrthologSettings = OrthologSettings(),
                  only: Iterable[str] | None = None, qc_name: str = "qc.tsv") -> OrthologMap:
    """Map ``peaks`` through the MAF file and write the per-species narrowPeak files and ``qc.tsv``.

    With ``only``, rows of other species are skipped while reading and only these species are written (one
    of several jobs that split the species; their files and QC rows are those of a single run).

    Raises
    ------
    InputError
        The MAF has no block with a row of ``reference`` (wrong name?), or any error of
        :func:`tacit.maf.read_maf` and :func:`lift_peaks`.
    """
    blocks = read_maf(maf)
    keep = None if only is None else set(only)
    if keep is not None:
        species = [name for name in species if name in keep]
        blocks = ([row for row in rows if row.species in keep or row.species == reference] for rows in blocks)
    result = lift_peaks(blocks, peaks, reference, settings, species, source=maf)
    if result.n_reference_blocks == 0:
        others = ", ".join(name for name in result.species if name != reference)
        raise InputError(f"no alignment block has a row of reference species {reference!r} "
                         f"(species seen: {others or 'none'})", maf)
    missing = {peak.chrom for peak in peaks} - result.reference_chroms
    if missing:
        log.warning("%d reference sequence(s) with peaks are in no block of %s, e.g. %s: their peaks have no orthologs",
                    len(missing), maf, min(missing))
    if keep is not None:
        names = [name for name in result.species if name in keep]
        result = OrthologMap(result.peaks, result.reference, names, result.orthologs, result.counts,
                             result.n_reference_blocks, result.reference_chroms)
    write_orthologs(result, out_dir, qc_name)
    return result


def write_self_orthologs(peaks: Sequence[Peak], species: str, out: str | os.PathLike[str],
                         qc: str | os.PathLike[str]) -> None:
    """The reference species' own orthologs (its peaks) in the ortholog format, and its one-row QC table.

    Used with chain and HAL alignments, which map from the reference to the other species only.
    """
    ordered = sorted(peaks, key=lambda p: (p.chrom, p.start, p.name))
    write_ortholog_peaks((replace(p, strand="+") for p in ordered), out)
    lengths = np.array([p.end - p.start for p in peaks])
    write_qc([qc_row(check_species_name(species), len(peaks), {"mapped": len(peaks)}, lengths)], qc)


def write_liftover_inputs(peaks: Sequence[Peak], peaks_bed: str | os.PathLike[str],
                          summits_bed: str | os.PathLike[str]) -> None:
    """BED4 files of the peaks and of their summits (1 bp), as halLiftover and HALPER take them."""
    with atomic_writer(peaks_bed) as handle:
        for p in peaks:
            handle.write(f"{p.chrom}\t{p.start}\t{p.end}\t{p.name}\n")
    with atomic_writer(summits_bed) as handle:
        for p in peaks:
            summit = p.summit
            handle.write(f"{p.chrom}\t{summit}\t{summit + 1}\t{p.name}\n")
