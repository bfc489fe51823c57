"""Recovery of planted OCRs (simulated data): recall and false-discovery proportion at an FDR cut-off."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from .errors import InputError


def recovery(associations: str | Path, truth: str | Path, trait: str, fdr: float = 0.1) -> dict[str, float]:
    """Recall of planted OCRs and false-discovery proportion among OCRs with ``fdr <= fdr``.

    Returns
    -------
    dict
        ``trait``, ``fdr_threshold``, ``planted``, ``discoveries``, ``true_discoveries``, ``recall``,
        ``false_discovery_proportion``.
    """
    table = pd.read_csv(associations, sep="\t")
    known = pd.read_csv(truth, sep="\t")
    missing = {"ocr", "trait", "planted"} - set(known.columns)
    if missing:
        raise InputError(f"truth table lacks columns {sorted(missing)}", truth)
    planted = set(known.loc[(known["trait"] == trait) & (known["planted"] == 1), "ocr"])
    found = set(table.loc[table["fdr"] <= fdr, "ocr"])
    true = len(found & planted)
    return {
        "trait": trait,
        "fdr_threshold": fdr,
        "planted": len(planted),
        "discoveries": len(found),
        "true_discoveries": true,
        "recall": true / len(planted) if planted else float("nan"),
        "false_discovery_proportion": (len(found) - true) / len(found) if found else 0.0,
    }
