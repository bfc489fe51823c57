"""Streaming reader for UCSC Multiple Alignment Format (MAF), plain or gzip/bgzip.

Only ``a`` (block start) and ``s`` (aligned sequence) lines carry what TACIT needs. ``i``, ``e`` and
``q`` lines, ``#`` comments (including the ``##maf`` header), ``track`` lines and lines of other letters
are skipped. A block ends at a blank (or whitespace-only) line, at the next ``a`` line or at the end of
the file.

MAF coordinates are 0-based. On ``-`` rows, ``start`` counts from the end of the source sequence (the
row is the reverse complement); :func:`plus_interval` converts to forward-strand coordinates.
"""

from __future__ import annotations

import os
from typing import Iterator, NamedTuple

from .errors import InputError
from .io import open_text

S_FIELDS = 7
_new_row = tuple.__new__


class MafRow(NamedTuple):
    """One ``s`` line.

    Attributes
    ----------
    species
        Source name up to its first dot (``otoGar1`` in ``otoGar1.scaffold_334.1-359464``); the whole name
        when it has no dot.
    chrom
        Source name after the first dot (may contain dots); the whole name when it has no dot.
    start
        0-based start on ``strand`` (on ``-``, counted from the end of the source sequence).
    size
        Number of bases (non-gap characters) in ``text``.
    strand
        ``+`` or ``-``.
    src_size
        Length of the whole source sequence in bp.
    text
        The aligned text, ``-`` for gaps; all rows of a block have the same length.
    line
        1-based line number of the ``s`` line in its file.
    """

    species: str
    chrom: str
    start: int
    size: int
    strand: str
    src_size: int
    text: str
    line: int


def plus_interval(row: MafRow, offset_start: int, offset_end: int) -> tuple[int, int]:
    """Forward-strand interval of the row's bases ``[offset_start, offset_end)`` (0-based offsets into the row).

    On ``+`` rows this is ``start + offset``; on ``-`` rows the interval is mirrored:
    ``[src_size - (start + offset_end), src_size - (start + offset_start))``.
    """
    if row.strand == "+":
        return row.start + offset_start, row.start + offset_end
    return row.src_size - (row.start + offset_end), row.src_size - (row.start + offset_start)


def _parse_s_line(line: str, path: object, number: int) -> MafRow:
    """Parse and check one ``s`` line (field count, integers, strand, bounds, size against text)."""
    # Hot loop (one call per row of the MAF): plain statements, and the tuple built without the
    # NamedTuple constructor's extra call.
    fields = line.split()
    if len(fields) != S_FIELDS:
        raise InputError(
            f"'s' line needs {S_FIELDS} fields (s src start size strand srcSize text), found {len(fields)}",
            path,
            number,
        )
    try:
        start = int(fields[2])
        size = int(fields[3])
        src_size = int(fields[5])
    except ValueError:
        raise InputError(
            f"start, size and srcSize must be integers, got {fields[2]!r} {fields[3]!r} {fields[5]!r}", path, number
        ) from None
    strand = fields[4]
    text = fields[6]
    if strand != "+" and strand != "-":
        raise InputError(f"strand must be + or -, got {strand!r}", path, number)
    if start < 0 or size < 0 or start + size > src_size:
        raise InputError(f"need 0 <= start, 0 <= size and start + size <= srcSize, got {start} + {size} > {src_size}",
                         path, number)
    if len(text) - text.count("-") != size:
        bases = len(text) - text.count("-")
        raise InputError(f"size is {size} but the text has {bases} non-gap characters", path, number)
    species, dot, chrom = fields[1].partition(".")
    return _new_row(MafRow, (species, chrom if dot else species, start, size, strand, src_size, text, number))


def _check_block(rows: list[MafRow], path: object) -> None:
    """All rows of a block must have texts of the same length."""
    width = len(rows[0].text)
    for row in rows[1:]:
        if len(row.text) != width:
            raise InputError(
                f"text has {len(row.text)} columns but the block's first row (line {rows[0].line}) has {width}",
                path,
                row.line,
            )


def read_maf(path: str | os.PathLike[str]) -> Iterator[list[MafRow]]:
    """Yield the alignment blocks of a MAF file one at a time, in file order.

    Memory holds one block at a time. Blocks without any ``s`` line are not yielded.

    Parameters
    ----------
    path
        MAF file, plain or gzip/bgzip.

    Yields
    ------
    list of MafRow
        The ``s`` rows of one block, in file order.

    Raises
    ------
    InputError
        Naming the file and line: an ``s`` line outside a block, with a field count other than 7, with
        non-integer start/size/srcSize, a strand other than ``+``/``-``, ``start + size > srcSize``, a size
        that differs from the number of non-gap characters of its text, or a text length that differs from
        the other rows of its block.
    """
    rows: list[MafRow] = []
    in_block = False
    with open_text(path) as handle:
        for number, line in enumerate(handle, start=1):
            kind = line[:1]
            if kind == "s":
                if not in_block:
                    raise InputError("'s' line outside an alignment block (no preceding 'a' line)", path, number)
                rows.append(_parse_s_line(line, path, number))
            elif kind == "a" or not line.strip():
                if rows:
                    _check_block(rows, path)
                    yield rows
                rows = []
                in_block = kind == "a"
            # i, e, q, #, track and other lines carry nothing we use
    if rows:
        _check_block(rows, path)
        yield rows
