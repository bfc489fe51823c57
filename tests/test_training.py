"""Training on a synthetic genome: positives carry a planted 10-bp motif, negatives do not.

Three 60-kb chromosomes of uniform random DNA (seeded). Each is cut into 200-bp slots; in every other slot the
motif is planted near the centre and a narrowPeak positive is centred there; the remaining slots are BED
negatives. chr1 trains, chr2 validates, chr3 tests. A random 10-mer occurs in a 200-bp window (either strand)
with probability about 4e-4, so negatives practically never carry the motif and AUROC near 1 is learnable.
"""

from __future__ import annotations

import argparse
import json

import numpy as np
import pytest

from tacit.commands import train as train_command
from tacit.errors import InputError
from tacit.training import assign_splits, auprc, auroc, load_windows, train

MOTIF = "GATTACAGGC"
SLOT = 200
CHROM_LENGTH = 60_000
WIDTH = 120
TINY_SPEC = {
    "name": "tiny", "input_length": WIDTH,
    "layers": [{"kind": "conv1d", "filters": 16, "width": 11}, {"kind": "global_max_pool"},
               {"kind": "dense", "units": 8}],
    "training": {"learning_rate": 0.01, "batch_size": 32, "epochs": 6, "patience": 2},
}


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    root = tmp_path_factory.mktemp("synthetic")
    rng = np.random.default_rng(7)
    fasta, peaks, negatives = [], [], []
    for chrom in ("chr1", "chr2", "chr3"):
        seq = rng.choice(list("ACGT"), CHROM_LENGTH)
        for slot, start in enumerate(range(0, CHROM_LENGTH, SLOT)):
            centre = start + SLOT // 2
            if slot % 2 == 0:
                at = centre + int(rng.integers(-40, 30))
                seq[at:at + len(MOTIF)] = list(MOTIF)
                peaks.append(f"{chrom}\t{start}\t{start + SLOT}\t{chrom}_p{slot}\t0\t.\t1\t1\t1\t{centre - start}")
            else:
                negatives.append(f"{chrom}\t{centre - 50}\t{centre + 50}")
        if chrom == "chr1":
            seq[SLOT * 3:SLOT * 4] = "N"  # slot 3 (a negative) becomes all N: dropped
        fasta.append(f">{chrom}\n" + "\n".join("".join(seq[i:i + 60]) for i in range(0, CHROM_LENGTH, 60)))
    peaks.append(f"chr3\t{CHROM_LENGTH - 30}\t{CHROM_LENGTH}\tend_peak\t0\t.\t1\t1\t1\t20")  # runs off the end
    negatives.append("chrUn\t100\t200")  # not in the genome
    (root / "genome.fa").write_text("\n".join(fasta) + "\n")
    (root / "peaks.narrowPeak").write_text("\n".join(peaks) + "\n")
    (root / "negatives.bed").write_text("\n".join(negatives) + "\n")
    (root / "tiny.json").write_text(json.dumps(TINY_SPEC))
    return root


def run_train(dataset, out, seed=1):
    return train(dataset / "tiny.json", dataset / "genome.fa", [dataset / "peaks.narrowPeak"],
                 [dataset / "negatives.bed"], out, WIDTH, ["chr2"], ["chr3"], seed=seed, threads=1, tissue="liver")


@pytest.fixture(scope="module")
def trained(dataset, tmp_path_factory):
    out = tmp_path_factory.mktemp("run1")
    return out, run_train(dataset, out)


def test_auroc_auprc_hand_examples():
    assert auroc([1, 0, 1, 0], [0.9, 0.8, 0.7, 0.1]) == pytest.approx(0.75)
    # Thresholds 0.9 (P 1, R 1/2), 0.8 (P 1/2, R 1/2), 0.7 (P 2/3, R 1): AP = 1/2 * 1 + 1/2 * 2/3.
    assert auprc([1, 0, 1, 0], [0.9, 0.8, 0.7, 0.1]) == pytest.approx(5 / 6)
    assert auroc([1, 0], [0.5, 0.5]) == 0.5 and auprc([1, 0], [0.5, 0.5]) == 0.5  # a tie is one threshold
    assert np.isnan(auroc([1, 1], [0.1, 0.2])) and np.isnan(auprc([0, 0], [0.1, 0.2]))


