"""Training a tissue CNN: reference OCRs (positives) against negative regions, with whole chromosomes held out.

Positives are windows centred on narrowPeak summits. Negatives come in kinds (:mod:`tacit.negatives`), any
combination of: BED regions (kind ``bed`` or a name given with them; ``closed_orthologs``), windows centred on
their midpoints; other tissues' OCRs (``other_tissue``); GC-matched genome windows (``gc_matched``); and
dinucleotide shuffles of the positives (``shuffled``). Windows are cut with
:func:`tacit.sequences.extract_windows` (windows off a chromosome end, on a sequence missing from the genome, or
with more than 5% non-ACGT bases are dropped and counted). Overlap between positives and BED negatives is not
removed (the file is the user's choice); other tissues' OCRs and GC-matched windows avoid the positives.

Chromosomes listed as validation or test are held out; all others train. The training set is doubled with
reverse complements; classes are weighted to contribute equally to the loss; Adam minimises binary
cross-entropy; after each epoch the validation AUPRC is measured, training stops after ``patience`` epochs
without improvement (equal AUPRC with lower validation loss counts as one), and the weights of the best epoch
are kept. Reported scores are the mean of the forward and reverse-complement predictions. With the same seed,
thread count and TensorFlow build, every output is byte-identical (op determinism; floats in tables rounded to
6 significant digits; the saved model stripped of time stamps and memory addresses).
"""

from __future__ import annotations

import dataclasses
import logging
import os
import platform
import time
from pathlib import Path
from typing import Sequence

import numpy as np

from . import negatives as neg
from .errors import InputError
from .io import atomic_writer
from .peaks import Peak, read_bed, read_narrowpeak
from .sequences import DROP_REASONS, extract_windows

log = logging.getLogger(__name__)

SPLITS = ("train", "validation", "test")
METRICS_COLUMNS = ("split", "n_pos", "n_neg", "auroc", "auprc")
HISTORY_COLUMNS = ("epoch", "loss", "val_loss", "val_auroc", "val_auprc")
HELDOUT_COLUMNS = ("name", "chrom", "label", "score", "split", "kind")
# Windows per kind: asked for, kept (and by split), dropped by reason.
COUNT_COLUMNS = ("requested", "kept") + DROP_REASONS + ("overlaps_positive", "no_gc_match", "no_reference_ortholog",
                                                    "not_a_positive", "open_in_species")
WINDOWS_COLUMNS = ("kind", "label", "requested", "kept", *SPLITS) + COUNT_COLUMNS[2:]
MAX_N_FRACTION = 0.05
CARD_TEMPLATE = Path(__file__).resolve().parents[2] / "models" / "card_template.md"


# ---------------------------------------------------------------------------------------------- metrics


def _has_both_classes(labels: np.ndarray) -> bool:
    return bool(np.any(labels == 1) and np.any(labels == 0))


def auroc(labels: np.ndarray, scores: np.ndarray) -> float:
    """Area under the ROC curve: the probability that a random positive outscores a random negative, ties
    counting one half (Mann-Whitney U / (n_pos n_neg), from mid-ranks). NaN without both classes."""
    y = np.asarray(labels) == 1
    s = np.asarray(scores, dtype=float)
    if not _has_both_classes(np.asarray(labels)):
        return float("nan")
    order = np.argsort(s, kind="stable")
    ranks = np.empty(len(s))
    sorted_s = s[order]
    # Mid-ranks: every member of a run of tied scores gets the mean of the run's 1-based ranks.
    starts = np.r_[0, np.flatnonzero(np.diff(sorted_s)) + 1]
    ends = np.r_[starts[1:], len(s)]
    ranks[order] = np.repeat((starts + ends + 1) / 2.0, ends - starts)
    n_pos, n_neg = int(y.sum()), int((~y).sum())
    return float((ranks[y].sum() - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg))


