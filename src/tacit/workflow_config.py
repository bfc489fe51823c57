"""Checks of a workflow config beyond its JSON schema: every named file exists, the tree parses, the reference
and the traits are where they should be. Run by the Snakefile before any job, so a bad config fails at once with
one message instead of hours later in a job.
"""

from __future__ import annotations

import shlex
from dataclasses import fields
from pathlib import Path
from typing import Any, Mapping

from .errors import InputError
from .selection import SelectionSettings
from .tables import read_phenotypes
from .tree import read_tree


def _require(path: object, what: str) -> None:
    if not Path(str(path)).is_file():
        raise InputError(f"{what} not found (config key: {what})", path)


def check_config(config: Mapping[str, Any]) -> list[str]:
    """Check the files and names a config refers to; return the species of the analysis.

    Raises
    ------
    InputError
        A file that does not exist, an unparseable tree, a tissue to train without any negatives, an
        ``other_tissue_negatives`` list naming a tissue that is not another configured tissue with peaks, a
        ``species_peaks`` species that is not a species of the analysis (or is the reference), a reference
        species not in the tree, a trait or
        covariate column absent from the phenotype table (or not 0/1 for a binary trait), a genome missing
        for a species whose orthologs are to be mapped, or an OCR selection (``ocr_selection``, global or per
        tissue) with a bad setting or a missing annotation file.
    """
    _require(config["tree"], "tree")
    _require(config["phenotypes"], "phenotypes")
    tree = read_tree(config["tree"])
    species = list(config.get("species") or tree.tip_names)
    unknown = sorted(set(species) - set(tree.tip_names))
    if unknown:
        raise InputError(f"config 'species' names {len(unknown)} species not in the tree, e.g. {unknown[0]!r}",
                         config["tree"])
    for trait in config["traits"]:
        read_phenotypes(config["phenotypes"], trait["name"], binary=trait["type"] == "binary")
        for covariate in trait.get("covariates", []):
            read_phenotypes(config["phenotypes"], covariate)
    mapped = [entry for entry in config["tissues"].values() if "predictions" not in entry]
    for name, entry in config["tissues"].items():
        for key in ("peaks", "model_spec", "model", "predictions", "predictions_species"):
            if key in entry:
                _require(entry[key], f"tissues.{name}.{key}")
        for key in ("negatives", "closed_orthologs"):
            for path in entry.get(key, []):
                _require(path, f"tissues.{name}.{key}")
        for other, path in entry.get("species_peaks", {}).items():
            if other not in species or other == config["reference"]:
                raise InputError(f"tissues.{name}.species_peaks names {other!r}, which is not a species of the "
                                 "analysis other than the reference", config["tree"])
            _require(path, f"tissues.{name}.species_peaks.{other}")
        trains = not {"model", "predictions"} & set(entry)
        negative_keys = ("negatives", "closed_orthologs", "gc_matched_negatives", "shuffled_negatives", "species_peaks")
        if trains and not (any(entry.get(key) for key in negative_keys) or other_tissue_peaks(config, name)):
            raise InputError(f"tissue {name} trains a model but asks for no negatives: give negatives, "
                             "closed_orthologs, gc_matched_negatives, shuffled_negatives, other_tissue_negatives "
                             "or species_peaks")
        other_tissue_peaks(config, name)
        if "predictions" not in entry:
            _check_ocr_selection(config, name)
    if mapped:
        if config["reference"] not in species:
            raise InputError(f"reference species {config['reference']!r} is not among the species of the tree",
                             config["tree"])
        alignment = config["alignment"]
        fmt = alignment["format"]
        if fmt in ("maf", "hal"):
            _require(alignment[fmt], f"alignment.{fmt}")
        for name in species:
            _require(config["genomes"].format(species=name), f"genomes (species {name})")
            if fmt == "chain" and name != config["reference"]:
                _require(alignment["chains"].format(species=name), f"alignment.chains (species {name})")
    return species


OCR_SELECTION_FILES = ("annotation", "exons")