def test_auroc_equals_pairwise_count_with_ties():
    rng = np.random.default_rng(1)
    labels = rng.integers(0, 2, 300)
    scores = rng.integers(0, 20, 300) / 20  # many ties
    pos, neg = scores[labels == 1], scores[labels == 0]
    wins = (pos[:, None] > neg[None, :]).sum() + 0.5 * (pos[:, None] == neg[None, :]).sum()
    pairwise = wins / (len(pos) * len(neg))
    assert auroc(labels, scores) == pytest.approx(pairwise, abs=1e-12)


def test_auprc_equals_mean_precision_at_positives_without_ties():
    rng = np.random.default_rng(2)
    labels = rng.integers(0, 2, 200)
    scores = rng.permutation(200) / 200.0
    ranked = labels[np.argsort(-scores)]
    precision_at_hits = (np.cumsum(ranked) / np.arange(1, 201))[ranked == 1]
    assert auprc(labels, scores) == pytest.approx(precision_at_hits.mean(), abs=1e-12)


def test_windows_and_splits(dataset):
    windows, report = load_windows(dataset / "genome.fa", [dataset / "peaks.narrowPeak"],
                                   [dataset / "negatives.bed"], WIDTH)
    none = {"overlaps_positive": 0, "no_gc_match": 0, "no_reference_ortholog": 0, "not_a_positive": 0,
            "open_in_species": 0}
    assert report["positives"] == {"requested": 451, "kept": 450, "off_contig": 1, "missing_chrom": 0,
                                   "too_many_n": 0, **none}
    assert report["bed"] == {"requested": 451, "kept": 449, "off_contig": 0, "missing_chrom": 1, "too_many_n": 1,
                             **none}
    assert set(windows.kinds) == {"positives", "bed"}
    assert all(MOTIF in s for s, y in zip(windows.seqs, windows.labels) if y == 1)
    splits = assign_splits(windows.chroms, ["chr2"], ["chr3"])
    assert dict(zip(*np.unique(splits, return_counts=True))) == {"train": 299, "validation": 300, "test": 300}
    with pytest.raises(InputError, match="chr2 listed as both validation and test"):
        assign_splits(windows.chroms, ["chr2"], ["chr2", "chr3"])


def test_training_learns_the_motif_and_writes_outputs(trained):
    out, metrics = trained
    assert metrics["test"]["auroc"] > 0.9 and metrics["validation"]["auprc"] > 0.9
    assert {p.name for p in out.iterdir()} == {"model.keras", "metrics.tsv", "history.tsv",
                                               "heldout_predictions.tsv", "windows.tsv", "card.md"}
    table = (out / "metrics.tsv").read_text().splitlines()
    assert table[0] == "split\tn_pos\tn_neg\tauroc\tauprc\tn_neg_bed\tauroc_bed\tauprc_bed"
    assert [row.split("\t")[:3] for row in table[1:]] == [["train", "150", "149"], ["validation", "150", "150"],
                                                         ["test", "150", "150"]]
    history = (out / "history.tsv").read_text().splitlines()
    assert history[0] == "epoch\tloss\tval_loss\tval_auroc\tval_auprc" and 2 <= len(history) <= 7
    heldout = (out / "heldout_predictions.tsv").read_text().splitlines()
    assert heldout[0] == "name\tchrom\tlabel\tscore\tsplit\tkind" and len(heldout) == 601
    assert (out / "windows.tsv").read_text().splitlines()[1:] == [
        "positives\t1\t451\t450\t150\t150\t150\t1\t0\t0\t0\t0\t0\t0\t0",
        "bed\t0\t451\t449\t149\t150\t150\t0\t1\t1\t0\t0\t0\t0\t0"]
    card = (out / "card.md").read_text()
    assert "liver" in card and "`tiny`" in card and "{" not in card and "| test | 150 | 150 |" in card