def auprc(labels: np.ndarray, scores: np.ndarray) -> float:
    """Area under the precision-recall curve as average precision: sum over score thresholds (tied scores form
    one threshold) of the recall gained times the precision there. NaN without both classes."""
    y = np.asarray(labels) == 1
    s = np.asarray(scores, dtype=float)
    if not _has_both_classes(np.asarray(labels)):
        return float("nan")
    order = np.argsort(-s, kind="stable")
    s, y = s[order], y[order]
    last_of_tie = np.r_[np.flatnonzero(np.diff(s)), len(s) - 1]
    tp = np.cumsum(y)[last_of_tie]
    precision = tp / (last_of_tie + 1.0)
    recall_gain = np.diff(np.r_[0, tp]) / y.sum()
    return float(np.sum(recall_gain * precision))


def _fmt(value: float) -> str:
    return "NA" if not np.isfinite(value) else f"{value:.6g}"


# ---------------------------------------------------------------------------------------------- data


@dataclasses.dataclass
class Windows:
    """Training windows: sequences with their label (1 positive, 0 negative), name, chromosome and kind
    (``positives`` or a negative kind)."""

    seqs: list[str]
    labels: np.ndarray
    names: list[str]
    chroms: list[str]
    kinds: list[str]


def _cut(genome: str | os.PathLike[str], regions: list[Peak], width: int) -> tuple[list[str], list[int], dict]:
    """Windows centred on each region's summit; returns sequences, indices into ``regions`` kept, drop counts.

    Regions are renamed to their index so that kept windows can be traced back to their chromosome; strands
    are ignored (reverse complements are added in training anyway).
    """
    renamed = [dataclasses.replace(r, name=str(i), strand=".") for i, r in enumerate(regions)]
    records, dropped = extract_windows(genome, renamed, width=width, max_n_fraction=MAX_N_FRACTION)
    return [seq for _, seq in records], [int(name) for name, _ in records], dropped


RegionFile = str | os.PathLike[str] | tuple[str, str | os.PathLike[str]]  # a BED file, or (kind, BED file)


@dataclasses.dataclass(frozen=True)
class SpeciesData:
    """The tissue in another species, for TACIT's cross-species windows.

    Attributes
    ----------
    name
        Species name (window names are ``name:OCR``).
    genome
        Its genome FASTA (plain or bgzip, indexed when missing).
    peaks
        narrowPeak of the tissue's OCRs in that species, in its own coordinates.
    orthologs
        narrowPeak of the reference OCRs' orthologs in that species (column 4 = reference OCR, summit set), as
        the workflow's ``results/{tissue}/orthologs/{species}.narrowPeak``.
    """

    name: str
    genome: str | os.PathLike[str]
    peaks: str | os.PathLike[str]
    orthologs: str | os.PathLike[str]


def species_regions(species: SpeciesData, reference_chrom: dict[str, str]
                    ) -> tuple[list[Peak], list[str], list[Peak], list[str], dict[str, int], dict[str, int]]:
    """A species' positive and closed-ortholog regions, each with the reference chromosome that sets its split.

    Orthologs of reference positives (``reference_chrom``: OCR name -> reference chromosome) overlapping none
    of the species' own OCRs are negatives (the region is closed there: TACIT's main negatives), centred on
    the ortholog's summit. The species' OCRs overlapping an ortholog of a reference positive are positives,
    centred on their own summit, and take that OCR's reference chromosome, so that a held-out chromosome holds
    out its orthologous regions in every species; OCRs overlapping no such ortholog are dropped
    (``no_reference_ortholog``).

    Returns
    -------
    positives, positive_chroms, negatives, negative_chroms, positive_counts, negative_counts
        Counts: ``requested`` (OCRs or orthologs read) and the reasons for dropping before any window is cut:
        ``no_reference_ortholog`` (positives); ``not_a_positive`` (orthologs of OCRs that are not reference
        positives) and ``open_in_species`` (orthologs overlapping the species' OCRs) for negatives.
    """
    peaks = read_narrowpeak(species.peaks)
    orthologs = read_narrowpeak(species.orthologs)
    usable = [o for o in orthologs if o.name in reference_chrom]
    hit = neg.overlapping_index(peaks, usable)  # the ortholog each species OCR overlaps most
    positives = [dataclasses.replace(p, name=f"{species.name}:{usable[h].name}")
                 for p, h in zip(peaks, hit.tolist()) if h >= 0]
    positive_chroms = [reference_chrom[usable[h].name] for h in hit.tolist() if h >= 0]
    closed = np.flatnonzero(neg.overlapping_index(usable, peaks) < 0).tolist()  # orthologs overlapping no OCR
    negatives = [dataclasses.replace(usable[i], name=f"{species.name}:{usable[i].name}") for i in closed]
    negative_chroms = [reference_chrom[usable[i].name] for i in closed]
    return (positives, positive_chroms, negatives, negative_chroms,
            {"requested": len(peaks), "no_reference_ortholog": int((hit < 0).sum())},
            {"requested": len(orthologs), "not_a_positive": len(orthologs) - len(usable),
             "open_in_species": len(usable) - len(closed)})


