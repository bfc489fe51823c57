"""Reading genomic intervals: narrowPeak files (OCRs with summits) and plain BED intervals.

Coordinates are 0-based and half-open throughout, as in BED. Lines starting with ``#``, ``track`` or
``browser`` and blank lines are skipped. Fields are tab-separated; a line without any tab is split on
runs of whitespace (some BED files use spaces).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Iterator

from .errors import InputError
from .io import open_text

NARROWPEAK_COLUMNS = 10
STRANDS = ("+", "-", ".")


@dataclass(frozen=True, slots=True)
class Interval:
    """A named interval: ``chrom:start-end``, 0-based half-open, in bp."""

    chrom: str
    start: int
    end: int
    name: str

    @property
    def length(self) -> int:
        """Length in bp (``end - start``)."""
        return self.end - self.start


@dataclass(frozen=True, slots=True)
class Peak(Interval):
    """A peak with its summit.

    Attributes
    ----------
    summit
        Absolute 0-based position of the summit base (``start <= summit < end``), not the offset.
    strand
        ``+``, ``-`` or ``.`` (column 6 of narrowPeak). Reference OCRs usually have ``.``; orthologs carry
        the strand of the alignment.
    """

    summit: int
    strand: str = "."

    @property
    def summit_offset(self) -> int:
        """Summit position relative to ``start`` (narrowPeak column 10)."""
        return self.summit - self.start


def _data_lines(path: str | os.PathLike[str]) -> Iterator[tuple[int, list[str]]]:
    """Yield ``(1-based line number, fields)`` for every data line of a BED-like file."""
    with open_text(path) as handle:
        for number, line in enumerate(handle, start=1):
            line = line.rstrip("\r\n")
            if not line.strip() or line.startswith(("#", "track", "browser")):
                continue
            yield number, (line.split("\t") if "\t" in line else line.split())


def _coords(fields: list[str], path: object, number: int) -> tuple[str, int, int]:
    """Parse and check chrom, start, end (``0 <= start < end``)."""
    chrom = fields[0]
    if not chrom:
        raise InputError("empty chromosome name in column 1", path, number)
    try:
        start, end = int(fields[1]), int(fields[2])
    except ValueError:
        raise InputError(f"start and end must be integers, got {fields[1]!r} and {fields[2]!r}", path, number) from None
    if start < 0 or start >= end:
        raise InputError(f"need 0 <= start < end, got start={start} end={end}", path, number)
    return chrom, start, end


def read_narrowpeak(path: str | os.PathLike[str]) -> list[Peak]:
    """Read a narrowPeak file (plain or gzip) into peaks, in file order.

    The ten columns are chrom, start, end, name, score, strand, signal, p, q and the summit offset from
    ``start``. Score, signal, p and q are not read (nor checked).

    Parameters
    ----------
    path
        narrowPeak file, 0-based half-open coordinates.

    Returns
    -------
    list of Peak
        One per data line, with the summit made absolute (``start + offset``).

    Raises
    ------
    InputError
        Naming the file and line: a column count other than 10, non-integer coordinates or summit,
        ``start < 0`` or ``start >= end``, a summit offset outside ``[0, end - start)`` (including the
        ``-1`` "no summit" of the format: TACIT centres sequences on summits), a strand other than
        ``+ - .``, or a name already used on an earlier line.
    """
    peaks: list[Peak] = []
    seen: dict[str, int] = {}
    for number, fields in _data_lines(path):
        if len(fields) != NARROWPEAK_COLUMNS:
            raise InputError(f"narrowPeak needs {NARROWPEAK_COLUMNS} columns, found {len(fields)}", path, number)
        chrom, start, end = _coords(fields, path, number)
        name, strand = fields[3], fields[5]
        try:
            offset = int(fields[9])
        except ValueError:
            raise InputError(f"summit offset (column 10) must be an integer, got {fields[9]!r}", path, number) from None
        if not 0 <= offset < end - start:
            raise InputError(
                f"summit offset {offset} outside [0, {end - start}) for a peak of {end - start} bp "
                "(column 10 is relative to start; -1 'no summit' is not supported)",
                path,
                number,
            )
        if strand not in STRANDS:
            raise InputError(f"strand (column 6) must be one of + - ., got {strand!r}", path, number)
        if name in seen:
            raise InputError(f"duplicate peak name {name!r} (first on line {seen[name]}); names must be unique",
                             path, number)
        seen[name] = number
        peaks.append(Peak(chrom, start, end, name, start + offset, strand))
    return peaks


def read_bed(path: str | os.PathLike[str]) -> list[Interval]:
    """Read a BED file (plain or gzip) with at least 3 columns into intervals, in file order.

    Columns beyond the 4th are ignored. A missing name (3 columns, or ``.``) becomes ``chrom:start-end``.
    Names are not required to be unique.

    Raises
    ------
    InputError
        Naming the file and line: fewer than 3 columns, non-integer coordinates, ``start < 0`` or
        ``start >= end``.
    """
    intervals: list[Interval] = []
    for number, fields in _data_lines(path):
        if len(fields) < 3:
            raise InputError(f"BED needs at least 3 columns, found {len(fields)}", path, number)
        chrom, start, end = _coords(fields, path, number)
        name = fields[3] if len(fields) > 3 and fields[3] not in ("", ".") else f"{chrom}:{start}-{end}"
        intervals.append(Interval(chrom, start, end, name))
    return intervals