def test_same_seed_gives_identical_bytes(dataset, trained, tmp_path):
    first, _ = trained
    run_train(dataset, tmp_path)
    for name in ("metrics.tsv", "history.tsv", "heldout_predictions.tsv", "windows.tsv", "card.md", "model.keras"):
        assert (tmp_path / name).read_bytes() == (first / name).read_bytes(), name


def test_train_command_with_workflow_flags(dataset, tmp_path):
    parser = argparse.ArgumentParser()
    train_command.register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(
        ["train", "--spec", str(dataset / "tiny.json"), "--genome", str(dataset / "genome.fa"),
         "--positives", str(dataset / "peaks.narrowPeak"), "--negatives", str(dataset / "negatives.bed"),
         "--negatives", str(dataset / "negatives.bed"), "--out-dir", str(tmp_path / "model"), "--width", "100",
         "--val-chroms", "chr2", "--test-chroms", "--seed", "3", "--threads", "1", "--tissue", "liver"])
    assert args.negatives == [str(dataset / "negatives.bed")] * 2 and args.test_chroms == []
    with pytest.raises(InputError, match=r"tiny\.json: --width 100 differs from the model's input_length 120"):
        args.func(args)


def test_training_with_negatives_of_several_kinds(dataset, tmp_path):
    """BED negatives named, GC-matched windows, shuffled positives and other-tissue OCRs (half the BED
    negatives' slots, as peaks, plus every positive again, all of which are dropped as overlapping): metrics per
    kind in metrics.tsv, windows per kind in windows.tsv, both in the card. Two epochs: only the format is
    checked here."""
    import pandas as pd

    spec = tmp_path / "two_epochs.json"
    spec.write_text(json.dumps({**TINY_SPEC, "training": {**TINY_SPEC["training"], "epochs": 2}}))
    other = tmp_path / "other.narrowPeak"
    peaks = (dataset / "peaks.narrowPeak").read_text().splitlines()
    slots = [line.split("\t") for line in (dataset / "negatives.bed").read_text().splitlines()[:-1:2]]
    other.write_text("\n".join(peaks + [f"{c}\t{s}\t{e}\to{i}\t0\t.\t1\t1\t1\t50"
                                        for i, (c, s, e) in enumerate(slots)]) + "\n")
    metrics = train(spec, dataset / "genome.fa", [dataset / "peaks.narrowPeak"],
                    [("random_slots", dataset / "negatives.bed")], tmp_path / "model", WIDTH, ["chr2"], ["chr3"],
                    threads=1, other_tissue_peaks=[other], gc_matched=1, shuffled=1)
    table = pd.read_csv(tmp_path / "model" / "metrics.tsv", sep="\t").set_index("split")
    kinds = ("random_slots", "other_tissue", "gc_matched", "shuffled")
    assert list(table.columns) == ["n_pos", "n_neg", "auroc", "auprc"] + [
        f"{m}_{k}" for k in kinds for m in ("n_neg", "auroc", "auprc")]
    assert table.loc["test", "n_pos"] == 150 and table.loc["test", "n_neg_shuffled"] == 150
    assert table.loc["test", "n_neg"] == sum(table.loc["test", f"n_neg_{k}"] for k in kinds)
    assert table.loc["test", "auroc_gc_matched"] == pytest.approx(metrics["test"]["auroc_gc_matched"], abs=1e-6)
    windows = pd.read_csv(tmp_path / "model" / "windows.tsv", sep="\t").set_index("kind")
    assert windows.loc["other_tissue", "overlaps_positive"] == 451 and windows.loc["other_tissue", "requested"] == 676
    # Few 120-bp tiles fit between the 200-bp positive slots: some GC bins run short, and say so.
    gc = windows.loc["gc_matched"]
    assert gc["requested"] == 450 and gc["kept"] + gc["no_gc_match"] == 450 and gc["no_gc_match"] > 0
    assert windows.loc["shuffled", "kept"] == 450
    heldout = pd.read_csv(tmp_path / "model" / "heldout_predictions.tsv", sep="\t")
    assert set(heldout["kind"]) == {"positives", *kinds}
    card = (tmp_path / "model" / "card.md").read_text()
    assert "| test | shuffled | 150 | 150 |" in card and "| other_tissue | 0 | 676 | 225 |" in card


