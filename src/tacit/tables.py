"""Prediction matrices and phenotype tables at the file boundary.

Two matrix formats are read:

* TACIT's: tab-separated, no header, first column the OCR name, then one column per species in the order of
  a separate species file; ``-1`` means "no ortholog".
* This workflow's ``predictions.tsv.gz``: a header ``ocr`` plus species names, empty cells for no ortholog.

Inside the package missing predictions are always ``NaN``; ``-1`` exists only in TACIT-format files.
"""

from __future__ import annotations

import hashlib
import logging
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator, Sequence

import numpy as np
import pandas as pd

from .errors import InputError
from .io import atomic_writer, open_text

log = logging.getLogger(__name__)


@dataclass
class PredictionMatrix:
    """Predicted activity, OCR x species.

    Attributes
    ----------
    ocrs
        OCR names, unique.
    species
        Species names (``Genus_species``), unique.
    values
        ``(len(ocrs), len(species))`` float array; NaN where a species has no ortholog.
    """

    ocrs: list[str]
    species: list[str]
    values: np.ndarray

    @property
    def n_rows(self) -> int:
        return len(self.ocrs)

    def blocks(self, start: int, stop: int, size: int,
               skip: Callable[[int], bool] = lambda index: False) -> Iterator[tuple[int, "PredictionMatrix | None"]]:
        """Rows ``start .. stop-1`` in blocks of ``size`` rows, as :meth:`MatrixFile.blocks`."""
        for index, first in enumerate(range(start, stop, size)):
            last = min(first + size, stop)
            yield index, None if skip(index) else PredictionMatrix(self.ocrs[first:last], self.species,
                                                                  self.values[first:last])


def normalise_species(name: str) -> str:
    """``"Genus species"`` and ``"Genus_species"`` are the same species; spaces become underscores."""
    return "_".join(name.strip().split())


def read_species_list(path: str | Path) -> list[str]:
    """One species per line (blank lines ignored); duplicates are an error naming the line."""
    species: list[str] = []
    seen: dict[str, int] = {}
    with open_text(path) as handle:
        for lineno, line in enumerate(handle, 1):
            if not line.strip():
                continue
            name = normalise_species(line)
            if name in seen:
                raise InputError(f"species {name!r} is listed twice (first on line {seen[name]})", path, lineno)
            seen[name] = lineno
            species.append(name)
    if not species:
        raise InputError("species list is empty", path)
    return species


def read_matrix(path: str | Path, species_path: str | Path | None = None) -> PredictionMatrix:
    """Read a whole prediction matrix: TACIT format when ``species_path`` is given, else this workflow's format."""
    source = MatrixFile(path, species_path)
    return next(source.blocks(0, source.n_rows, max(source.n_rows, 1)))[1]  # type: ignore[return-value]


# A cell the careful parser surely accepts: a decimal number or NA/NaN (checked per line by one regex, so the
# whole file is validated up front at C speed; lines that do not match get the careful parser's message).
_NUMBER = r" *(?:[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?|NA|na|NaN|nan|NAN) *"


