"""Genome FASTA: preparation (used in place when possible, indexed once) and opening with pyfaidx.

Plain and bgzip (BGZF) FASTA are read where they lie, through a symbolic link; only plain gzip, which allows no
random access, is decompressed. Indexes always sit beside the path given: ``PATH.fai``, and ``PATH.gzi`` for
BGZF (htslib's formats, so ``samtools faidx PATH`` reads them too).
"""

from __future__ import annotations

import gzip
import logging
import os
import shutil
import struct
import tempfile
import zlib
from pathlib import Path

from .errors import InputError
from .io import is_gzip

log = logging.getLogger(__name__)

# pyfaidx chooses its BGZF reader by the file name, not the content: it needs one of these suffixes.
BGZF_SUFFIXES = (".gz", ".bgz")
# What pyfaidx and Bio.bgzf raise on a file that is not (or no longer) a readable FASTA: truncation shows as
# struct.error or EOFError, a missing BGZF end-of-file block as OSError, bad text as ValueError.
_READ_ERRORS = (OSError, ValueError, EOFError, struct.error, zlib.error)


def is_bgzf(path: str | os.PathLike[str]) -> bool:
    """True when the file starts with a BGZF block: a deflate gzip member whose extra field has the ``BC``
    subfield (SAM specification, section 4.1). Plain gzip and plain text are not BGZF."""
    with open(path, "rb") as handle:
        head = handle.read(12)
        if len(head) < 12 or head[:3] != b"\x1f\x8b\x08" or not head[3] & 0x04:  # FLG.FEXTRA
            return False
        extra = handle.read(int.from_bytes(head[10:12], "little"))
    while len(extra) >= 4:
        size = int.from_bytes(extra[2:4], "little")
        if extra[:2] == b"BC" and size == 2:
            return True
        extra = extra[4 + size:]
    return False


def _pyfaidx_name(path: str) -> tuple[str, bool]:
    """The file name to give pyfaidx for the genome at ``path``, and whether it is BGZF.

    A BGZF genome is given by its real name (through any links), as pyfaidx reads BGZF only under a ``.gz`` or
    ``.bgz`` name and ``results/genomes/{species}.fa`` is a link to it.
    """
    if not is_bgzf(path):
        if is_gzip(path):
            raise InputError("plain gzip genome: pyfaidx needs random access; compress it with bgzip instead", path)
        return path, False
    target = os.path.realpath(path)
    if not target.lower().endswith(BGZF_SUFFIXES):
        raise InputError(f"BGZF genome {target} needs a name ending in .gz or .bgz (pyfaidx goes by the name)", path)
    return target, True


def index_genome(path: str | os.PathLike[str], name: str | os.PathLike[str] | None = None) -> None:
    """Build ``path.fai`` (and ``path.gzi`` for BGZF) with pyfaidx, under temporary names renamed when complete.

    Raises
    ------
    InputError
        Naming ``name`` (default ``path``): the genome is plain gzip, truncated or corrupt, or not FASTA as
        pyfaidx reads it.
    """
    import pyfaidx

    path = os.fspath(path)
    try:
        fasta, bgzf = _pyfaidx_name(path)
        with tempfile.TemporaryDirectory(dir=os.path.dirname(os.path.abspath(path)), prefix=".index.") as tmp:
            fai, gzi = os.path.join(tmp, "fai"), os.path.join(tmp, "gzi")
            pyfaidx.Faidx(fasta, indexname=fai, gzi_indexname=gzi).close()
            if bgzf:
                os.replace(gzi, path + ".gzi")
            os.replace(fai, path + ".fai")  # last: a .fai means the genome is fully indexed
    except (pyfaidx.FastaIndexingError, pyfaidx.UnsupportedCompressionFormat, *_READ_ERRORS) as err:
        raise InputError(f"cannot index genome FASTA with pyfaidx (truncated or corrupt?): {err}",
                         name or path) from None


