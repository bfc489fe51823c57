"""One-hot encoding of DNA for the CNN: ``(n, width, 4)`` float32 with channels in the order A, C, G, T.

Upper and lower case encode alike. N, the other IUPAC codes and any other character become all-zero rows
(not 0.25 each): a zero row contributes nothing to any convolution, so an unknown base is "no evidence"
rather than "a quarter of every base", and the encoding of a sequence's reverse complement stays the exact
reverse of the encoding (:func:`reverse_complement_onehot`).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

ALPHABET = "ACGT"
_UNKNOWN = len(ALPHABET)


def _lookup_table() -> np.ndarray:
    """256-entry table: ASCII code -> channel index 0-3 for A/C/G/T (either case), 4 for everything else."""
    table = np.full(256, _UNKNOWN, dtype=np.uint8)
    for index, base in enumerate(ALPHABET):
        table[ord(base)] = index
        table[ord(base.lower())] = index
    return table


_TABLE = _lookup_table()
# Row k is the encoding of channel index k; row 4 (unknown) is all zeros.
_ROWS = np.vstack([np.eye(len(ALPHABET), dtype=np.float32), np.zeros((1, len(ALPHABET)), dtype=np.float32)])


def one_hot(seqs: Sequence[str], width: int) -> np.ndarray:
    """Encode equal-length DNA strings.

    Parameters
    ----------
    seqs
        Sequences, each exactly ``width`` characters. Non-ASCII characters count as unknown bases.
    width
        Sequence length in bp.

    Returns
    -------
    numpy.ndarray
        float32 array of shape ``(len(seqs), width, 4)``; channel order A, C, G, T; unknown bases are zero rows.

    Raises
    ------
    ValueError
        A sequence whose length is not ``width`` (its index is named). Callers reading files check lengths
        first and report the file and record.
    """
    for index, seq in enumerate(seqs):
        if len(seq) != width:
            raise ValueError(f"sequence {index} has length {len(seq)}, expected {width}")
    if len(seqs) == 0:
        return np.zeros((0, width, len(ALPHABET)), dtype=np.float32)
    raw = np.frombuffer("".join(seqs).encode("ascii", errors="replace"), dtype=np.uint8)
    return _ROWS[_TABLE[raw]].reshape(len(seqs), width, len(ALPHABET))


def reverse_complement_onehot(x: np.ndarray) -> np.ndarray:
    """Reverse complement of one-hot sequences ``(n, width, 4)``: reverse positions and, as the channels are
    A, C, G, T, reverse channels too (A<->T, C<->G). Returns a view."""
    return x[:, ::-1, ::-1]