def ocr_selection(config: Mapping[str, Any], tissue: str) -> dict[str, Any]:
    """The tissue's OCR selection: ``ocr_selection``, overridden key by key by ``tissues.<tissue>.ocr_selection``.

    Keys left out (or null) are off; see :class:`tacit.selection.SelectionSettings`.
    """
    merged = {**(config.get("ocr_selection") or {}), **(config["tissues"][tissue].get("ocr_selection") or {})}
    return {key: value for key, value in merged.items() if value is not None}


def ocr_selection_settings(config: Mapping[str, Any], tissue: str) -> SelectionSettings:
    """The filters of :func:`ocr_selection` as :class:`tacit.selection.SelectionSettings` (files aside)."""
    selection = ocr_selection(config, tissue)
    names = {f.name for f in fields(SelectionSettings)}
    return SelectionSettings(**{key: value for key, value in selection.items() if key in names})


def ocr_selection_files(config: Mapping[str, Any], tissue: str) -> dict[str, str]:
    """The annotation files the tissue's selection names (``annotation``, ``exons``), by key."""
    selection = ocr_selection(config, tissue)
    return {key: str(selection[key]) for key in OCR_SELECTION_FILES if key in selection}


def ocr_selection_options(config: Mapping[str, Any], tissue: str) -> str:
    """The ``tacit select-ocrs`` options of the tissue's selection, shell-quoted; empty when every filter is off."""
    settings = ocr_selection_settings(config, tissue)
    options: list[str] = []
    if settings.standard_chroms:
        options += ["--standard-chroms", "--chrom-pattern", settings.chrom_pattern]
    if settings.min_score is not None:
        options += ["--min-score", str(settings.min_score), "--score-column", settings.score_column]
    if settings.max_width is not None:
        options += ["--max-width", str(settings.max_width)]
    if settings.min_tss_distance > 0:
        options += ["--min-tss-distance", str(settings.min_tss_distance)]
    if settings.no_exon_overlap:
        options.append("--no-exon-overlap")
    for key, path in ocr_selection_files(config, tissue).items():
        options += [f"--{key}", path]
    return shlex.join(options)


def _check_ocr_selection(config: Mapping[str, Any], tissue: str) -> None:
    """Annotation files exist, and the TSS and exon filters have the files they need."""
    settings = ocr_selection_settings(config, tissue)
    files = ocr_selection_files(config, tissue)
    for key, path in files.items():
        _require(path, f"ocr_selection.{key} (tissue {tissue})")
    if settings.min_tss_distance > 0 and "annotation" not in files:
        raise InputError(f"ocr_selection.min_tss_distance needs ocr_selection.annotation, a GTF or BED of "
                         f"transcripts (tissue {tissue})")
    if settings.no_exon_overlap and not files:
        raise InputError(f"ocr_selection.no_exon_overlap needs ocr_selection.annotation or ocr_selection.exons "
                         f"(tissue {tissue})")


def other_tissue_peaks(config: Mapping[str, Any], tissue: str) -> list[str]:
    """The peak files whose OCRs are ``tissue``'s ``other_tissue`` negatives.

    ``other_tissue_negatives: true`` takes every other configured tissue with ``peaks`` (in name order), so
    adding a tissue retrains this one; a list of tissue names takes those (in list order); ``false`` or absent,
    none.

    Raises
    ------
    InputError
        A listed name that is the tissue itself, not a configured tissue, or a tissue without ``peaks``.
    """
    tissues = config["tissues"]
    wanted = tissues[tissue].get("other_tissue_negatives", False)
    if wanted is True:
        return [tissues[name]["peaks"] for name in sorted(tissues) if name != tissue and "peaks" in tissues[name]]
    if not wanted:
        return []
    for name in wanted:
        if name == tissue or "peaks" not in tissues.get(name, {}):
            raise InputError(f"tissues.{tissue}.other_tissue_negatives names {name!r}, which is not another "
                             f"configured tissue with peaks (tissues: {', '.join(sorted(tissues))})")
    return [tissues[name]["peaks"] for name in wanted]
