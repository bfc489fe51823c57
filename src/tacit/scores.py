"""Per-species score tables (``id``, ``score``) gathered into a prediction matrix."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Sequence

import numpy as np

from .errors import InputError
from .io import open_text
from .tables import PredictionMatrix


def species_of(path: str | Path) -> str:
    """Species name of a per-species file: its name without ``.tsv``/``.tsv.gz``."""
    name = Path(path).name
    for suffix in (".tsv.gz", ".tsv"):
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return Path(path).stem


def read_scores(path: str | Path) -> dict[str, float]:
    """``id -> score`` from a TSV with header ``id\\tscore``."""
    scores: dict[str, float] = {}
    with open_text(path) as handle:
        reader = csv.reader(handle, delimiter="\t")
        header = next(reader, None)
        if header != ["id", "score"]:
            raise InputError(f"expected header 'id<TAB>score', found {header!r}", path, 1)
        for lineno, row in enumerate(reader, 2):
            if len(row) != 2:
                raise InputError(f"expected 2 columns, found {len(row)}", path, lineno)
            try:
                scores[row[0]] = float(row[1])
            except ValueError:
                raise InputError(f"score {row[1]!r} is not a number", path, lineno) from None
    return scores


def gather_scores(ocrs: Sequence[str], paths: Sequence[str | Path]) -> PredictionMatrix:
    """Matrix with one row per OCR (in ``ocrs`` order) and one column per score file; NaN = no ortholog.

    Score ids that are not in ``ocrs`` are an error naming the file.
    """
    index = {name: i for i, name in enumerate(ocrs)}
    species = [species_of(p) for p in paths]
    values = np.full((len(ocrs), len(paths)), np.nan)
    for j, path in enumerate(paths):
        for ocr, score in read_scores(path).items():
            i = index.get(ocr)
            if i is None:
                raise InputError(f"score for unknown OCR {ocr!r}", path)
            values[i, j] = score
    return PredictionMatrix(list(ocrs), species, values)
