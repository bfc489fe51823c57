"""Prediction matrices and phenotype tables at the file boundary.

Two matrix formats are read:

* TACIT's: tab-separated, no header, first column the OCR name, then one column per species in the order of
  a separate species file; ``-1`` means "no ortholog".
* This workflow's ``predictions.tsv.gz``: a header ``ocr`` plus species names, empty cells for no ortholog.

Inside the package missing predictions are always ``NaN``; ``-1`` exists only in TACIT-format files.
"""

from __future__ import annotations

import csv
import logging
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

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
    """Read a prediction matrix: TACIT format when ``species_path`` is given, else this workflow's format."""
    if species_path is not None:
        species = read_species_list(species_path)
        return _read_rows(path, species, header=False)
    with open_text(path) as handle:
        first = handle.readline().rstrip("\r\n").split("\t")
    if not first or first[0] != "ocr":
        raise InputError("expected a header starting with 'ocr' (or give the TACIT species file with --species)", path, 1)
    species = [normalise_species(s) for s in first[1:]]
    dup = sorted({s for s in species if species.count(s) > 1})
    if dup:
        raise InputError(f"species {dup[0]!r} appears twice in the header", path, 1)
    return _read_rows(path, species, header=True)


def _read_rows(path: str | Path, species: list[str], header: bool) -> PredictionMatrix:
    n = len(species)
    ocrs: list[str] = []
    rows: list[np.ndarray] = []
    seen: dict[str, int] = {}
    missing_token = "" if header else "-1"
    with open_text(path) as handle:
        reader = csv.reader(handle, delimiter="\t", quoting=csv.QUOTE_NONE)
        for lineno, fields in enumerate(reader, 1):
            if header and lineno == 1:
                continue
            if not fields or (len(fields) == 1 and not fields[0].strip()):
                continue
            if len(fields) != n + 1:
                raise InputError(f"expected {n + 1} columns (OCR name and {n} species), found {len(fields)}", path, lineno)
            name = fields[0]
            if name in seen:
                raise InputError(f"OCR {name!r} appears twice (first on line {seen[name]})", path, lineno)
            seen[name] = lineno
            ocrs.append(name)
            rows.append(_parse_values(fields[1:], missing_token, species, path, lineno))
    if not ocrs:
        raise InputError("prediction matrix has no rows", path)
    return PredictionMatrix(ocrs, species, np.vstack(rows))


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
        if missing == "" and value == -1.0:
            value = math.nan  # tolerate TACIT's -1 in our format too
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


def read_phenotypes(path: str | Path, trait: str, binary: bool = False) -> pd.Series:
    """Trait values by species (normalised names); species with an empty or ``NA`` value are left out.

    Raises
    ------
    InputError
        No ``species`` column, the trait column absent, a non-numeric value, a binary trait with values
        other than 0/1, or a species listed twice.
    """
    try:
        with open_text(path) as handle:
            table = pd.read_csv(handle, dtype=str, keep_default_na=False, encoding="utf-8")
    except pd.errors.ParserError as err:
        raise InputError(f"cannot parse CSV: {err}", path) from None
    table.columns = [c.strip().lstrip("\ufeff") for c in table.columns]
    if "species" not in table.columns:
        raise InputError(f"no 'species' column (columns: {', '.join(table.columns)})", path, 1)
    if trait not in table.columns:
        raise InputError(f"trait column {trait!r} not found (columns: {', '.join(table.columns)})", path, 1)
    values: dict[str, float] = {}
    renamed = 0
    for i, (raw_name, raw) in enumerate(zip(table["species"], table[trait])):
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
