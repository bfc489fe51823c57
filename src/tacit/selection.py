"""Selecting reference OCRs before mapping: optional filters on chromosome, score, width, TSS distance and exons.

Every filter is off by default; with all of them off the selected file is a byte copy of the input. A peak
that fails several filters is counted once, under the first failing filter in :data:`REASONS` order:

``nonstandard_chrom``
    The chromosome name does not fully match ``chrom_pattern`` (default :data:`STANDARD_CHROM_PATTERN`:
    ``chr1``, ``chr2``, ... or ``1``, ``2``, ..., and X, Y, W, Z). Unplaced and alternative sequences
    (``chrUn_*``, ``*_random``, ``*_alt``, ``*_fix``, ``GL000...``) and the mitochondrion (``chrM``, ``MT``)
    are dropped: they have no reliable orthologs, and ATAC-seq peaks on chrM are artefacts.
``low_score``
    The value in ``score_column`` (narrowPeak column 5 ``score`` by default; or ``signalValue``, ``pValue``,
    ``qValue``, columns 7-9) is below ``min_score``.
``too_wide``
    ``end - start > max_width`` (bp).
``near_tss``
    Fewer than ``min_tss_distance`` bp between the peak and the nearest TSS of the annotation: the distance
    is ``max(start - t, t - (end - 1), 0)`` for a TSS base ``t`` (0 when the TSS is inside the peak, 1 when
    it is the base just outside). The whole peak counts, not only its summit, so a wide peak reaching a
    promoter is dropped.
``exon_overlap``
    The peak shares at least one base with an exon (half-open intervals: ``[s, e)`` and ``[a, b)`` overlap
    when ``a < e`` and ``s < b``; an exon ending at the peak start does not overlap).

Annotations (plain or gzip) are GTF or BED, told apart by the file name (``.gtf``/``.bed``, optionally
``.gz``). In a GTF, TSSs are the starts of ``transcript`` features on their strand (``start`` on ``+``,
``end`` on ``-``); a GTF without ``transcript`` lines gets them from the exons of each ``transcript_id``.
Exons are the ``exon`` features. In a BED (6 or more columns, strand in column 6), each line is a transcript
(or a 1-bp TSS): its TSS is ``start`` on ``+`` and ``end - 1`` on ``-``; BED12 blocks are its exons. A
transcript on strand ``.`` (or ``?``) has an unknown TSS, so both of its ends count. A separate exon BED
(3 or more columns, each line an exon) replaces the annotation's exons when given.
"""

from __future__ import annotations

import logging
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np

from .errors import InputError
from .io import atomic_writer, open_text
from .peaks import Peak, _coords, _data_lines, read_narrowpeak

log = logging.getLogger(__name__)

REASONS = ("nonstandard_chrom", "low_score", "too_wide", "near_tss", "exon_overlap")
STANDARD_CHROM_PATTERN = r"(chr)?([1-9][0-9]*|X|Y|W|Z)"
SCORE_COLUMNS = {"score": 5, "signalValue": 7, "pValue": 8, "qValue": 9}  # 1-based narrowPeak columns
COUNT_COLUMNS = ("reason", "count")
_TRANSCRIPT_ID = re.compile(r'transcript_id "([^"]*)"')
_STRANDS = {"+": 0, "-": 1, ".": 2, "?": 2}  # 2 = unknown: both ends of the transcript count as TSSs


