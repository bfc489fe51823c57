"""File boundaries: reading plain or gzip text, and writing outputs atomically and reproducibly.

Every table is written to a temporary file beside its destination and renamed into place, so a killed
process never leaves a file at the output path. Gzip output carries no timestamp or file name, so the same
content always gives the same bytes.
"""

from __future__ import annotations

import contextlib
import gzip
import io
import os
import tempfile
import zlib
from pathlib import Path
from typing import IO, Iterator

from .errors import InputError

GZIP_MAGIC = b"\x1f\x8b"


def is_gzip(path: str | os.PathLike[str]) -> bool:
    """True when the file starts with the gzip magic bytes (gzip and bgzip alike)."""
    with open(path, "rb") as handle:
        return handle.read(2) == GZIP_MAGIC


def open_text(path: str | os.PathLike[str]) -> IO[str]:
    """Open a plain or gzip/bgzip text file for reading; a missing file is an :class:`InputError`."""
    p = Path(path)
    if not p.exists():
        raise InputError("file not found", p)
    if p.is_dir():
        raise InputError("expected a file, found a directory", p)
    if is_gzip(p):
        return io.TextIOWrapper(_CheckedGzip(p), encoding="utf-8", newline="")
    return open(p, encoding="utf-8", newline="")


class _CheckedGzip(gzip.GzipFile):
    """A gzip reader whose truncation or corruption is an :class:`InputError` naming the file."""

    def __init__(self, path: Path) -> None:
        super().__init__(path, "rb")
        self._path = path

    def _fail(self, err: Exception) -> InputError:
        return InputError(f"truncated or corrupt gzip data ({err}); re-download or re-compress the file", self._path)

    def read(self, size: int = -1) -> bytes:
        try:
            return super().read(size)
        except (EOFError, gzip.BadGzipFile, zlib.error) as err:
            raise self._fail(err) from None

    def read1(self, size: int = -1) -> bytes:
        try:
            return super().read1(size)
        except (EOFError, gzip.BadGzipFile, zlib.error) as err:
            raise self._fail(err) from None


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it onto ``path`` only if the block succeeds."""
    dest = Path(path)
    parent = dest.parent if str(dest.parent) else Path(".")
    try:
        parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".tmp", dir=parent)
    except OSError as err:
        raise InputError(f"cannot write output: {err.strerror}", dest) from err
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        # mkstemp makes the file private (0600); published tables get the usual permissions of the umask.
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp_path, 0o666 & ~umask)
        os.replace(tmp_path, dest)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


@contextlib.contextmanager
def atomic_writer(path: str | os.PathLike[str]) -> Iterator[IO[str]]:
    """Open ``path`` for text writing through :func:`atomic_path`; ``.gz`` paths get timestamp-free gzip."""
    with atomic_path(path) as tmp:
        if str(path).endswith(".gz"):
            with open(tmp, "wb") as raw:
                with gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0, compresslevel=6) as gz:
                    with io.TextIOWrapper(gz, encoding="utf-8", newline="") as text:
                        yield text
        else:
            with open(tmp, "w", encoding="utf-8", newline="") as text:
                yield text


def write_parquet(table: "object", path: str | os.PathLike[str]) -> None:
    """Write a pandas DataFrame as Parquet (pyarrow, zstd) atomically; the same table gives the same bytes."""
    with atomic_path(path) as tmp:
        table.to_parquet(tmp, engine="pyarrow", index=False, compression="zstd")  # type: ignore[attr-defined]
