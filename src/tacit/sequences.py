"""Sequences: FASTA reading and writing, and fixed-width windows centred on ortholog summits.

Windows are cut from an indexed genome FASTA with pyfaidx, upper-cased, and reverse-complemented for
orthologs on the ``-`` strand, so every window reads in the reference OCR's orientation.
"""

from __future__ import annotations

import os
from collections import Counter
from typing import Iterable, Iterator, Sequence

from .errors import InputError
from .genome import open_genome
from .io import atomic_writer, open_text
from .peaks import Peak

DROP_REASONS = ("off_contig", "missing_chrom", "too_many_n")
_COMPLEMENT = str.maketrans("ACGTRYKMSWBDHVNacgtrykmswbdhvn", "TGCAYRMKSWVHDBNtgcayrmkswvhdbn")
_ACGT_DELETE = str.maketrans("", "", "ACGT")


def reverse_complement(seq: str) -> str:
    """Reverse complement of a DNA string; IUPAC codes are complemented, case kept, other characters kept."""
    return seq.translate(_COMPLEMENT)[::-1]


def read_fasta(path: str | os.PathLike[str]) -> Iterator[tuple[str, str]]:
    """Yield ``(id, sequence)`` from a plain or gzip FASTA file, in file order.

    The id is the header up to the first whitespace; sequence lines are joined without their line ends
    (case is kept). Blank lines are skipped.

    Raises
    ------
    InputError
        Naming the file and line: sequence text before the first header, or an empty id.
    """
    name: str | None = None
    chunks: list[str] = []
    with open_text(path) as handle:
        for number, line in enumerate(handle, start=1):
            line = line.rstrip("\r\n")
            if line.startswith(">"):
                if name is not None:
                    yield name, "".join(chunks)
                fields = line[1:].split()
                if not fields:
                    raise InputError("FASTA header without an id", path, number)
                name, chunks = fields[0], []
            elif line.strip():
                if name is None:
                    raise InputError("sequence before the first '>' header (not a FASTA file?)", path, number)
                chunks.append(line.strip())
    if name is not None:
        yield name, "".join(chunks)


def write_fasta(records: Iterable[tuple[str, str]], path: str | os.PathLike[str]) -> int:
    """Write ``(id, sequence)`` records as FASTA, one line per sequence, atomically (``.gz`` is gzipped).

    Returns
    -------
    int
        Number of records written.
    """
    count = 0
    with atomic_writer(path) as handle:
        for name, seq in records:
            handle.write(f">{name}\n{seq}\n")
            count += 1
    return count


def extract_windows(genome_fasta_path: str | os.PathLike[str], orthologs: Sequence[Peak], width: int = 500,
                    max_n_fraction: float = 0.05) -> tuple[list[tuple[str, str]], dict[str, int]]:
    """Cut a ``width``-bp window centred on each ortholog's summit from the genome.

    The window is ``[summit - width // 2, summit - width // 2 + width)`` on the forward strand, upper case,
    reverse-complemented when the ortholog's strand is ``-``.

    Parameters
    ----------
    genome_fasta_path
        Uncompressed or bgzip FASTA, or a link to one (:func:`tacit.genome.open_genome`; indexes beside it,
        built when missing).
    orthologs
        Orthologs (or any peaks) with summits; their names become the record ids.
    width
        Window length in bp (> 0).
    max_n_fraction
        Windows with more than this fraction of characters other than A, C, G, T (N and other IUPAC
        codes) are dropped.

    Returns
    -------
    records, dropped
        ``(name, sequence)`` in the order of ``orthologs``; and counts per reason of
        :data:`DROP_REASONS`: ``off_contig`` (window runs past either end of the sequence),
        ``missing_chrom`` (sequence not in the FASTA), ``too_many_n``.

    Raises
    ------
    InputError
        The genome cannot be opened (it is not opened at all when ``orthologs`` is empty), or none of the
        orthologs' sequences is in it (wrong genome, or ``chr1`` against ``1`` naming); ``width`` or
        ``max_n_fraction`` out of range.
    """
    if width <= 0 or not 0 <= max_n_fraction <= 1:
        raise InputError(f"need width > 0 and 0 <= max_n_fraction <= 1, got {width} and {max_n_fraction}")
    dropped = Counter({reason: 0 for reason in DROP_REASONS})
    records: list[tuple[str, str]] = []
    if not orthologs:
        return records, dict(dropped)
    genome = open_genome(genome_fasta_path)
    with genome:
        lengths = {name: len(record) for name, record in genome.records.items()}
        wanted = sorted({peak.chrom for peak in orthologs})
        if not any(chrom in lengths for chrom in wanted):
            raise InputError(f"none of the {len(wanted)} ortholog sequence(s) is in the genome, e.g. {wanted[0]!r} "
                             f"(genome has e.g. {next(iter(lengths), 'nothing')!r})", genome_fasta_path)
        for peak in orthologs:
            start = peak.summit - width // 2
            if peak.chrom not in lengths:
                dropped["missing_chrom"] += 1
            elif start < 0 or start + width > lengths[peak.chrom]:
                dropped["off_contig"] += 1
            else:
                seq = genome.get_seq(peak.chrom, start + 1, start + width)  # pyfaidx: 1-based, inclusive
                if len(seq.translate(_ACGT_DELETE)) > max_n_fraction * width:
                    dropped["too_many_n"] += 1
                else:
                    records.append((peak.name, reverse_complement(seq) if peak.strand == "-" else seq))
    return records, dict(dropped)
