"""Scoring sequences with a trained CNN: the mean of the predictions on each sequence and its reverse complement.

FASTA records are read and scored in chunks, so memory stays bounded whatever the number of orthologs. A GPU
is used when TensorFlow sees one.

Precision (:data:`PRECISIONS`): a saved model keeps float32 weights; for scoring it can be cloned under a Keras
mixed-precision policy, which computes in 16-bit floats and keeps weights and the output layer in float32.
``auto`` (the default) scores in ``mixed_float16`` when TensorFlow sees a GPU (tensor cores) and in float32 on a
CPU, so CPU scores are reproducible to float32 round-off. ``mixed_bfloat16`` is for CPUs with bfloat16 matrix
units (Intel AMX, AVX512-BF16): ~4x faster than float32 there (``benchmarks/scoring.py``), with scores ~1e-4 from
float32's on average and 1.4e-3 at most on the demo model (bfloat16 keeps 8 significant bits of each input and
weight; sums are accumulated in float32).
"""

from __future__ import annotations

import logging
import os
import time

import numpy as np

from .encoding import one_hot, reverse_complement_onehot
from .errors import InputError
from .io import atomic_writer
from .sequences import read_fasta

log = logging.getLogger(__name__)

DEFAULT_BATCH_SIZE = 256
LOG_EVERY = 10_000
PRECISIONS = ("auto", "float32", "mixed_float16", "mixed_bfloat16")


def resolve_precision(precision: str) -> str:
    """The Keras dtype policy name for ``precision``: ``auto`` is ``mixed_float16`` when TensorFlow sees a GPU,
    else ``float32``; other values are returned as they are. An unknown name is an InputError."""
    if precision not in PRECISIONS:
        raise InputError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
    if precision != "auto":
        return precision
    import tensorflow as tf

    return "mixed_float16" if tf.config.list_physical_devices("GPU") else "float32"


def with_precision(model, policy: str):
    """``model`` itself for ``float32``, else a copy whose layers compute under the Keras dtype policy ``policy``
    (weights copied; the layers that produce the model's outputs stay float32, so sigmoid outputs are float32)."""
    if policy == "float32":
        return model
    import keras

    outputs = {tensor._keras_history[0].name for tensor in model.outputs}

    def clone_layer(layer):
        config = layer.get_config()
        config["dtype"] = keras.DTypePolicy("float32" if layer.name in outputs else policy)
        return layer.__class__.from_config(config)

    clone = keras.models.clone_model(model, clone_function=clone_layer)
    clone.set_weights(model.get_weights())
    return clone


def predict_rc_average(model, x: np.ndarray, batch_size: int = DEFAULT_BATCH_SIZE) -> np.ndarray:
    """Mean of ``model`` on one-hot sequences ``x`` ``(n, width, 4)`` and on their reverse complements.

    Each batch of ``batch_size`` sequences is stacked with its reverse complements and scored in one call.

    Returns
    -------
    numpy.ndarray
        float64 scores, shape ``(n,)``.
    """
    scores = np.empty(len(x), dtype=np.float64)
    for start in range(0, len(x), batch_size):
        chunk = x[start:start + batch_size]
        both = np.concatenate([chunk, reverse_complement_onehot(chunk)])
        out = np.asarray(model.predict_on_batch(both), dtype=np.float64).reshape(-1)
        scores[start:start + len(chunk)] = (out[:len(chunk)] + out[len(chunk):]) / 2.0
    return scores


def _chunks(fasta_path: str | os.PathLike[str], size: int, width: int, part: tuple[int, int] = (0, 1)):
    """Lists of up to ``size`` ``(id, sequence)`` records; a record of the wrong length is an InputError.

    ``part = (k, n)`` keeps batches ``k, k + n, k + 2n, ...`` of ``size`` consecutive records (0-based, in file
    order): parts need no count of the records first, and every batch holds the same records whatever ``n``,
    so scores do not depend on how the work was split.
    """
    chunk = []
    k, n = part
    for i, (name, seq) in enumerate(read_fasta(fasta_path)):
        if (i // size) % n != k:
            continue
        if len(seq) != width:
            raise InputError(f"record {name!r} has {len(seq)} bp; the model scores {width}-bp sequences "
                             "(cut windows with the model's width)", fasta_path)
        chunk.append((name, seq))
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def score_fasta(model_path: str | os.PathLike[str], fasta_path: str | os.PathLike[str],
                out_path: str | os.PathLike[str], batch_size: int = DEFAULT_BATCH_SIZE, threads: int | None = None,
                log_every: int = LOG_EVERY, part: tuple[int, int] = (0, 1), precision: str = "auto") -> int:
    """Score every record of a FASTA file and write ``id<TAB>score`` (with that header line) atomically.

    Parameters
    ----------
    model_path
        ``.keras`` (or legacy ``.h5``) model whose input is ``(width, 4)`` one-hot.
    fasta_path
        Plain or gzip FASTA; every record must be ``width`` bp. An empty file gives a header-only table (a
        species may have no orthologs).
    out_path
        Output TSV (``.gz`` for gzip); scores rounded to 6 significant digits, in FASTA order.
    batch_size
        Sequences per model call (twice as many rows go through the model, with reverse complements).
    threads
        Intra-op threads for TensorFlow (``None``: its default).
    log_every
        A progress line is logged every this many sequences.
    part
        ``(k, n)``: score only batches ``k, k + n, ...`` of ``batch_size`` records (a scattered job); the parts'
        tables together hold every record once, with the scores of an unsplit run.
    precision
        One of :data:`PRECISIONS` (see the module's docstring); the policy used is logged.

    Returns
    -------
    int
        Number of sequences scored.

    Raises
    ------
    InputError
        The model or FASTA cannot be read, or a record's length differs from the model's input length (naming
        the file and record), or ``precision`` is unknown.
    """
    from .model import configure_tensorflow, load_model

    if batch_size < 1:
        raise InputError(f"batch size must be >= 1, got {batch_size}")
    if not 0 <= part[0] < part[1]:
        raise InputError(f"part {part[0]} of {part[1]} does not exist")
    configure_tensorflow(threads)
    policy = resolve_precision(precision)
    model = with_precision(load_model(model_path), policy)
    log.info("scoring in %s (precision %s)", policy, precision)
    width = int(model.input_shape[1])
    count, next_log, started = 0, log_every, time.perf_counter()
    with atomic_writer(out_path) as handle:
        handle.write("id\tscore\n")
        for chunk in _chunks(fasta_path, batch_size, width, part):
            scores = predict_rc_average(model, one_hot([seq for _, seq in chunk], width), batch_size)
            handle.writelines(f"{name}\t{score:.6g}\n" for (name, _), score in zip(chunk, scores))
            count += len(chunk)
            if count >= next_log:
                rate = count / max(time.perf_counter() - started, 1e-9)
                log.info("scored %d sequences (%.0f per second)", count, rate)
                next_log += log_every
    log.info("scored %d sequences of %s in %.1f s", count, fasta_path, time.perf_counter() - started)
    return count