class MatrixFile:
    """A prediction matrix on disk, validated in one pass and then read in row blocks (bounded memory).

    Opening scans the file once: the column count of every row, duplicate OCR names and that every cell is
    a number (or missing) are checked before any analysis, with the file and line of the first problem;
    the scan also yields the number of rows and a digest of the content (for resumable runs).

    Parameters
    ----------
    path
        Matrix file, plain or gzip.
    species_path
        TACIT species file (one species per line, matrix column order): the matrix is TACIT's headerless
        format with ``-1`` for no ortholog. Without it, this workflow's format (header ``ocr`` + species).
    scan
        False reads only the species (header or species file): ``n_rows`` is then 0 and the rows unchecked.
    """

    def __init__(self, path: str | Path, species_path: str | Path | None = None, scan: bool = True) -> None:
        self.path = path
        self.header = species_path is None
        if species_path is not None:
            self.species = read_species_list(species_path)
        else:
            with open_text(path) as handle:
                first = handle.readline().rstrip("\r\n").split("\t")
            if not first or first[0] != "ocr":
                raise InputError("expected a header starting with 'ocr' (or give the TACIT species file with --species)",
                                 path, 1)
            self.species = [normalise_species(s) for s in first[1:]]
            dup = sorted({s for s in self.species if self.species.count(s) > 1})
            if dup:
                raise InputError(f"species {dup[0]!r} appears twice in the header", path, 1)
        self._missing = "" if self.header else "-1"
        self.n_rows, self.digest = self._scan() if scan else (0, "")

    def _data_lines(self) -> Iterator[tuple[int, str]]:
        with open_text(self.path) as handle:
            for lineno, line in enumerate(handle, 1):
                if self.header and lineno == 1:
                    continue
                if not line.strip():
                    continue
                yield lineno, line.rstrip("\r\n")

    def _scan(self) -> tuple[int, str]:
        n = len(self.species)
        cell = _NUMBER if not self.header else f"(?:{_NUMBER})?"
        if not self.header:
            cell = f"(?:{_NUMBER}|-1)"
        valid = re.compile(rf"[^\t]+(?:\t{cell}){{{n}}}")
        seen: dict[str, int] = {}
        digest = hashlib.blake2b(digest_size=16)
        digest.update("\t".join(self.species).encode())
        rows = 0
        for lineno, line in self._data_lines():
            digest.update(line.encode() + b"\n")
            name = line.split("\t", 1)[0]
            if name in seen:
                raise InputError(f"OCR {name!r} appears twice (first on line {seen[name]})", self.path, lineno)
            seen[name] = lineno
            if not valid.fullmatch(line):
                self._parse_line(line, lineno)  # raises with the precise message, or accepts an unusual number
            rows += 1
        if not rows:
            raise InputError("prediction matrix has no rows", self.path)
        return rows, digest.hexdigest()

    def _parse_line(self, line: str, lineno: int) -> tuple[str, np.ndarray]:
        fields = line.split("\t")
        n = len(self.species)
        if len(fields) != n + 1:
            raise InputError(f"expected {n + 1} columns (OCR name and {n} species), found {len(fields)}", self.path, lineno)
        cells = fields[1:]
        try:  # the common case at C speed; anything unusual goes to the careful parser and its message
            values = np.array([float(c) if c else math.nan for c in cells] if self.header else list(map(float, cells)))
        except ValueError:
            values = None
        if values is None or np.isinf(values).any():
            return fields[0], _parse_values(cells, self._missing, self.species, self.path, lineno)
        values[values == -1.0] = math.nan  # TACIT's "no ortholog"
        return fields[0], values

    def blocks(self, start: int, stop: int, size: int,
               skip: Callable[[int], bool] = lambda index: False) -> Iterator[tuple[int, PredictionMatrix | None]]:
        """Rows ``start .. stop-1`` (0-based data rows) in blocks of ``size`` rows.

        Yields ``(block index, block)``; blocks for which ``skip(index)`` is true are not parsed and come
        as ``None`` (a resumed run skips the finished ones cheaply).
        """
        index, ocrs, rows = 0, [], []
        for row, (lineno, line) in enumerate(self._data_lines()):
            if row < start:
                continue
            if row >= stop:
                break
            if not skip(index):
                name, values = self._parse_line(line, lineno)
                ocrs.append(name)
                rows.append(values)
            if row - start + 1 == (index + 1) * size or row + 1 == stop:
                yield index, (PredictionMatrix(ocrs, self.species, np.vstack(rows)) if rows else None)
                index, ocrs, rows = index + 1, [], []


def _parse_values(cells: Sequence[str], missing: str, species: list[str], path: str | Path, lineno: int) -> np.ndarray:
    out = np.empty(len(cells))
    for j, cell in enumerate(cells):
        cell = cell.strip()
        if cell == missing or cell.upper() in ("NA", "NAN"):
            out[j] = math.nan
            continue
        try:
            value = float(cell)
        except ValueError:
            raise InputError(f"value {cell!r} for species {species[j]} is not a number", path, lineno) from None
        if value == -1.0:
            value = math.nan  # TACIT's "no ortholog", however written (-1, -1.0, -1.000000)
        if not math.isfinite(value) and not math.isnan(value):
            raise InputError(f"value {cell!r} for species {species[j]} is not finite", path, lineno)
        out[j] = value
    return out


