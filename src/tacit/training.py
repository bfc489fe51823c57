"""Training a tissue CNN: reference OCRs (positives) against negative regions, with whole chromosomes held out.

Positives are windows centred on narrowPeak summits, negatives windows centred on the midpoints of BED
intervals; both are cut with :func:`tacit.sequences.extract_windows` (windows off a chromosome end, on a
sequence missing from the genome, or with more than 5% non-ACGT bases are dropped and counted). Overlap
between positives and negatives is not removed: the negative set is the user's choice.

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

from .errors import InputError
from .io import atomic_writer
from .peaks import Peak, read_bed, read_narrowpeak
from .sequences import extract_windows

log = logging.getLogger(__name__)

SPLITS = ("train", "validation", "test")
METRICS_COLUMNS = ("split", "n_pos", "n_neg", "auroc", "auprc")
HISTORY_COLUMNS = ("epoch", "loss", "val_loss", "val_auroc", "val_auprc")
HELDOUT_COLUMNS = ("name", "chrom", "label", "score", "split")
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
    """Training windows: sequences with their label (1 positive, 0 negative), name and chromosome."""

    seqs: list[str]
    labels: np.ndarray
    names: list[str]
    chroms: list[str]


def _cut(genome: str | os.PathLike[str], regions: list[Peak], width: int) -> tuple[list[str], list[int], dict]:
    """Windows centred on each region's summit; returns sequences, indices into ``regions`` kept, drop counts.

    Regions are renamed to their index so that kept windows can be traced back to their chromosome; strands
    are ignored (reverse complements are added in training anyway).
    """
    renamed = [dataclasses.replace(r, name=str(i), strand=".") for i, r in enumerate(regions)]
    records, dropped = extract_windows(genome, renamed, width=width, max_n_fraction=MAX_N_FRACTION)
    return [seq for _, seq in records], [int(name) for name, _ in records], dropped


def load_windows(genome: str | os.PathLike[str], positives: Sequence[str | os.PathLike[str]],
                 negatives: Sequence[str | os.PathLike[str]], width: int) -> tuple[Windows, dict[str, dict]]:
    """Cut positive (summit-centred) and negative (midpoint-centred) windows from the genome.

    Returns
    -------
    windows, report
        All kept windows, positives first; and per kind (``positives``, ``negatives``) the number of regions
        read, windows kept and windows dropped by reason.
    """
    pos = [p for path in positives for p in read_narrowpeak(path)]
    neg = [Peak(i.chrom, i.start, i.end, i.name, (i.start + i.end) // 2) for path in negatives for i in read_bed(path)]
    seqs: list[str] = []
    labels: list[int] = []
    names: list[str] = []
    chroms: list[str] = []
    report = {}
    for kind, regions, label in (("positives", pos, 1), ("negatives", neg, 0)):
        kept_seqs, kept, dropped = _cut(genome, regions, width)
        seqs += kept_seqs
        labels += [label] * len(kept)
        names += [regions[i].name for i in kept]
        chroms += [regions[i].chrom for i in kept]
        report[kind] = {"regions": len(regions), "kept": len(kept), **dropped}
        log.info("%s: %d regions, %d windows kept, dropped: %s", kind, len(regions), len(kept),
                 ", ".join(f"{k} {v}" for k, v in dropped.items()))
    return Windows(seqs, np.array(labels, dtype=np.int8), names, chroms), report


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


def train(spec: dict | str | os.PathLike[str], genome_fasta: str | os.PathLike[str],
          positives: Sequence[str | os.PathLike[str]], negatives: Sequence[str | os.PathLike[str]],
          out_dir: str | os.PathLike[str], width: int, val_chroms: Sequence[str], test_chroms: Sequence[str],
          seed: int = 1, threads: int | None = None, tissue: str = "tissue",
          card_template: str | os.PathLike[str] = CARD_TEMPLATE) -> dict[str, dict[str, float]]:
    """Train a tissue CNN and write ``model.keras``, ``metrics.tsv``, ``history.tsv``,
    ``heldout_predictions.tsv`` and ``card.md`` into ``out_dir`` (each atomically).

    Parameters
    ----------
    spec
        A validated spec (:func:`tacit.model.load_spec`) or the path of its JSON file.
    genome_fasta
        Reference genome FASTA with its ``.fai`` (built when missing).
    positives, negatives
        narrowPeak files of the tissue's OCRs (windows centred on summits); BED files of negative regions
        (windows centred on midpoints).
    width
        Window length in bp; must equal the spec's ``input_length``.
    val_chroms, test_chroms
        Held-out chromosomes; every other chromosome trains.
    seed, threads
        Random seed (weights, shuffling, dropout) and intra-op threads (``None``: TensorFlow's default).
    tissue
        Name for the model card.

    Returns
    -------
    dict
        Per split: ``n_pos``, ``n_neg``, ``auroc``, ``auprc`` of RC-averaged scores (NaN without both classes).

    Raises
    ------
    InputError
        ``width`` differs from the spec's input length; a chromosome is both validation and test; the training
        chromosomes lack positives or negatives; plus the errors of reading peaks, BED, spec and genome.
    """
    from .model import configure_tensorflow, count_params, flops_per_sequence, load_spec, save_model
    from .scoring import predict_rc_average

    spec_source = spec if not isinstance(spec, dict) else None
    if spec_source is not None:
        spec = load_spec(spec_source)
    if width != spec["input_length"]:
        raise InputError(f"--width {width} differs from the model's input_length {spec['input_length']}",
                         spec_source)
    out = Path(out_dir)
    windows, report = load_windows(genome_fasta, positives, negatives, width)
    splits = assign_splits(windows.chroms, val_chroms, test_chroms)
    train_labels = windows.labels[splits == "train"]
    if not _has_both_classes(train_labels):
        raise InputError(f"the training chromosomes have {int(train_labels.sum())} positive and "
                         f"{int((train_labels == 0).sum())} negative windows; both are needed "
                         "(check --val-chroms/--test-chroms against the genome's chromosome names)")
    configure_tensorflow(threads)
    import tensorflow as tf

    from .encoding import one_hot

    x = {name: one_hot([s for s, k in zip(windows.seqs, splits) if k == name], width) for name in SPLITS}
    y = {name: windows.labels[splits == name] for name in SPLITS}
    for name in SPLITS:
        log.info("%s: %d positive, %d negative windows", name, int(y[name].sum()), int((y[name] == 0).sum()))
    model, history, best_epoch = fit(spec, x, y, seed)
    batch = max(256, spec["training"]["batch_size"])
    scores = {name: predict_rc_average(model, x[name], batch) for name in SPLITS}
    metrics = {name: {"n_pos": int(y[name].sum()), "n_neg": int((y[name] == 0).sum()),
                      "auroc": auroc(y[name], scores[name]), "auprc": auprc(y[name], scores[name])}
               for name in SPLITS}
    for name in SPLITS:
        log.info("%s: AUROC %s, AUPRC %s", name, _fmt(metrics[name]["auroc"]), _fmt(metrics[name]["auprc"]))

    save_model(model, out / "model.keras")
    _write_tsv(out / "metrics.tsv", METRICS_COLUMNS,
               [[name, m["n_pos"], m["n_neg"], m["auroc"], m["auprc"]] for name, m in metrics.items()])
    _write_tsv(out / "history.tsv", HISTORY_COLUMNS,
               [[history[c][i] if c == "epoch" else float(history[c][i]) for c in HISTORY_COLUMNS]
                for i in range(len(history["epoch"]))])
    heldout = []
    for name in ("validation", "test"):
        idx = np.flatnonzero(splits == name)
        heldout += [[windows.names[i], windows.chroms[i], int(windows.labels[i]), float(s), name]
                    for i, s in zip(idx, scores[name])]
    _write_tsv(out / "heldout_predictions.tsv", HELDOUT_COLUMNS, heldout)

    rows = "\n".join(f"| {name} | {m['n_pos']} | {m['n_neg']} | {_fmt(m['auroc'])} | {_fmt(m['auprc'])} |"
                     for name, m in metrics.items())
    dropped = "\n".join(f"| {kind} | " + " | ".join(str(r[k]) for k in ("regions", "kept", "off_contig",
                                                                         "missing_chrom", "too_many_n")) + " |"
                        for kind, r in report.items())
    import keras

    fields = {
        "tissue": tissue, "spec_name": spec["name"], "spec_description": spec["description"] or "-",
        "input_length": spec["input_length"], "n_params": f"{count_params(spec):,}",
        "flops": f"{flops_per_sequence(spec):,}", "windows_table": dropped, "metrics_table": rows,
        "val_chroms": ", ".join(val_chroms) or "none", "test_chroms": ", ".join(test_chroms) or "none",
        "positives": ", ".join(Path(p).name for p in positives),
        "negatives": ", ".join(Path(p).name for p in negatives), "genome": Path(genome_fasta).name,
        "seed": seed, "threads": threads or "default", "epochs_run": len(history["epoch"]), "best_epoch": best_epoch,
        **{f"training_{k}": v for k, v in spec["training"].items()},
        "tensorflow_version": tf.__version__, "keras_version": keras.__version__,
        "python_version": platform.python_version(), "numpy_version": np.__version__,
    }
    with atomic_writer(out / "card.md") as handle:
        handle.write(_card(Path(card_template), fields))
    return metrics
