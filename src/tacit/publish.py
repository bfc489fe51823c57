"""A publishable bundle: per tissue the tables, the model and its card, the data dictionary, the config used
and ``SHA256SUMS``, ready to deposit (Zenodo, Figshare) and to download.

Layout of ``out_dir``::

    README.md                    what is where (generated)
    tables.md                    data dictionary of every table
    config.yaml                  the configuration the results came from
    SHA256SUMS                   ``sha256sum -c SHA256SUMS`` checks every other file
    {tissue}/predictions.tsv.gz  OCR x species predicted activity (header ``ocr`` + species; empty = no ortholog)
    {tissue}/tacit/matrix.tsv    the same in TACIT's format (no header, -1 = no ortholog) ...
    {tissue}/tacit/species.txt   ... and its species, in column order
    {tissue}/model/              model.keras, card.md, metrics.tsv, windows.tsv (when the workflow trained it)
    {tissue}/{trait}/            associations.tsv, species.tsv (which species were analysed, and why not)

The bundle is assembled in a temporary folder beside ``out_dir`` and renamed into place, so an interrupted
run never leaves a bundle that looks whole.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from pathlib import Path
from typing import Mapping, Sequence

import yaml

from .tables import read_matrix, write_matrix, write_tacit_matrix


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def build_bundle(out_dir: str | os.PathLike[str], tissues: Mapping[str, Mapping[str, object]],
                 config: Mapping[str, object], dictionary: str | os.PathLike[str]) -> list[str]:
    """Assemble the bundle.

    Parameters
    ----------
    out_dir
        Destination folder; replaced as a whole.
    tissues
        Per tissue: ``predictions`` (path), optional ``predictions_species`` (TACIT species file, when the
        matrix is in TACIT's format), optional ``model_files`` (paths) and ``trait_files`` (trait -> paths:
        ``associations.tsv``, ``species.tsv``), each copied under its own name.
    config
        The configuration used (written as YAML).
    dictionary
        The data dictionary (docs/tables.md).

    Returns
    -------
    list of str
        Relative paths of the files in the bundle, sorted (as listed in SHA256SUMS).
    """
    out = Path(out_dir)
    out.parent.mkdir(parents=True, exist_ok=True)
    stage = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        shutil.copyfile(dictionary, stage / "tables.md")
        (stage / "config.yaml").write_text(yaml.safe_dump(dict(config), sort_keys=True))
        lines = ["# TACIT results bundle", "", "Tables are described in tables.md; `sha256sum -c SHA256SUMS` checks "
                 "the files.", ""]
        for tissue, entry in sorted(tissues.items()):
            folder = stage / tissue
            folder.mkdir()
            matrix = read_matrix(entry["predictions"], entry.get("predictions_species"))
            write_matrix(matrix, folder / "predictions.tsv.gz")
            write_tacit_matrix(matrix, folder / "tacit" / "matrix.tsv", folder / "tacit" / "species.txt")
            lines.append(f"- `{tissue}/`: {len(matrix.ocrs)} OCRs x {len(matrix.species)} species")
            model_files: Sequence[str] = entry.get("model_files", [])  # type: ignore[assignment]
            for path in model_files:
                (folder / "model").mkdir(exist_ok=True)
                shutil.copyfile(path, folder / "model" / Path(path).name)
            trait_files: Mapping[str, Sequence[str]] = entry.get("trait_files", {})  # type: ignore[assignment]
            for trait, paths in sorted(trait_files.items()):
                (folder / trait).mkdir()
                for path in paths:
                    shutil.copyfile(path, folder / trait / Path(path).name)
                    lines.append(f"  - `{tissue}/{trait}/{Path(path).name}`")
        (stage / "README.md").write_text("\n".join(lines) + "\n")
        files = sorted(p.relative_to(stage).as_posix() for p in stage.rglob("*") if p.is_file())
        (stage / "SHA256SUMS").write_text("".join(f"{sha256(stage / f)}  {f}\n" for f in files))
        if out.exists():
            shutil.rmtree(out)
        os.replace(stage, out)
    except BaseException:
        shutil.rmtree(stage, ignore_errors=True)
        raise
    return files
