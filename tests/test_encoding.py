"""One-hot encoding: channel order A, C, G, T; unknown bases as zero rows; reverse complement as a flip."""

from __future__ import annotations

import numpy as np
import pytest

from tacit.encoding import one_hot, reverse_complement_onehot
from tacit.sequences import reverse_complement


def test_one_hot_channels_case_and_unknown_bases():
    x = one_hot(["ACGTacgtNRyé"], 12)
    assert x.shape == (1, 12, 4) and x.dtype == np.float32
    expected = np.zeros((12, 4), dtype=np.float32)
    expected[np.arange(8), [0, 1, 2, 3, 0, 1, 2, 3]] = 1  # N, IUPAC and non-ASCII stay zero rows
    np.testing.assert_array_equal(x[0], expected)


def test_one_hot_several_sequences_and_empty_input():
    x = one_hot(["AAC", "TTG"], 3)
    np.testing.assert_array_equal(x.argmax(-1), [[0, 0, 1], [3, 3, 2]])
    assert one_hot([], 5).shape == (0, 5, 4)


def test_one_hot_rejects_wrong_length():
    with pytest.raises(ValueError, match="sequence 1 has length 2, expected 3"):
        one_hot(["ACG", "AC"], 3)


def test_reverse_complement_of_encoding_is_encoding_of_reverse_complement():
    rng = np.random.default_rng(0)
    seqs = ["".join(rng.choice(list("ACGTNacgtRY"), 50)) for _ in range(20)]
    direct = one_hot([reverse_complement(s) for s in seqs], 50)
    np.testing.assert_array_equal(reverse_complement_onehot(one_hot(seqs, 50)), direct)
