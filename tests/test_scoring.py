"""Scoring FASTA files: reverse-complement averaging, chunking, formats, and errors naming file and record."""

from __future__ import annotations

import argparse
import gzip

import numpy as np
import pytest

from tacit.commands import score as score_command
from tacit.encoding import one_hot
from tacit.errors import InputError
from tacit.model import build_model, save_model, validate_spec
from tacit.scoring import score_fasta
from tacit.sequences import reverse_complement, write_fasta

WIDTH = 60
SPEC = validate_spec({"name": "tiny", "input_length": WIDTH,
                      "layers": [{"kind": "conv1d", "filters": 8, "width": 5}, {"kind": "maxpool1d", "size": 4},
                                 {"kind": "flatten"}, {"kind": "dense", "units": 4}]})


@pytest.fixture(scope="module")
def model_path(tmp_path_factory):
    path = tmp_path_factory.mktemp("model") / "model.keras"
    save_model(build_model(SPEC, seed=5), path)
    return path


@pytest.fixture(scope="module")
def records():
    rng = np.random.default_rng(3)
    return [(f"ocr{i}", "".join(rng.choice(list("ACGTN"), WIDTH, p=[0.24, 0.24, 0.24, 0.24, 0.04])))
            for i in range(23)]


def read_table(path):
    lines = (gzip.open(path, "rt") if str(path).endswith(".gz") else open(path)).read().splitlines()
    assert lines[0] == "id\tscore"
    return [line.split("\t")[0] for line in lines[1:]], np.array([float(line.split("\t")[1]) for line in lines[1:]])


def test_scores_are_mean_of_forward_and_reverse_complement(model_path, records, tmp_path):
    import keras

    write_fasta(records, tmp_path / "seqs.fa.gz")
    # batch_size 5 splits the 23 records into uneven chunks.
    assert score_fasta(model_path, tmp_path / "seqs.fa.gz", tmp_path / "scores.tsv", batch_size=5) == 23
    ids, scores = read_table(tmp_path / "scores.tsv")
    model = keras.models.load_model(model_path)
    forward = np.asarray(model(one_hot([s for _, s in records], WIDTH), training=False)).ravel()
    reverse = np.asarray(model(one_hot([reverse_complement(s) for _, s in records], WIDTH), training=False)).ravel()
    assert ids == [name for name, _ in records]
    assert not np.allclose(forward, reverse)  # an untrained model is not strand-symmetric: averaging matters
    # Tolerance: scores are written with 6 significant digits (relative error <= 5e-6), plus float32 round-off.
    np.testing.assert_allclose(scores, (forward + reverse) / 2, rtol=1e-5, atol=1e-7)


def test_h5_model_gzip_output_and_command(model_path, records, tmp_path):
    import keras

    h5 = tmp_path / "model.h5"
    save_model(keras.models.load_model(model_path), h5)
    write_fasta(records, tmp_path / "seqs.fa")
    parser = argparse.ArgumentParser()
    score_command.register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["score", "--model", str(h5), "--fasta", str(tmp_path / "seqs.fa"),
                              "--out", str(tmp_path / "scores.tsv.gz"), "--threads", "1", "--batch-size", "8"])
    assert args.func(args) == 0
    score_fasta(model_path, tmp_path / "seqs.fa", tmp_path / "keras.tsv")
    assert read_table(tmp_path / "scores.tsv.gz")[0] == read_table(tmp_path / "keras.tsv")[0]
    np.testing.assert_allclose(read_table(tmp_path / "scores.tsv.gz")[1], read_table(tmp_path / "keras.tsv")[1],
                               rtol=1e-5)


def test_empty_fasta_gives_header_only(model_path, tmp_path):
    (tmp_path / "empty.fa").write_text("")
    assert score_fasta(model_path, tmp_path / "empty.fa", tmp_path / "scores.tsv") == 0
    assert (tmp_path / "scores.tsv").read_text() == "id\tscore\n"


def test_wrong_length_names_file_and_record(model_path, records, tmp_path):
    write_fasta(records[:3] + [("short_one", "ACGT")], tmp_path / "bad.fa")
    with pytest.raises(InputError, match=r"bad\.fa: record 'short_one' has 4 bp; the model scores 60-bp"):
        score_fasta(model_path, tmp_path / "bad.fa", tmp_path / "scores.tsv")
    assert not (tmp_path / "scores.tsv").exists()  # atomic: nothing left behind


def test_missing_model(tmp_path):
    (tmp_path / "x.fa").write_text("")
    with pytest.raises(InputError, match="model file not found"):
        score_fasta(tmp_path / "none.keras", tmp_path / "x.fa", tmp_path / "scores.tsv")