def write_matrix(matrix: PredictionMatrix, path: str | Path, digits: int = 6) -> None:
    """Write this workflow's format (header ``ocr`` + species; empty cell = no ortholog)."""
    with atomic_writer(path) as out:
        out.write("\t".join(["ocr", *matrix.species]) + "\n")
        for name, row in zip(matrix.ocrs, matrix.values):
            cells = ["" if math.isnan(v) else f"{v:.{digits}f}" for v in row]
            out.write(name + "\t" + "\t".join(cells) + "\n")


def write_tacit_matrix(matrix: PredictionMatrix, matrix_path: str | Path, species_path: str | Path, digits: int = 6) -> None:
    """Write TACIT's format: no header, ``-1`` for no ortholog, and the species file beside it."""
    with atomic_writer(matrix_path) as out:
        for name, row in zip(matrix.ocrs, matrix.values):
            cells = ["-1" if math.isnan(v) else f"{v:.{digits}f}" for v in row]
            out.write(name + "\t" + "\t".join(cells) + "\n")
    with atomic_writer(species_path) as out:
        out.write("\n".join(matrix.species) + "\n")


# Names of the species column of a phenotype CSV, compared without case and with '_' as a space: ours, and
# TACIT's own phenotype files' ("Species Name", e.g. its vocal-learning labels).
SPECIES_COLUMNS = ("species", "species name")


def species_column(columns: list[str], path: str | Path) -> str:
    """The species column among ``columns`` (stripped header names): ``species`` or else TACIT's
    ``Species Name`` (compared without case, ``_`` as a space).

    Raises
    ------
    InputError
        Neither is there, or more than one column could be it.
    """
    if "species" in columns:  # ours, exactly: then other columns may be called anything
        return "species"
    found = [c for c in columns if " ".join(c.replace("_", " ").split()).lower() in SPECIES_COLUMNS]
    if len(found) != 1:
        what = "no" if not found else "more than one"
        raise InputError(f"{what} species column ('species' or TACIT's 'Species Name'; columns: "
                         f"{', '.join(columns)})", path, 1)
    return found[0]


def _phenotype_table(path: str | Path) -> tuple[pd.DataFrame, str]:
    try:
        with open_text(path) as handle:
            table = pd.read_csv(handle, dtype=str, keep_default_na=False, encoding="utf-8")
    except pd.errors.ParserError as err:
        raise InputError(f"cannot parse CSV: {err}", path) from None
    table.columns = [c.strip().lstrip("\ufeff") for c in table.columns]
    return table, species_column(list(table.columns), path)


def phenotype_species(path: str | Path) -> dict[str, str]:
    """Every species row of a phenotype CSV: normalised name -> name as written (for the species report)."""
    table, column = _phenotype_table(path)
    return {normalise_species(raw): raw for raw in table[column]}


def read_phenotypes(path: str | Path, trait: str, binary: bool = False) -> pd.Series:
    """Trait values by species (normalised names); species with an empty or ``NA`` value are left out.

    The species column is ``species`` or, as in TACIT's phenotype files, ``Species Name`` (:func:`species_column`);
    header names are read without surrounding spaces.

    Raises
    ------
    InputError
        No species column, the trait column absent, a non-numeric value, a binary trait with values
        other than 0/1, or a species listed twice.
    """
    table, column = _phenotype_table(path)
    if trait not in table.columns:
        raise InputError(f"trait column {trait!r} not found (columns: {', '.join(table.columns)})", path, 1)
    values: dict[str, float] = {}
    renamed = 0
    for i, (raw_name, raw) in enumerate(zip(table[column], table[trait])):
        lineno = i + 2
        name = normalise_species(raw_name)
        renamed += name != raw_name
        if not name:
            raise InputError("empty species name", path, lineno)
        if name in values:
            raise InputError(f"species {name!r} appears twice", path, lineno)
        cell = raw.strip()
        if cell == "" or cell.upper() in ("NA", "NAN"):
            values[name] = math.nan
            continue
        try:
            value = float(cell)
        except ValueError:
            raise InputError(f"trait {trait!r} value {cell!r} for {name} is not a number", path, lineno) from None
        if binary and value not in (0.0, 1.0):
            raise InputError(f"binary trait {trait!r} must be 0 or 1, found {cell!r} for {name}", path, lineno)
        values[name] = value
    if renamed:
        log.info("%s: %d species names normalised to Genus_species (spaces -> underscores)", path, renamed)
    series = pd.Series(values, dtype=float)
    return series[series.notna()]
