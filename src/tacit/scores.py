"""Per-species score tables (``id``, ``score``) gathered into a prediction matrix."""

from __future__ import annotations

import csv
import re
from pathlib import Path
from typing import Sequence

import numpy as np

from .errors import InputError
from .io import open_text
from .tables import PredictionMatrix


def species_of(path: str | Path) -> str:
    """Species name of a per-species file: its name without ``.tsv``/``.tsv.gz`` (and a ``.partK`` of a
    scattered scoring job: ``Homo_sapiens.part3.tsv`` is ``Homo_sapiens``)."""
    name = Path(path).name
    for suffix in (".tsv.gz", ".tsv"):
        if name.endswith(suffix):
            name = name[: -len(suffix)]
            break
    else:
        name = Path(path).stem
    return re.sub(r"\.part\d+$", "", name)


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
    """Matrix with one row per OCR (in ``ocrs`` order) and one column per species; NaN = no ortholog.

    Several files of one species (``SPECIES.partK.tsv`` of a scattered scoring job) fill one column.

    Score ids that are not in ``ocrs`` are an error naming the file.
    """
    index = {name: i for i, name in enumerate(ocrs)}
    species = list(dict.fromkeys(species_of(p) for p in paths))  # parts of one species share a column
    column = {name: j for j, name in enumerate(species)}
    values = np.full((len(ocrs), len(species)), np.nan)
    for path in paths:
        j = column[species_of(path)]
        for ocr, score in read_scores(path).items():
            i = index.get(ocr)
            if i is None:
                raise InputError(f"score for unknown OCR {ocr!r}", path)
            if not np.isnan(values[i, j]):
                raise InputError(f"OCR {ocr!r} is scored twice for {species[j]}", path)
            values[i, j] = score
    return PredictionMatrix(list(ocrs), species, values)