def test_interleaved_parts_fill_the_same_column(model_path, records, tmp_path):
    from tacit.scores import gather_scores

    write_fasta(records, tmp_path / "Homo_sapiens.fa")
    score_fasta(model_path, tmp_path / "Homo_sapiens.fa", tmp_path / "whole" / "Homo_sapiens.tsv", batch_size=4)
    # Parts take whole batches of 4 records in turn: each batch is the same as in the unsplit run.
    parts = [tmp_path / f"Homo_sapiens.part{k}.tsv" for k in range(3)]
    assert sum(score_fasta(model_path, tmp_path / "Homo_sapiens.fa", p, batch_size=4, part=(k, 3))
               for k, p in enumerate(parts)) == len(records)
    ocrs = [name for name, _ in records]
    whole = gather_scores(ocrs, [tmp_path / "whole" / "Homo_sapiens.tsv"])
    split = gather_scores(ocrs, parts)
    assert split.species == whole.species == ["Homo_sapiens"]
    np.testing.assert_array_equal(split.values, whole.values)


def test_reduced_precision_scores_follow_float32(model_path, records, tmp_path):
    write_fasta(records, tmp_path / "seqs.fa")
    tables = {}
    for policy in ("float32", "mixed_bfloat16", "mixed_float16", "mixed_bfloat16"):
        out = tmp_path / f"{policy}.{len(tables)}.tsv"
        score_fasta(model_path, tmp_path / "seqs.fa", out, batch_size=8, precision=policy)
        tables.setdefault(policy, []).append(out)
    ids, exact = read_table(tables["float32"][0])
    for policy in ("mixed_bfloat16", "mixed_float16"):
        other_ids, scores = read_table(tables[policy][0])
        assert other_ids == ids
        # Tolerance: 16-bit inputs and weights (bfloat16 keeps 8 significant bits, relative error <= 2^-9;
        # float16 11 bits) perturb this small model's logits by well under 1e-2, and a sigmoid's slope is <= 1/4.
        np.testing.assert_allclose(scores, exact, rtol=0, atol=2.5e-3)
    # bfloat16 really computed in 16 bits: at 6 significant digits its scores differ from float32's ...
    assert np.any(read_table(tables["mixed_bfloat16"][0])[1] != exact)
    # ... and it is as reproducible as float32: a second run writes the same bytes.
    assert tables["mixed_bfloat16"][0].read_bytes() == tables["mixed_bfloat16"][1].read_bytes()


def test_precision_policies_keep_float32_weights_and_output(model_path):
    from tacit.model import load_model
    from tacit.scoring import with_precision

    model = load_model(model_path)
    assert with_precision(model, "float32") is model
    clone = with_precision(model, "mixed_bfloat16")
    inner = [layer for layer in clone.layers if layer.name not in ("onehot", "output")]
    assert inner and {layer.dtype_policy.compute_dtype for layer in inner} == {"bfloat16"}
    assert clone.get_layer("output").dtype_policy.name == "float32"
    assert clone.output.dtype == "float32"
    assert all(w.dtype == "float32" for w in clone.weights)
    for mine, theirs in zip(clone.get_weights(), model.get_weights(), strict=True):
        np.testing.assert_array_equal(mine, theirs)


def test_auto_precision_is_mixed_float16_on_a_gpu_only(monkeypatch):
    import tensorflow as tf

    from tacit.scoring import resolve_precision

    monkeypatch.setattr(tf.config, "list_physical_devices", lambda kind=None: [])
    assert resolve_precision("auto") == "float32"
    monkeypatch.setattr(tf.config, "list_physical_devices",
                        lambda kind=None: ["/physical_device:GPU:0"] if kind == "GPU" else [])
    assert resolve_precision("auto") == "mixed_float16"
    assert resolve_precision("mixed_bfloat16") == "mixed_bfloat16"
    with pytest.raises(InputError, match="precision must be one of"):
        resolve_precision("float8")


def test_score_command_passes_precision(model_path, records, tmp_path, monkeypatch):
    seen = {}
    monkeypatch.setattr("tacit.scoring.score_fasta", lambda *a, **k: seen.update(k) or 0)
    parser = argparse.ArgumentParser()
    score_command.register(parser.add_subparsers())
    args = parser.parse_args(["score", "--model", str(model_path), "--fasta", "f.fa", "--out", "o.tsv",
                              "--precision", "mixed_bfloat16"])
    assert args.func(args) == 0 and seen["precision"] == "mixed_bfloat16"
    with pytest.raises(SystemExit):
        parser.parse_args(["score", "--model", "m", "--fasta", "f", "--out", "o", "--precision", "half"])