def _region_kinds(negatives: Sequence[RegionFile],
                  closed_orthologs: Sequence[str | os.PathLike[str]]) -> dict[str, list[str | os.PathLike[str]]]:
    """BED files per kind, kinds in order of first appearance (``closed_orthologs`` after the others)."""
    files: dict[str, list] = {}
    for item in negatives:
        kind, path = item if isinstance(item, tuple) else (neg.DEFAULT_KIND, item)
        files.setdefault(kind, []).append(path)
    for path in closed_orthologs:
        files.setdefault("closed_orthologs", []).append(path)
    return files


def load_windows(genome: str | os.PathLike[str], positives: Sequence[str | os.PathLike[str]],
                 negatives: Sequence[RegionFile], width: int, *,
                 closed_orthologs: Sequence[str | os.PathLike[str]] = (),
                 other_tissue_peaks: Sequence[str | os.PathLike[str]] = (), gc_matched: float = 0.0,
                 shuffled: int = 0, seed: int = 1, species: Sequence[SpeciesData] = ()
                 ) -> tuple[Windows, dict[str, dict]]:
    """Cut positive (summit-centred) windows and negative windows of every kind asked for.

    Parameters
    ----------
    negatives
        BED files (kind ``bed``) or ``(kind, BED)`` pairs; windows centred on interval midpoints.
    closed_orthologs
        BED files of kind ``closed_orthologs``: regions whose orthologs are closed in the tissue.
    other_tissue_peaks
        narrowPeak files of other tissues' OCRs (kind ``other_tissue``); windows overlapping a positive dropped.
    gc_matched
        GC-matched genome windows per kept positive (kind ``gc_matched``; :func:`tacit.negatives.gc_matched_windows`).
    shuffled
        Dinucleotide shuffles per kept positive (kind ``shuffled``).
    seed
        Seed of the generated kinds.
    species
        The tissue in other species (:func:`species_regions`): their OCRs add positives and the orthologs of
        reference positives closed there add ``closed_orthologs`` negatives, cut from their genomes and held
        out with their reference chromosome. GC-matched and shuffled negatives follow the reference positives.

    Returns
    -------
    windows, report
        All kept windows: positives first, then negatives kind by kind (BED kinds, ``other_tissue``,
        ``gc_matched``, ``shuffled``); and per kind the :data:`COUNT_COLUMNS` (``requested``: regions read,
        or windows asked for of a generated kind).

    Raises
    ------
    InputError
        ``gc_matched`` or ``shuffled`` negative (checked before any file is read), no negative of any kind asked
        for, plus the errors of reading peaks, BED and genome.
    """
    if not gc_matched >= 0:
        raise InputError(f"GC-matched negatives per positive must be >= 0, got {gc_matched:g}")
    if shuffled < 0:
        raise InputError(f"shuffled negatives per positive must be >= 0, got {shuffled}")
    region_files = _region_kinds(negatives, closed_orthologs)
    if not (region_files or other_tissue_peaks or gc_matched or shuffled or species):
        raise InputError("no negatives: give BED negatives, closed orthologs, other tissues' peaks, GC-matched or "
                         "shuffled negatives, or the tissue in other species")
    windows = Windows([], np.zeros(0, dtype=np.int8), [], [], [])
    labels: list[int] = []
    report: dict[str, dict] = {}

    def extend(kind: str, seqs: list[str], names: list[str], chroms: list[str], counts: dict[str, int]) -> None:
        windows.seqs.extend(seqs)
        windows.names.extend(names)
        windows.chroms.extend(chroms)
        windows.kinds.extend([kind] * len(seqs))
        labels.extend([int(kind == "positives")] * len(seqs))
        total = report.setdefault(kind, dict.fromkeys(COUNT_COLUMNS, 0))  # a kind may come from several sources
        for key, value in {**counts, "kept": len(seqs)}.items():
            total[key] = total.get(key, 0) + value

    def add(kind: str, regions: list[Peak], counts: dict[str, int], source: str | os.PathLike[str] = genome,
            chroms: list[str] | None = None) -> list[str]:
        """Windows of ``regions`` cut from ``source``; ``chroms`` (per region) sets their split, else their own."""
        kept_seqs, kept, dropped = _cut(source, regions, width)
        split_chroms = [regions[i].chrom for i in kept] if chroms is None else [chroms[i] for i in kept]
        extend(kind, kept_seqs, [regions[i].name for i in kept], split_chroms,
               {"requested": len(regions), **counts, **dropped})
        return kept_seqs

    pos = [p for path in positives for p in read_narrowpeak(path)]
    pos_seqs = add("positives", pos, {})
    pos_names, pos_chroms = windows.names[:], windows.chroms[:]
    reference_chrom = {p.name: p.chrom for p in pos}
    for other in species:
        sp_pos, sp_pos_chroms, sp_neg, sp_neg_chroms, pos_counts, neg_counts = species_regions(other, reference_chrom)
        log.info("%s: %d OCRs, %d of them positives; %d orthologs of reference positives closed there", other.name,
                 pos_counts["requested"], len(sp_pos), len(sp_neg))
        add("positives", sp_pos, pos_counts, other.genome, sp_pos_chroms)
        add("closed_orthologs", sp_neg, neg_counts, other.genome, sp_neg_chroms)
    for kind, paths in region_files.items():
        add(kind, [Peak(i.chrom, i.start, i.end, i.name, (i.start + i.end) // 2)
                   for path in paths for i in read_bed(path)], {})
    blocked = neg.Blocked.around_peaks(pos, width) if other_tissue_peaks or gc_matched else None
    if other_tissue_peaks:
        other = [p for path in other_tissue_peaks for p in read_narrowpeak(path)]
        clear, overlapping = neg.drop_overlapping(other, blocked, width)
        add("other_tissue", clear, {"requested": len(other), "overlaps_positive": overlapping})
    if gc_matched:
        regions, counts = neg.gc_matched_windows(genome, pos_seqs, pos_chroms, blocked, width, gc_matched, seed,
                                                 MAX_N_FRACTION)
        add("gc_matched", regions, counts)
    if shuffled:
        seqs, names, chroms = neg.shuffled_windows(pos_seqs, pos_names, pos_chroms, shuffled, seed)
        extend("shuffled", seqs, names, chroms, {"requested": len(seqs)})
    for kind, r in report.items():
        log.info("%s: %d requested, %d windows kept, dropped: %s", kind, r["requested"], r["kept"],
                 ", ".join(f"{k} {v}" for k, v in r.items() if k not in ("requested", "kept")))
    windows.labels = np.array(labels, dtype=np.int8)
    return windows, report


def assign_splits(chroms: Sequence[str], val_chroms: Sequence[str], test_chroms: Sequence[str]) -> np.ndarray:
    """Split name per window: ``validation`` or ``test`` for windows on those chromosomes, else ``train``.

    Raises
    ------
    InputError
        A chromosome listed as both validation and test.
    """
    both = sorted(set(val_chroms) & set(test_chroms))
    if both:
        raise InputError(f"chromosome(s) {', '.join(both)} listed as both validation and test")
    lookup = {**{c: "validation" for c in val_chroms}, **{c: "test" for c in test_chroms}}
    return np.array([lookup.get(c, "train") for c in chroms], dtype=object)


# ---------------------------------------------------------------------------------------------- training


def _callbacks(epochs: int, patience: int, monitor: bool):
    """Keras callbacks: a log line per epoch and, when ``monitor``, early stopping on ``val_auprc`` (ties broken
    by ``val_loss``) that restores the best epoch's weights at the end (also when all epochs ran)."""
    import keras

    class EpochLog(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.started = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            values = ", ".join(f"{k} {v:.4f}" for k, v in sorted((logs or {}).items()))
            log.info("epoch %d/%d: %s (%.1f s)", epoch + 1, epochs, values, time.perf_counter() - self.started)

    class BestOnValidationAUPRC(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            self.best, self.best_epoch, self.best_weights, self.wait = (-np.inf, np.inf), 0, None, 0

        def on_epoch_end(self, epoch, logs=None):
            logs = logs or {}
            # Higher AUPRC wins; a tie (e.g. a saturated AUPRC of 1) goes to the lower validation loss.
            value = (float(logs.get("val_auprc", np.nan)), float(logs.get("val_loss", np.nan)))
            if value[0] > self.best[0] or (value[0] == self.best[0] and value[1] < self.best[1]):
                self.best, self.best_epoch, self.wait = value, epoch + 1, 0
                self.best_weights = self.model.get_weights()
            else:
                self.wait += 1
                if self.wait >= patience:
                    log.info("no validation AUPRC gain for %d epochs: stopping", patience)
                    self.model.stop_training = True

        def on_train_end(self, logs=None):
            if self.best_weights is not None:
                self.model.set_weights(self.best_weights)
                log.info("kept the weights of epoch %d (validation AUPRC %.4f, loss %.4f)", self.best_epoch,
                         *self.best)

    return [EpochLog()] + ([BestOnValidationAUPRC()] if monitor else [])


def fit(spec: dict, x: dict[str, np.ndarray], y: dict[str, np.ndarray], seed: int):
    """Build and train the spec's model on ``x['train']`` (+ reverse complements); validate on
    ``x['validation']`` when it has both classes.

    Returns
    -------
    model, history, best_epoch
        The trained Keras model (best validation epoch's weights), the per-epoch history as a dict of
        lists (``epoch`` and :data:`HISTORY_COLUMNS`), and the epoch kept (the last when not monitored).
    """
    import keras

    from .encoding import reverse_complement_onehot
    from .model import build_model

    settings = spec["training"]
    model = build_model(spec, seed)
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=settings["learning_rate"], name="adam"),
                  loss="binary_crossentropy",
                  metrics=[keras.metrics.AUC(curve="ROC", name="auroc"), keras.metrics.AUC(curve="PR", name="auprc")])
    x_train = np.concatenate([x["train"], reverse_complement_onehot(x["train"])])
    y_train = np.concatenate([y["train"], y["train"]]).astype(np.float32)
    n_pos = int(y["train"].sum())
    n_neg = len(y["train"]) - n_pos
    # Balanced weights: each class contributes half of the loss whatever its share of the windows.
    class_weight = {0: len(y["train"]) / (2.0 * n_neg), 1: len(y["train"]) / (2.0 * n_pos)}
    monitor = _has_both_classes(y["validation"])
    if not monitor:
        log.warning("validation chromosomes lack positives or negatives: no early stopping, all %d epochs run",
                    settings["epochs"])
    validation = (x["validation"], y["validation"].astype(np.float32)) if monitor else None
    callbacks = _callbacks(settings["epochs"], settings["patience"], monitor)
    result = model.fit(x_train, y_train, batch_size=settings["batch_size"], epochs=settings["epochs"],
                       validation_data=validation, class_weight=class_weight, shuffle=True, verbose=0,
                       callbacks=callbacks)
    n_epochs = len(result.history["loss"])
    history = {"epoch": list(range(1, n_epochs + 1))}
    for column in HISTORY_COLUMNS[1:]:
        history[column] = result.history.get(column, [float("nan")] * n_epochs)
    best_epoch = callbacks[-1].best_epoch if monitor else n_epochs
    return model, history, best_epoch


# ---------------------------------------------------------------------------------------------- outputs


def _write_tsv(path: Path, columns: Sequence[str], rows: Sequence[Sequence[object]]) -> None:
    with atomic_writer(path) as handle:
        handle.write("\t".join(columns) + "\n")
        for row in rows:
            handle.write("\t".join(_fmt(v) if isinstance(v, float) else str(v) for v in row) + "\n")


def _card(template: Path, fields: dict) -> str:
    try:
        text = template.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputError("model card template not found", template) from None
    try:
        return text.format(**fields)
    except (KeyError, IndexError, ValueError) as err:
        raise InputError(f"model card template has an unknown or malformed placeholder: {err}", template) from None


def score_metrics(labels: np.ndarray, scores: np.ndarray, kinds: np.ndarray,
                  negative_kinds: Sequence[str]) -> dict[str, float]:
    """``n_pos``, ``n_neg``, ``auroc``, ``auprc`` of one split against all its negatives, then
    ``n_neg_{kind}``, ``auroc_{kind}``, ``auprc_{kind}`` against each kind's negatives alone (NaN where the
    split has no window of that kind)."""
    metrics = {"n_pos": int(labels.sum()), "n_neg": int((labels == 0).sum()),
               "auroc": auroc(labels, scores), "auprc": auprc(labels, scores)}
    for kind in negative_kinds:
        keep = (labels == 1) | (kinds == kind)
        metrics[f"n_neg_{kind}"] = int(np.sum(kinds == kind))
        metrics[f"auroc_{kind}"] = auroc(labels[keep], scores[keep])
        metrics[f"auprc_{kind}"] = auprc(labels[keep], scores[keep])
    return metrics


def _window_counts(report: dict[str, dict], windows: Windows, splits: np.ndarray) -> list[list[object]]:
    """Rows of ``windows.tsv``: per kind its label, counts and kept windows per split."""
    kinds = np.array(windows.kinds, dtype=object)
    return [[kind, int(kind == "positives"), r["requested"], r["kept"],
             *(int(np.sum((kinds == kind) & (splits == name))) for name in SPLITS),
             *(r[c] for c in COUNT_COLUMNS[2:])] for kind, r in report.items()]


def _markdown_rows(rows: Sequence[Sequence[object]]) -> str:
    return "\n".join("| " + " | ".join(_fmt(v) if isinstance(v, float) else str(v) for v in row) + " |"
                     for row in rows)


def _negatives_text(negatives: Sequence[RegionFile], closed_orthologs: Sequence[str | os.PathLike[str]],
                    other_tissue_peaks: Sequence[str | os.PathLike[str]], gc_matched: float, shuffled: int) -> str:
    """The model card's list of the negatives asked for, one Markdown item per kind."""
    parts = [f"{kind}: {', '.join(Path(p).name for p in paths)} (windows centred on interval midpoints)"
             for kind, paths in _region_kinds(negatives, closed_orthologs).items()]
    if other_tissue_peaks:
        parts.append("other_tissue: other tissues' OCRs from " + ", ".join(Path(p).name for p in other_tissue_peaks)
                     + " (windows centred on summits, those overlapping a positive dropped)")
    if gc_matched:
        parts.append(f"gc_matched: {gc_matched:g} genome window(s) per positive matching the positives' GC content "
                     f"({neg.GC_BINS} bins), overlapping no positive")
    if shuffled:
        parts.append(f"shuffled: {shuffled} dinucleotide shuffle(s) of each positive window")
    return "\n".join(f"- {part}" for part in parts)


def train(spec: dict | str | os.PathLike[str], genome_fasta: str | os.PathLike[str],
          positives: Sequence[str | os.PathLike[str]], negatives: Sequence[RegionFile],
          out_dir: str | os.PathLike[str], width: int, val_chroms: Sequence[str], test_chroms: Sequence[str],
          seed: int = 1, threads: int | None = None, tissue: str = "tissue",
          card_template: str | os.PathLike[str] = CARD_TEMPLATE, *,
          closed_orthologs: Sequence[str | os.PathLike[str]] = (),
          other_tissue_peaks: Sequence[str | os.PathLike[str]] = (), gc_matched: float = 0.0,
          shuffled: int = 0, species: Sequence[SpeciesData] = ()) -> dict[str, dict[str, float]]:
    """Train a tissue CNN and write ``model.keras``, ``metrics.tsv``, ``history.tsv``,
    ``heldout_predictions.tsv``, ``windows.tsv`` and ``card.md`` into ``out_dir`` (each atomically).

    Parameters
    ----------
    spec
        A validated spec (:func:`tacit.model.load_spec`) or the path of its JSON file.
    genome_fasta
        Reference genome FASTA with its ``.fai`` (built when missing).
    positives, negatives
        narrowPeak files of the tissue's OCRs (windows centred on summits); BED files of negative regions
        (windows centred on midpoints), kind ``bed``, or ``(kind, BED)`` pairs.
    width
        Window length in bp; must equal the spec's ``input_length``.
    val_chroms, test_chroms
        Held-out chromosomes (of windows of every kind); every other chromosome trains.
    seed, threads
        Random seed (weights, shuffling, dropout, generated negatives) and intra-op threads (``None``:
        TensorFlow's default).
    tissue
        Name for the model card.
    closed_orthologs, other_tissue_peaks, gc_matched, shuffled, species
        More negative kinds and the tissue in other species: see :func:`load_windows`.

    Returns
    -------
    dict
        Per split: ``n_pos``, ``n_neg``, ``auroc``, ``auprc`` of RC-averaged scores (NaN without both classes),
        and the same against each negative kind alone (:func:`score_metrics`).

    Raises
    ------
    InputError
        ``width`` differs from the spec's input length; a chromosome is both validation and test; the training
        chromosomes lack positives or negatives; plus the errors of :func:`load_windows` and of reading the spec.
    """
    from .model import configure_tensorflow, load_spec, save_model
    from .scoring import predict_rc_average

    spec_source = spec if not isinstance(spec, dict) else None
    if spec_source is not None:
        spec = load_spec(spec_source)
    if width != spec["input_length"]:
        raise InputError(f"--width {width} differs from the model's input_length {spec['input_length']}",
                         spec_source)
    out = Path(out_dir)
    windows, report = load_windows(genome_fasta, positives, negatives, width, closed_orthologs=closed_orthologs,
                                   other_tissue_peaks=other_tissue_peaks, gc_matched=gc_matched, shuffled=shuffled,
                                   seed=seed, species=species)
    splits = assign_splits(windows.chroms, val_chroms, test_chroms)
    train_labels = windows.labels[splits == "train"]
    if not _has_both_classes(train_labels):
        raise InputError(f"the training chromosomes have {int(train_labels.sum())} positive and "
                         f"{int((train_labels == 0).sum())} negative windows; both are needed "
                         "(check --val-chroms/--test-chroms against the genome's chromosome names)")
    configure_tensorflow(threads)

    from .encoding import one_hot

    x = {name: one_hot([s for s, k in zip(windows.seqs, splits) if k == name], width) for name in SPLITS}
    y = {name: windows.labels[splits == name] for name in SPLITS}
    for name in SPLITS:
        log.info("%s: %d positive, %d negative windows", name, int(y[name].sum()), int((y[name] == 0).sum()))
    model, history, best_epoch = fit(spec, x, y, seed)
    batch = max(256, spec["training"]["batch_size"])
    scores = {name: predict_rc_average(model, x[name], batch) for name in SPLITS}
    kinds = np.array(windows.kinds, dtype=object)
    negative_kinds = [kind for kind in report if kind != "positives"]
    metrics = {name: score_metrics(y[name], scores[name], kinds[splits == name], negative_kinds) for name in SPLITS}
    for name in SPLITS:
        log.info("%s: AUROC %s, AUPRC %s; by negative kind: %s", name, _fmt(metrics[name]["auroc"]),
                 _fmt(metrics[name]["auprc"]), ", ".join(
                     f"{k} {_fmt(metrics[name][f'auroc_{k}'])}/{_fmt(metrics[name][f'auprc_{k}'])}"
                     for k in negative_kinds))

    save_model(model, out / "model.keras")
    columns = [*METRICS_COLUMNS] + [f"{m}_{k}" for k in negative_kinds for m in ("n_neg", "auroc", "auprc")]
    _write_tsv(out / "metrics.tsv", columns, [[name, *(m[c] for c in columns[1:])] for name, m in metrics.items()])
    _write_tsv(out / "history.tsv", HISTORY_COLUMNS,
               [[history[c][i] if c == "epoch" else float(history[c][i]) for c in HISTORY_COLUMNS]
                for i in range(len(history["epoch"]))])
    heldout = []
    for name in ("validation", "test"):
        idx = np.flatnonzero(splits == name)
        heldout += [[windows.names[i], windows.chroms[i], int(windows.labels[i]), float(s), name, windows.kinds[i]]
                    for i, s in zip(idx, scores[name])]
    _write_tsv(out / "heldout_predictions.tsv", HELDOUT_COLUMNS, heldout)
    counts = _window_counts(report, windows, splits)
    _write_tsv(out / "windows.tsv", WINDOWS_COLUMNS, counts)

    by_kind = [[name, k, m["n_pos"], m[f"n_neg_{k}"], m[f"auroc_{k}"], m[f"auprc_{k}"]]
               for name, m in metrics.items() for k in negative_kinds if m[f"n_neg_{k}"]]
    fields = {
        "tissue": tissue, "genome": Path(genome_fasta).name, "seed": seed, "threads": threads or "default",
        "windows_table": _markdown_rows(counts), "kind_metrics_table": _markdown_rows(by_kind),
        "metrics_table": _markdown_rows([[name, m["n_pos"], m["n_neg"], m["auroc"], m["auprc"]]
                                         for name, m in metrics.items()]),
        "val_chroms": ", ".join(val_chroms) or "none", "test_chroms": ", ".join(test_chroms) or "none",
        "positives": ", ".join(Path(p).name for p in positives) + "".join(
            f"; {s.name}: {Path(s.peaks).name} (its OCRs overlapping orthologs of reference OCRs)" for s in species),
        "negatives": _negatives_text(negatives, closed_orthologs, other_tissue_peaks, gc_matched, shuffled)
        + "".join(f"\n- closed_orthologs in {s.name}: orthologs of reference OCRs ({Path(s.orthologs).name}) "
                  "overlapping none of its OCRs, cut from its genome" for s in species),
        "epochs_run": len(history["epoch"]), "best_epoch": best_epoch,
    }
    with atomic_writer(out / "card.md") as handle:
        handle.write(_card(Path(card_template), {**fields, **_spec_and_versions(spec)}))
    return metrics


def _spec_and_versions(spec: dict) -> dict[str, object]:
    """Model card fields of the architecture, training settings and library versions."""
    import keras
    import tensorflow as tf

    from .model import count_params, flops_per_sequence

    return {
        "spec_name": spec["name"], "spec_description": spec["description"] or "-",
        "input_length": spec["input_length"], "n_params": f"{count_params(spec):,}",
        "flops": f"{flops_per_sequence(spec):,}", **{f"training_{k}": v for k, v in spec["training"].items()},
        "tensorflow_version": tf.__version__, "keras_version": keras.__version__,
        "python_version": platform.python_version(), "numpy_version": np.__version__,
    }