@dataclass(frozen=True)
class SelectionSettings:
    """Which filters run, and their thresholds; ``None``, ``False`` or 0 switches a filter off.

    Attributes
    ----------
    max_width
        Peaks wider than this (bp) are dropped.
    min_score
        Peaks whose ``score_column`` is below this are dropped.
    score_column
        ``score`` (column 5), ``signalValue`` (7), ``pValue`` (8) or ``qValue`` (9) of the narrowPeak.
    standard_chroms
        Drop peaks on chromosomes that do not fully match ``chrom_pattern`` (a Python regular expression).
    chrom_pattern
        The standard chromosome names.
    min_tss_distance
        Peaks closer than this (bp) to a TSS are dropped; needs an annotation.
    no_exon_overlap
        Peaks overlapping an exon are dropped; needs an annotation with exons or an exon BED.
    """

    max_width: int | None = None
    min_score: float | None = None
    score_column: str = "score"
    standard_chroms: bool = False
    chrom_pattern: str = STANDARD_CHROM_PATTERN
    min_tss_distance: int = 0
    no_exon_overlap: bool = False

    def __post_init__(self) -> None:
        if self.max_width is not None and self.max_width < 1:
            raise InputError(f"max_width must be >= 1 bp, got {self.max_width}")
        if self.min_tss_distance < 0:
            raise InputError(f"min_tss_distance must be >= 0 bp, got {self.min_tss_distance}")
        if self.score_column not in SCORE_COLUMNS:
            raise InputError(f"score_column must be one of {', '.join(SCORE_COLUMNS)}, got {self.score_column!r}")
        try:
            re.compile(self.chrom_pattern)
        except re.error as err:
            raise InputError(f"chrom_pattern {self.chrom_pattern!r} is not a regular expression ({err})") from None

    @property
    def needs_annotation(self) -> bool:
        """True when the TSS or exon filter is on."""
        return self.min_tss_distance > 0 or self.no_exon_overlap


@dataclass
class Annotation:
    """Per chromosome: sorted TSS positions and exons merged into sorted, disjoint intervals.

    Attributes
    ----------
    tss
        Chromosome -> sorted unique 0-based TSS base positions (int64).
    exons
        Chromosome -> ``(starts, ends)``, int64 arrays of disjoint half-open intervals sorted by start
        (overlapping or touching exons merged, which does not change which peaks overlap an exon).
    source
        The file(s) read, for messages.
    """

    tss: dict[str, np.ndarray] = field(default_factory=dict)
    exons: dict[str, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)
    source: str = ""


class _Builder:
    """Collects TSS positions and exons per chromosome, then sorts and merges them once."""

    def __init__(self) -> None:
        self.tss: dict[str, list[int]] = {}
        self.exon_starts: dict[str, list[int]] = {}
        self.exon_ends: dict[str, list[int]] = {}

    def add_transcript(self, chrom: str, start: int, end: int, strand: int) -> None:
        tss = self.tss.setdefault(chrom, [])
        if strand != 1:
            tss.append(start)
        if strand != 0:
            tss.append(end - 1)

    def add_exon(self, chrom: str, start: int, end: int) -> None:
        self.exon_starts.setdefault(chrom, []).append(start)
        self.exon_ends.setdefault(chrom, []).append(end)

    def build(self, with_exons: bool = True) -> Annotation:
        tss = {chrom: np.unique(np.asarray(pos, dtype=np.int64)) for chrom, pos in self.tss.items()}
        exons = {}
        if with_exons:
            exons = {chrom: merge_intervals(np.asarray(starts, dtype=np.int64),
                                            np.asarray(self.exon_ends[chrom], dtype=np.int64))
                     for chrom, starts in self.exon_starts.items()}
        return Annotation(tss, exons)


