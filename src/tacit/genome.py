"""Genome FASTA preparation: one decompressed, pyfaidx-indexed copy per species, built once."""

from __future__ import annotations

import gzip
import logging
import shutil
from pathlib import Path

from .errors import InputError
from .io import atomic_path, is_gzip

log = logging.getLogger(__name__)


def prepare_genome(source: str | Path, dest: str | Path) -> None:
    """Copy ``source`` (plain or gzip FASTA) to ``dest`` uncompressed and build ``dest.fai``.

    Raises
    ------
    InputError
        The source is missing, is not FASTA (first line not ``>``), or a gzip stream is truncated.
    """
    import pyfaidx

    src = Path(source)
    if not src.exists():
        raise InputError("genome FASTA not found", src)
    with atomic_path(dest) as tmp:
        try:
            opener = gzip.open if is_gzip(src) else open
            with opener(src, "rb") as fin, open(tmp, "wb") as fout:
                shutil.copyfileobj(fin, fout, length=1 << 20)
        except (EOFError, gzip.BadGzipFile, OSError) as err:
            raise InputError(f"cannot read genome: {err}", src) from None
        with open(tmp, "rb") as handle:
            if handle.read(1) != b">":
                raise InputError("not a FASTA file (first character is not '>')", src, 1)
        fai = Path(str(tmp) + ".fai")
        try:
            pyfaidx.Faidx(str(tmp), rebuild=True).close()
        except pyfaidx.FastaIndexingError as err:
            raise InputError(f"cannot index genome: {err}", src) from None
    with atomic_path(str(dest) + ".fai") as tmp_fai:
        shutil.move(fai, tmp_fai)
    log.info("prepared %s from %s", dest, src)