def open_genome(path: str | os.PathLike[str]):  # -> pyfaidx.Fasta
    """Open a plain or BGZF genome FASTA (or a link to one) with pyfaidx, upper case, as plain strings.

    The indexes are ``path.fai`` and, for BGZF, ``path.gzi``; missing ones are built first
    (:func:`index_genome`). An index older than the genome is used with pyfaidx's warning, not rebuilt.

    Raises
    ------
    InputError
        The file is missing, plain gzip, or cannot be indexed or opened.
    """
    import pyfaidx

    path = os.fspath(path)
    if not os.path.exists(path):
        raise InputError("genome FASTA not found", path)
    try:
        fasta, bgzf = _pyfaidx_name(path)
        if not os.path.exists(path + ".fai") or (bgzf and not os.path.exists(path + ".gzi")):
            index_genome(path)
        return pyfaidx.Fasta(fasta, indexname=path + ".fai", gzi_indexname=path + ".gzi", rebuild=False,
                             sequence_always_upper=True, as_raw=True)
    except (pyfaidx.FastaIndexingError, pyfaidx.UnsupportedCompressionFormat, *_READ_ERRORS) as err:
        raise InputError(f"cannot open genome FASTA with pyfaidx: {err}", path) from None


def prepare_genome(source: str | os.PathLike[str], dest: str | os.PathLike[str]) -> None:
    """Make ``dest`` a genome FASTA that :func:`open_genome` reads, indexed: ``dest.fai`` (and ``dest.gzi``).

    A plain or BGZF (bgzip) ``source`` is used in place: ``dest`` becomes a symbolic link to its absolute path,
    so no copy is made (a symbolic rather than a hard link: it works across file systems and shows where the
    data are; the source must stay where it is). Plain gzip allows no random access and is decompressed into
    ``dest``, as is BGZF whose name lacks ``.gz``/``.bgz``. Link, copy and indexes are made under temporary
    names and renamed when all are complete (``.fai`` last), so a failure leaves none of them.

    Raises
    ------
    InputError
        The source is missing, is not FASTA (first character not ``>``), or is truncated or corrupt.
    """
    src, dest = Path(source), Path(dest)
    if not src.is_file():
        raise InputError("genome FASTA not found", src)
    try:
        bgzf = is_bgzf(src) and src.resolve().name.lower().endswith(BGZF_SUFFIXES)
        decompress = is_gzip(src) and not bgzf
    except OSError as err:
        raise InputError(f"cannot read genome: {err.strerror}", src) from None
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise InputError(f"cannot write output: {err.strerror}", dest) from None
    with tempfile.TemporaryDirectory(dir=dest.parent, prefix=f".{dest.name}.") as tmpdir:
        tmp = Path(tmpdir) / dest.name
        try:
            if decompress:
                with gzip.open(src, "rb") as fin, open(tmp, "wb") as fout:
                    shutil.copyfileobj(fin, fout, length=1 << 20)
            else:
                tmp.symlink_to(src.resolve())
            with (gzip.open if bgzf else open)(tmp, "rb") as handle:
                first = handle.read(1)
        except (EOFError, gzip.BadGzipFile, zlib.error, OSError) as err:
            raise InputError(f"cannot read genome: {err}", src) from None
        if first != b">":
            raise InputError("not a FASTA file (first character is not '>')", src, 1)
        index_genome(tmp, name=src)
        for suffix in (".gzi", "", ".fai"):  # .fai last, as in index_genome
            if os.path.lexists(f"{tmp}{suffix}"):
                os.replace(f"{tmp}{suffix}", f"{dest}{suffix}")
            elif os.path.lexists(f"{dest}{suffix}"):  # a .gzi left from a BGZF source this one replaces
                os.remove(f"{dest}{suffix}")
    if decompress:
        log.info("prepared %s: decompressed gzip %s (a bgzip genome named .gz or .bgz is used in place, no copy)",
                 dest, src)
    else:
        log.info("prepared %s: a link to %s (used in place), indexed", dest, src.resolve())