def merge_intervals(starts: np.ndarray, ends: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Merge half-open intervals into disjoint ones sorted by start; touching intervals are joined.

    Returns
    -------
    tuple of numpy.ndarray
        ``(starts, ends)`` of the merged intervals, both increasing.
    """
    if len(starts) == 0:
        return starts.astype(np.int64), ends.astype(np.int64)
    order = np.argsort(starts, kind="stable")
    starts, ends = starts[order], ends[order]
    reach = np.maximum.accumulate(ends)
    first = np.ones(len(starts), dtype=bool)
    first[1:] = starts[1:] > reach[:-1]
    heads = np.flatnonzero(first)
    return starts[heads], np.maximum.reduceat(ends, heads)


def read_gtf(path: str | os.PathLike[str], with_exons: bool = True) -> Annotation:
    """TSSs (from ``transcript`` features) and exons (``exon`` features) of a GTF, plain or gzip.

    GTF coordinates are 1-based and inclusive: a feature ``start..end`` is ``[start - 1, end)`` here. Lines
    of other features (``gene``, ``CDS``, UTRs, codons) are not read beyond their column count. A GTF
    without any ``transcript`` line gets one TSS per ``transcript_id`` from its exons (first exon base on
    ``+``, last on ``-``).

    Raises
    ------
    InputError
        Naming the file and line: fewer than 9 tab-separated columns, a non-integer start or end, start < 1
        or start > end, or a strand other than ``+ - . ?`` on a transcript or exon line; or, without
        transcript lines, an exon without ``transcript_id``.
    """
    builder = _Builder()
    by_id: dict[str, list] = {}  # transcript_id -> [chrom, strand, start, end], while no transcript is seen
    missing_id: int | None = None
    have_transcripts = False
    with open_text(path) as handle:
        for number, line in enumerate(handle, start=1):
            if line[0] == "#":
                continue
            fields = line.split("\t", 8)
            if len(fields) < 9:
                if not line.strip() or line.startswith(("track", "browser")):
                    continue
                raise InputError(f"GTF needs 9 tab-separated columns, found {len(fields)}", path, number)
            feature = fields[2]
            if feature != "exon" and feature != "transcript":
                continue
            chrom, start, end, strand = _gtf_feature(fields, path, number)
            if feature == "transcript":
                have_transcripts = True
                builder.add_transcript(chrom, start, end, strand)
                continue
            if with_exons:
                builder.add_exon(chrom, start, end)
            if not have_transcripts:
                match = _TRANSCRIPT_ID.search(fields[8])
                if match is None:
                    missing_id = missing_id or number
                    continue
                entry = by_id.setdefault(match.group(1), [chrom, strand, start, end])
                entry[2], entry[3] = min(entry[2], start), max(entry[3], end)
    if not have_transcripts:
        if missing_id is not None:
            raise InputError("exon without transcript_id in a GTF without transcript lines (TSSs come from the "
                             "exons of each transcript_id)", path, missing_id)
        for chrom, strand, start, end in by_id.values():
            builder.add_transcript(chrom, start, end, strand)
    return builder.build(with_exons)


def _gtf_feature(fields: list[str], path: object, number: int) -> tuple[str, int, int, int]:
    """Chrom, 0-based start, end and strand code of a GTF transcript or exon line."""
    try:
        start, end = int(fields[3]), int(fields[4])
    except ValueError:
        raise InputError(f"GTF start and end (columns 4, 5) must be integers, got {fields[3]!r} and "
                         f"{fields[4]!r}", path, number) from None
    if start < 1 or start > end:
        raise InputError(f"GTF needs 1 <= start <= end (1-based, inclusive), got start={start} end={end}",
                         path, number)
    strand = _STRANDS.get(fields[6])
    if strand is None:
        raise InputError(f"GTF strand (column 7) must be one of + - . ?, got {fields[6]!r}", path, number)
    if not fields[0]:
        raise InputError("empty sequence name in column 1", path, number)
    return fields[0], start - 1, end, strand


def read_bed_annotation(path: str | os.PathLike[str], with_exons: bool = True) -> tuple[Annotation, bool]:
    """TSSs and exons of a BED of transcripts (6 or more columns; BED12 blocks are exons), plain or gzip.

    Returns
    -------
    annotation, has_blocks
        ``has_blocks`` is False when no line has the 12 columns that carry exons.

    Raises
    ------
    InputError
        Naming the file and line: fewer than 6 columns, bad coordinates, a strand other than ``+ - . ?``,
        or blocks (columns 10-12) that are not integers, disagree with the block count, or leave the line's
        interval.
    """
    builder = _Builder()
    has_blocks = False
    for number, fields in _data_lines(path):
        if len(fields) < 6:
            raise InputError(f"a BED annotation needs at least 6 columns (strand in column 6), found {len(fields)}",
                             path, number)
        chrom, start, end = _coords(fields, path, number)
        strand = _STRANDS.get(fields[5])
        if strand is None:
            raise InputError(f"BED strand (column 6) must be one of + - . ?, got {fields[5]!r}", path, number)
        builder.add_transcript(chrom, start, end, strand)
        if len(fields) >= 12 and with_exons:
            has_blocks = True
            for block_start, block_end in _bed_blocks(fields, start, end, path, number):
                builder.add_exon(chrom, block_start, block_end)
    return builder.build(with_exons), has_blocks


def _bed_blocks(fields: list[str], start: int, end: int, path: object, number: int) -> list[tuple[int, int]]:
    """The exons of a BED12 line as absolute half-open intervals."""
    try:
        count = int(fields[9])
        sizes = [int(x) for x in fields[10].rstrip(",").split(",")] if count else []
        offsets = [int(x) for x in fields[11].rstrip(",").split(",")] if count else []
    except ValueError:
        raise InputError("BED12 blockCount, blockSizes and blockStarts (columns 10-12) must be integers",
                         path, number) from None
    if not count == len(sizes) == len(offsets):
        raise InputError(f"BED12 blockCount {count} disagrees with {len(sizes)} sizes and {len(offsets)} starts",
                         path, number)
    blocks = [(start + offset, start + offset + size) for offset, size in zip(offsets, sizes)]
    for block_start, block_end in blocks:
        if not start <= block_start < block_end <= end:
            raise InputError(f"BED12 block [{block_start}, {block_end}) is empty or outside the line's "
                             f"[{start}, {end})", path, number)
    return blocks


def read_exon_bed(path: str | os.PathLike[str]) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Exons from a BED (3 or more columns, one exon per line), merged per chromosome.

    Raises
    ------
    InputError
        Naming the file and line: fewer than 3 columns or bad coordinates.
    """
    builder = _Builder()
    for number, fields in _data_lines(path):
        if len(fields) < 3:
            raise InputError(f"BED needs at least 3 columns, found {len(fields)}", path, number)
        builder.add_exon(*_coords(fields, path, number))
    return builder.build().exons


def read_annotation(settings: SelectionSettings, annotation: str | os.PathLike[str] | None = None,
                    exons: str | os.PathLike[str] | None = None) -> Annotation | None:
    """The annotation the TSS and exon filters need; ``None`` when both are off.

    Exons come from ``exons`` when it is given, else from ``annotation``.

    Raises
    ------
    InputError
        A filter that needs a file that was not given, an annotation whose name ends in neither ``.gtf``
        nor ``.bed`` (optionally ``.gz``), a BED annotation without exon blocks for the exon filter, or a
        malformed line (see :func:`read_gtf`, :func:`read_bed_annotation`, :func:`read_exon_bed`).
    """
    if not settings.needs_annotation:
        return None
    if settings.min_tss_distance > 0 and annotation is None:
        raise InputError("the TSS-distance filter needs an annotation (GTF or BED of transcripts)")
    if settings.no_exon_overlap and annotation is None and exons is None:
        raise InputError("the exon filter needs an annotation (GTF or BED12) or an exon BED")
    result = Annotation()
    exons_from_annotation = settings.no_exon_overlap and exons is None
    if annotation is not None and (settings.min_tss_distance > 0 or exons_from_annotation):
        kind = _annotation_kind(annotation)
        if kind == "gtf":
            result = read_gtf(annotation, with_exons=exons_from_annotation)
        else:
            result, has_blocks = read_bed_annotation(annotation, with_exons=exons_from_annotation)
            if exons_from_annotation and not has_blocks:
                raise InputError("a BED annotation needs 12 columns (blocks = exons) for the exon filter; give "
                                 "an exon BED as well", annotation)
    if settings.no_exon_overlap and exons is not None:
        result.exons = read_exon_bed(exons)
    result.source = ", ".join(str(path) for path in (annotation, exons) if path is not None)
    return result


def _annotation_kind(path: str | os.PathLike[str]) -> str:
    name = Path(path).name.lower().removesuffix(".gz")
    for kind in ("gtf", "bed"):
        if name.endswith("." + kind):
            return kind
    raise InputError("annotation must be a GTF (.gtf) or a BED (.bed), optionally gzipped (.gz)", path)


def tss_distance(annotation: Annotation, chroms: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """Distance in bp from each peak ``[start, end)`` to its nearest TSS; ``inf`` with no TSS on the chromosome.

    The distance to a TSS base ``t`` is ``max(start - t, t - (end - 1), 0)``.

    Returns
    -------
    numpy.ndarray
        float64, one per peak, in input order.
    """
    distance = np.full(len(chroms), np.inf)
    for chrom, index in _by_chrom(chroms):
        tss = annotation.tss.get(chrom)
        if tss is None or len(tss) == 0:
            continue
        s, last = starts[index], ends[index] - 1
        right = np.searchsorted(tss, s, side="left")  # first TSS at or after the peak start
        after = np.where(right < len(tss), tss[np.minimum(right, len(tss) - 1)] - last, np.inf)
        before = np.where(right > 0, s - tss[np.maximum(right - 1, 0)], np.inf)
        distance[index] = np.minimum(np.maximum(after, 0), before)
    return distance


def overlaps_exon(annotation: Annotation, chroms: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """True for each peak ``[start, end)`` sharing at least one base with an exon of the annotation."""
    hit = np.zeros(len(chroms), dtype=bool)
    for chrom, index in _by_chrom(chroms):
        if chrom not in annotation.exons:
            continue
        exon_starts, exon_ends = annotation.exons[chrom]
        last = np.searchsorted(exon_starts, ends[index], side="left") - 1  # last exon starting before the end
        hit[index] = (last >= 0) & (exon_ends[np.maximum(last, 0)] > starts[index])
    return hit


def _by_chrom(chroms: np.ndarray) -> list[tuple[str, np.ndarray]]:
    """``(chromosome, indices of its peaks)`` for every chromosome, without a pass per chromosome."""
    ids: dict[str, int] = {}  # hashing the names beats sorting them (np.unique on strings)
    code = np.fromiter((ids.setdefault(chrom, len(ids)) for chrom in chroms), dtype=np.int64, count=len(chroms))
    order = np.argsort(code, kind="stable")
    bounds = np.searchsorted(code[order], np.arange(len(ids) + 1))
    return [(name, order[bounds[i]:bounds[i + 1]]) for name, i in ids.items()]


def drop_reasons(peaks: Sequence[Peak], settings: SelectionSettings, scores: np.ndarray | None = None,
                 annotation: Annotation | None = None) -> np.ndarray:
    """The first failing filter of each peak, as an index into :data:`REASONS` plus one (0 = kept).

    Parameters
    ----------
    peaks
        Reference OCRs.
    settings
        The filters.
    scores
        One value per peak from ``settings.score_column``; needed when ``min_score`` is set.
    annotation
        TSSs and exons; needed when the TSS or exon filter is on.

    Returns
    -------
    numpy.ndarray
        int8, one per peak, in input order.

    Raises
    ------
    InputError
        No chromosome of the peaks left for the TSS and exon filters is in the annotation (the names differ,
        ``chr1`` against ``1``). Peaks on chromosomes absent from the annotation pass those filters, with a
        warning.
    """
    chroms = np.array([p.chrom for p in peaks], dtype=object)
    starts = np.fromiter((p.start for p in peaks), dtype=np.int64, count=len(peaks))
    ends = np.fromiter((p.end for p in peaks), dtype=np.int64, count=len(peaks))
    code = np.zeros(len(peaks), dtype=np.int8)

    def fail(reason: str, failed: np.ndarray) -> None:
        code[(code == 0) & failed] = REASONS.index(reason) + 1

    if settings.standard_chroms:
        pattern = re.compile(settings.chrom_pattern)
        standard = {chrom: bool(pattern.fullmatch(chrom)) for chrom in set(chroms)}
        fail("nonstandard_chrom", np.array([not standard[c] for c in chroms], dtype=bool))
    if settings.min_score is not None:
        if scores is None:
            raise ValueError("min_score is set but no scores were given")
        fail("low_score", scores < settings.min_score)
    if settings.max_width is not None:
        fail("too_wide", ends - starts > settings.max_width)
    if settings.needs_annotation:
        if annotation is None:
            raise ValueError("the TSS or exon filter is on but no annotation was given")
        _check_chrom_names(chroms[code == 0], annotation)
        if settings.min_tss_distance > 0:
            fail("near_tss", tss_distance(annotation, chroms, starts, ends) < settings.min_tss_distance)
        if settings.no_exon_overlap:
            fail("exon_overlap", overlaps_exon(annotation, chroms, starts, ends))
    return code


def _check_chrom_names(chroms: np.ndarray, annotation: Annotation) -> None:
    """Warn about peak chromosomes absent from the annotation; fail when none is present."""
    known = set(annotation.tss) | set(annotation.exons)
    if not known:
        raise InputError("the annotation has no transcripts or exons", annotation.source)
    names = set(chroms)
    absent = names - known
    if names and absent == names:
        raise InputError(f"no chromosome of the peaks is in the annotation (peaks: e.g. {min(absent)!r}, "
                         f"annotation: e.g. {min(known)!r}); the names must match", annotation.source)
    if absent:
        n = sum(chrom in absent for chrom in chroms)
        log.warning("%d peaks on %d chromosomes absent from the annotation (e.g. %s) pass the TSS and exon "
                    "filters", n, len(absent), min(absent))


def count_reasons(code: np.ndarray) -> dict[str, int]:
    """``peaks`` (input), one count per reason in :data:`REASONS` order, then ``kept``."""
    tally = np.bincount(code, minlength=len(REASONS) + 1)
    return {"peaks": len(code), **{r: int(tally[i + 1]) for i, r in enumerate(REASONS)}, "kept": int(tally[0])}


@dataclass
class PeakLines:
    """A narrowPeak file as read: its peaks, every line verbatim, and which lines are peaks.

    Attributes
    ----------
    peaks
        The peaks, in file order.
    lines
        Every line of the file with its line ending, comments, ``track`` lines and blank lines included.
    peak_line
        Index into ``lines`` of each peak.
    """

    peaks: list[Peak]
    lines: list[str]
    peak_line: list[int]


def read_peak_lines(path: str | os.PathLike[str]) -> PeakLines:
    """Read a narrowPeak (checked as :func:`tacit.peaks.read_narrowpeak` does) keeping its lines verbatim."""
    peaks = read_narrowpeak(path)
    with open_text(path) as handle:
        lines = handle.readlines()
    peak_line = [number - 1 for number, _ in _data_lines(path)]
    return PeakLines(peaks, lines, peak_line)


def peak_scores(table: PeakLines, column: str, path: object) -> np.ndarray:
    """The values of narrowPeak column ``column`` (a key of :data:`SCORE_COLUMNS`), one per peak.

    Raises
    ------
    InputError
        Naming the file and line: a value that is not a finite number, or -1 ("not given" in the narrowPeak
        format) in signalValue, pValue or qValue.
    """
    col = SCORE_COLUMNS[column]
    values = np.empty(len(table.peaks))
    for i, index in enumerate(table.peak_line):
        line = table.lines[index].rstrip("\r\n")
        text = (line.split("\t") if "\t" in line else line.split())[col - 1]
        try:
            values[i] = float(text)
        except ValueError:
            values[i] = np.nan
        if not np.isfinite(values[i]):
            raise InputError(f"{column} (column {col}) must be a finite number, got {text!r}", path, index + 1)
        if col > 5 and values[i] == -1:
            raise InputError(f"{column} (column {col}) is -1, 'not given' in narrowPeak: cannot filter on it; "
                             "choose another score column", path, index + 1)
    return values


def select_ocrs(peaks: str | os.PathLike[str], out: str | os.PathLike[str], settings: SelectionSettings,
                annotation: str | os.PathLike[str] | None = None, exons: str | os.PathLike[str] | None = None,
                report: str | os.PathLike[str] | None = None) -> dict[str, int]:
    """Write the peaks that pass every filter, as their input lines, in input order; return the counts.

    Comment, ``track``, ``browser`` and blank lines are copied, so with every filter off ``out`` is a byte
    copy of ``peaks`` (uncompressed). Nothing is written when an input is bad (see :func:`drop_reasons`
    for chromosome names absent from the annotation).

    Parameters
    ----------
    peaks
        Reference OCRs (narrowPeak, plain or gzip).
    out
        Selected OCRs (narrowPeak; ``.gz`` for gzip).
    settings
        The filters.
    annotation, exons
        GTF or BED of transcripts; BED of exons (see :func:`read_annotation`).
    report
        Optional TSV ``reason, count``: the rows of :func:`count_reasons`.

    Returns
    -------
    dict
        The counts of :func:`count_reasons`.
    """
    table = read_peak_lines(peaks)
    scores = peak_scores(table, settings.score_column, peaks) if settings.min_score is not None else None
    genes = read_annotation(settings, annotation, exons)
    code = drop_reasons(table.peaks, settings, scores, genes)
    counts = count_reasons(code)
    dropped = {table.peak_line[i] for i in np.flatnonzero(code)}
    with atomic_writer(out) as handle:
        handle.writelines(line for i, line in enumerate(table.lines) if i not in dropped)
        if report is not None:
            write_counts(counts, report)
    return counts


def write_counts(counts: Mapping[str, int], path: str | os.PathLike[str]) -> None:
    """Write the selection counts as a two-column TSV (``reason``, ``count``), atomically."""
    with atomic_writer(path) as handle:
        handle.write("\t".join(COUNT_COLUMNS) + "\n")
        handle.writelines(f"{reason}\t{n}\n" for reason, n in counts.items())