def test_training_needs_both_classes_on_training_chromosomes(dataset, tmp_path):
    with pytest.raises(InputError, match="training chromosomes have 0 positive and 0 negative windows"):
        train(dataset / "tiny.json", dataset / "genome.fa", [dataset / "peaks.narrowPeak"], [dataset / "negatives.bed"],
              tmp_path, WIDTH, ["chr1", "chr2"], ["chr3"])


@pytest.mark.slow
def test_demo_spec_learns_motif_counts():
    """models/demo-small.json on 2,400 random 400-bp sequences with 0-4 motif copies; active = at least 2 copies.
    About 20 s on 2 CPU cores. The score should also rise with the number of copies."""
    from conftest import ROOT
    from tacit.encoding import one_hot
    from tacit.model import load_spec
    from tacit.scoring import predict_rc_average
    from tacit.training import fit

    rng = np.random.default_rng(0)

    def make(n):
        seqs, copies = [], rng.integers(0, 5, n)
        for k in copies:
            seq = rng.choice(list("ACGT"), 400)
            for at in rng.choice(np.arange(0, 390, 12), k, replace=False):
                seq[at:at + len(MOTIF)] = list(MOTIF)
            seqs.append("".join(seq))
        return one_hot(seqs, 400), copies

    x, y, copies = {}, {}, {}
    for name, n in (("train", 2400), ("validation", 600), ("test", 600)):
        x[name], copies[name] = make(n)
        y[name] = (copies[name] >= 2).astype(np.int8)
    model, _, _ = fit(load_spec(ROOT / "models" / "demo-small.json"), x, y, seed=1)
    scores = predict_rc_average(model, x["test"])
    assert auroc(y["test"], scores) > 0.95
    means = [scores[copies["test"] == k].mean() for k in range(5)]
    assert means == sorted(means)


@pytest.mark.slow
def test_tacit_architecture_trains_on_a_tiny_set():
    """TACIT's own 5.3 M-parameter architecture, really trained (2 epochs) on 96 planted-motif sequences."""
    from tacit.encoding import one_hot
    from tacit.model import count_params, load_spec
    from tacit.training import fit

    from conftest import ROOT

    spec = load_spec(ROOT / "models" / "tacit-500bp-conv5.json")
    spec["training"].update(epochs=3, patience=3, batch_size=16)
    rng = np.random.default_rng(3)
    seqs, labels = [], []
    for i in range(128):
        seq = rng.choice(list("ACGT"), 500)
        if i % 2 == 0:
            for at in (150, 245, 340):  # three copies: a strong, position-tolerant signal
                seq[at:at + len(MOTIF)] = list(MOTIF)
        seqs.append("".join(seq))
        labels.append(float(i % 2 == 0))
    x = one_hot(seqs, 500)
    y = np.array(labels)
    split = {"train": slice(0, 96), "validation": slice(96, 128)}
    model, history, best = fit(spec, {k: x[s] for k, s in split.items()}, {k: y[s] for k, s in split.items()}, seed=1)
    assert model.count_params() == count_params(spec) == 5_332_151
    assert np.all(np.isfinite(history["loss"])) and 1 <= best <= 3
    scores = np.asarray(model(x[96:], training=False)).ravel()
    assert np.all((scores > 0) & (scores < 1))
