"""Negative kinds: dinucleotide shuffles, GC-matched genome windows, other tissues' OCRs, metrics by kind.

The genome here is two 40-kb chromosomes of 1-kb blocks whose GC content cycles through 0.2, 0.35, 0.5, 0.65
and 0.8 (seeded), with a run of N; positives sit in blocks of every GC level, so GC matching has something to
match and the genome has candidates in every bin the positives use.
"""

from __future__ import annotations

import itertools
from collections import Counter

import numpy as np
import pytest

from tacit.errors import InputError
from tacit.negatives import (Blocked, dinucleotide_shuffle, gc_bin, gc_counts, gc_matched_windows,
                             named_region_file, shuffled_windows)
from tacit.peaks import Peak, read_narrowpeak
from tacit.training import load_windows, score_metrics

WIDTH = 100
BLOCK = 1000
LENGTH = 40_000
GC_LEVELS = (0.2, 0.35, 0.5, 0.65, 0.8)


def dinucleotides(seq: str) -> Counter:
    return Counter(seq[i:i + 2] for i in range(len(seq) - 1))


@pytest.fixture(scope="module")
def genome(tmp_path_factory):
    root = tmp_path_factory.mktemp("gc_genome")
    rng = np.random.default_rng(11)
    fasta, peaks = [], []
    for chrom in ("chr1", "chr2"):
        blocks = []
        for b in range(LENGTH // BLOCK):
            gc = GC_LEVELS[b % len(GC_LEVELS)]
            blocks.append("".join(rng.choice(list("ACGT"), BLOCK, p=[(1 - gc) / 2, gc / 2, gc / 2, (1 - gc) / 2])))
            if b % 3 == 0:  # a positive in every third block: all five GC levels
                start = b * BLOCK + 300
                peaks.append(f"{chrom}\t{start}\t{start + 300}\t{chrom}_p{b}\t0\t.\t1\t1\t1\t150")
        seq = "".join(blocks)
        if chrom == "chr2":
            seq = seq[:5000] + "N" * 3000 + seq[8000:]  # an N run: no window may come from it
        fasta.append(f">{chrom}\n" + "\n".join(seq[i:i + 70] for i in range(0, LENGTH, 70)))
    (root / "genome.fa").write_text("\n".join(fasta) + "\n")
    (root / "peaks.narrowPeak").write_text("\n".join(peaks) + "\n")
    return root


def test_dinucleotide_shuffle_keeps_dinucleotides_and_ends():
    rng = np.random.default_rng(0)
    for alphabet, p in (("ACGT", None), ("ACGTN", [0.3, 0.2, 0.2, 0.28, 0.02]), ("AT", None),
                        ("ACGT", [0.97, 0.01, 0.01, 0.01])):
        for length in (1, 2, 3, 4, 7, 50, 500):
            for _ in range(20):
                seq = "".join(rng.choice(list(alphabet), length, p=p))
                out = dinucleotide_shuffle(seq, rng)
                assert len(out) == len(seq) and out[0] == seq[0] and out[-1] == seq[-1]
                assert dinucleotides(out) == dinucleotides(seq), (seq, out)


def test_dinucleotide_shuffle_is_uniform_over_valid_sequences():
    """Brute force: every 10-mer with the same ends and dinucleotide counts as the input (12 of them) comes out,
    equally often. 6,000 draws: 500 expected each, binomial sd 21; the bound 500 +- 110 is 5 sd."""
    seq = "AACGTACGAT"
    valid = {"".join(t) for t in itertools.product("ACGT", repeat=len(seq))
             if t[0] == seq[0] and t[-1] == seq[-1] and dinucleotides("".join(t)) == dinucleotides(seq)}
    rng = np.random.default_rng(5)
    drawn = Counter(dinucleotide_shuffle(seq, rng) for _ in range(6000))
    assert len(valid) == 12 and set(drawn) == valid
    assert all(390 <= n <= 610 for n in drawn.values()), drawn


def test_shuffled_windows_are_deterministic_named_and_on_their_positive_chromosome():
    rng = np.random.default_rng(1)
    seqs = ["".join(rng.choice(list("ACGT"), 80)) for _ in range(3)]
    first = shuffled_windows(seqs, ["a", "b", "c"], ["chr1", "chr2", "chr2"], 2, seed=7)
    assert first == shuffled_windows(seqs, ["a", "b", "c"], ["chr1", "chr2", "chr2"], 2, seed=7)
    assert first[0] != shuffled_windows(seqs, ["a", "b", "c"], ["chr1", "chr2", "chr2"], 2, seed=8)[0]
    assert first[1] == ["a:shuffled1", "a:shuffled2", "b:shuffled1", "b:shuffled2", "c:shuffled1", "c:shuffled2"]
    assert first[2] == ["chr1", "chr1", "chr2", "chr2", "chr2", "chr2"]
    assert all(dinucleotides(s) == dinucleotides(seqs[i // 2]) for i, s in enumerate(first[0]))
    with pytest.raises(InputError, match=">= 0"):
        shuffled_windows(seqs, ["a", "b", "c"], ["chr1"] * 3, -1, seed=7)


def test_gc_bins_on_edges():
    windows = np.frombuffer(b"GGGGGAAAAA" + b"GCGCGCGCGC" + b"AAAAAAAAAA" + b"GGNNAAAAAA", dtype=np.uint8)
    gc, acgt = gc_counts(windows.reshape(4, 10))
    assert gc.tolist() == [5, 10, 0, 2] and acgt.tolist() == [10, 10, 10, 8]
    assert gc_bin(gc, acgt).tolist() == [10, 19, 0, 5]  # 0.5 opens bin 10; GC 1 is in the last bin


def _positive_windows(genome):
    # Some negative kind is required; shuffles are the cheapest.
    windows, _ = load_windows(genome / "genome.fa", [genome / "peaks.narrowPeak"], [], WIDTH, shuffled=1)
    keep = windows.labels == 1
    return [s for s, k in zip(windows.seqs, keep) if k], [c for c, k in zip(windows.chroms, keep) if k]


def _bins(seqs):
    return gc_bin(*gc_counts(np.frombuffer("".join(seqs).encode(), dtype=np.uint8).reshape(len(seqs), WIDTH)))


def test_gc_matched_windows_match_gc_avoid_positives_and_ends(genome):
    seqs, chroms = _positive_windows(genome)
    peaks = read_narrowpeak(genome / "peaks.narrowPeak")
    blocked = Blocked.around_peaks(peaks, WIDTH)
    windows, counts = gc_matched_windows(genome / "genome.fa", seqs, chroms, blocked, WIDTH, 2, seed=3)
    assert counts == {"requested": 2 * len(seqs), "no_gc_match": 0} and len(windows) == 2 * len(seqs)
    import pyfaidx

    fasta = pyfaidx.Fasta(str(genome / "genome.fa"), sequence_always_upper=True, as_raw=True)
    got = [fasta[w.chrom][w.start:w.end] for w in windows]
    # Enough candidates in every bin the positives use, so each bin gets exactly twice the positives' count.
    assert Counter(_bins(got).tolist()) == Counter({b: 2 * n for b, n in Counter(_bins(seqs).tolist()).items()})
    gc_mean = lambda ss: np.mean([(s.count("G") + s.count("C")) / WIDTH for s in ss])  # noqa: E731
    assert abs(gc_mean(got) - gc_mean(seqs)) < 0.025  # half a bin: same bins, means within a bin width
    for w in windows:
        assert 0 <= w.start and w.end <= LENGTH and w.end - w.start == WIDTH and w.summit == w.start + WIDTH // 2
        # Blocked: each peak and its summit-centred window.
        assert not any(p.chrom == w.chrom and min(p.start, p.summit - WIDTH // 2) < w.end
                       and w.start < max(p.end, p.summit + WIDTH // 2) for p in peaks)
    assert all(s.count("N") <= 0.05 * WIDTH for s in got)
    assert [(w.chrom, w.start) for w in windows] == sorted((w.chrom, w.start) for w in windows)
    again, _ = gc_matched_windows(genome / "genome.fa", seqs, chroms, blocked, WIDTH, 2, seed=3)
    other, _ = gc_matched_windows(genome / "genome.fa", seqs, chroms, blocked, WIDTH, 2, seed=4)
    assert again == windows and other != windows


def test_gc_matched_counts_bins_without_candidates(genome):
    """A GC-only positive asks for windows no genome tile can give: counted as no_gc_match, none returned."""
    windows, counts = gc_matched_windows(genome / "genome.fa", ["GC" * (WIDTH // 2)], ["chr1"], Blocked([]),
                                         WIDTH, 3, seed=1)
    assert windows == [] and counts == {"requested": 3, "no_gc_match": 3}
    with pytest.raises(InputError, match=">= 0"):
        gc_matched_windows(genome / "genome.fa", ["A" * WIDTH], ["chr1"], Blocked([]), WIDTH, -0.5, seed=1)


def test_load_windows_by_kind(genome, tmp_path):
    peaks = genome / "peaks.narrowPeak"
    first = read_narrowpeak(peaks)[0]  # chr1 300-600, summit 450
    other = tmp_path / "other.narrowPeak"
    other.write_text(f"chr1\t{first.start + 100}\t{first.start + 200}\tshared\t0\t.\t1\t1\t1\t50\n"  # overlaps
                     f"chr1\t{first.end + 10}\t{first.end + 100}\tnear\t0\t.\t1\t1\t1\t0\n"  # its window overlaps
                     "chr1\t20000\t20200\tfar\t0\t.\t1\t1\t1\t100\n")
    closed = tmp_path / "closed.bed"
    closed.write_text("chr2\t30000\t30100\n")
    windows, report = load_windows(genome / "genome.fa", [peaks], [("enhancers", closed)], WIDTH,
                                   closed_orthologs=[closed], other_tissue_peaks=[other], gc_matched=1, shuffled=2,
                                   seed=1)
    n_pos = report["positives"]["kept"]
    assert list(report) == ["positives", "enhancers", "closed_orthologs", "other_tissue", "gc_matched", "shuffled"]
    assert report["other_tissue"] == {**dict.fromkeys(report["other_tissue"], 0), "requested": 3, "kept": 1,
                                      "overlaps_positive": 2}
    assert report["shuffled"]["kept"] == 2 * n_pos and report["gc_matched"]["kept"] == n_pos
    assert Counter(windows.kinds) == {"positives": n_pos, "enhancers": 1, "closed_orthologs": 1, "other_tissue": 1,
                                      "gc_matched": n_pos, "shuffled": 2 * n_pos}
    assert windows.names[windows.kinds.index("other_tissue")] == "far"
    assert all(label == (kind == "positives") for label, kind in zip(windows.labels, windows.kinds))


def test_load_windows_rejects_bad_requests(genome, tmp_path):
    with pytest.raises(InputError, match="no negatives"):
        load_windows(genome / "genome.fa", [genome / "peaks.narrowPeak"], [], WIDTH)
    with pytest.raises(InputError, match=">= 0"):
        load_windows(genome / "genome.fa", [genome / "peaks.narrowPeak"], [], WIDTH, gc_matched=-1)
    bad = tmp_path / "closed.bed"
    bad.write_text("chr1\t100\t200\nchr1\tten\t300\n")
    with pytest.raises(InputError, match=r"closed\.bed:2: start and end must be integers"):
        load_windows(genome / "genome.fa", [genome / "peaks.narrowPeak"], [], WIDTH, closed_orthologs=[bad])


def test_named_region_file():
    assert named_region_file("neg.bed") == ("bed", "neg.bed")
    assert named_region_file("enhancers=neg.bed") == ("enhancers", "neg.bed")
    assert named_region_file("results/a=b.bed") == ("bed", "results/a=b.bed")  # not a kind name: a path
    with pytest.raises(InputError, match="reserved"):
        named_region_file("shuffled=neg.bed")


def test_blocked_overlaps_half_open_intervals():
    blocked = Blocked([("chr1", 100, 200), ("chr1", 150, 300), ("chr1", 500, 600)])
    starts = np.array([0, 1, 300, 250, 450, 600, 599])
    assert blocked.overlaps("chr1", starts, starts + 100).tolist() == [False, True, False, True, True, False, True]
    assert not blocked.overlaps("chr2", starts, starts + 100).any()


def test_score_metrics_by_kind():
    labels = np.array([1, 1, 0, 0, 0, 0])
    scores = np.array([0.9, 0.6, 0.8, 0.7, 0.1, 0.2])
    kinds = np.array(["positives", "positives", "other_tissue", "other_tissue", "shuffled", "shuffled"], dtype=object)
    m = score_metrics(labels, scores, kinds, ["other_tissue", "shuffled", "gc_matched"])
    assert m["n_pos"] == 2 and m["n_neg"] == 4 and m["auroc"] == pytest.approx(6 / 8)
    assert m["n_neg_other_tissue"] == 2 and m["auroc_other_tissue"] == pytest.approx(2 / 4)
    assert m["auroc_shuffled"] == 1.0 and m["auprc_shuffled"] == 1.0
    assert m["n_neg_gc_matched"] == 0 and np.isnan(m["auroc_gc_matched"]) and np.isnan(m["auprc_gc_matched"])


def test_overlapping_index_equals_brute_force():
    from tacit.negatives import overlapping_index

    rng = np.random.default_rng(3)

    def intervals(n, prefix):
        out = []
        for i in range(n):
            start = int(rng.integers(0, 5000))
            end = start + int(rng.integers(1, 400))
            out.append(Peak(str(rng.choice(["c1", "c2"])), start, end, f"{prefix}{i}", start))
        return out

    queries, targets = intervals(300, "q"), intervals(200, "t")
    got = overlapping_index(queries, targets)
    for q, g in zip(queries, got.tolist()):
        overlaps = [min(t.end, q.end) - max(t.start, q.start) if t.chrom == q.chrom else 0 for t in targets]
        best = max(overlaps)
        assert g == (overlaps.index(best) if best > 0 else -1)  # the largest overlap, first on ties


def test_other_species_add_positives_and_closed_orthologs(genome, tmp_path):
    """TACIT's cross-species windows: a species' own OCRs that overlap orthologs of reference positives are
    positives; orthologs closed there are negatives; both cut from its genome, split by the reference OCR."""
    from tacit.training import SpeciesData, species_regions

    rng = np.random.default_rng(5)
    scaffold = "".join(rng.choice(list("ACGT"), 20_000))
    (tmp_path / "sp.fa").write_text(">scaffold_1\n" + "\n".join(scaffold[i:i + 60] for i in range(0, 20_000, 60))
                                    + "\n")
    ref = read_narrowpeak(genome / "peaks.narrowPeak")
    chosen = [ref[0], ref[1], ref[14], ref[15]]  # two on chr1, two on chr2
    assert [p.chrom for p in chosen] == ["chr1", "chr1", "chr2", "chr2"]
    rows = [f"scaffold_1\t{1000 + 2000 * k}\t{1300 + 2000 * k}\t{p.name}\t0\t+\t-1\t-1\t-1\t150"
            for k, p in enumerate(chosen)]
    rows.append("scaffold_1\t11000\t11300\tnot_a_reference_ocr\t0\t+\t-1\t-1\t-1\t150")
    (tmp_path / "orth.narrowPeak").write_text("\n".join(rows) + "\n")
    (tmp_path / "sp.narrowPeak").write_text(  # open at the 1st and 3rd orthologs, and once elsewhere
        "scaffold_1\t1100\t1250\tsp_a\t0\t.\t1\t1\t1\t80\n"
        "scaffold_1\t5050\t5200\tsp_b\t0\t.\t1\t1\t1\t60\n"
        "scaffold_1\t15000\t15200\tsp_c\t0\t.\t1\t1\t1\t100\n")
    species = SpeciesData("Sp_one", tmp_path / "sp.fa", tmp_path / "sp.narrowPeak", tmp_path / "orth.narrowPeak")

    pos, pos_chroms, negs, neg_chroms, pos_counts, neg_counts = species_regions(
        species, {p.name: p.chrom for p in ref})
    assert [p.name for p in pos] == [f"Sp_one:{chosen[0].name}", f"Sp_one:{chosen[2].name}"]
    assert [p.summit for p in pos] == [1180, 5110] and pos_chroms == ["chr1", "chr2"]
    assert [n.name for n in negs] == [f"Sp_one:{chosen[1].name}", f"Sp_one:{chosen[3].name}"]
    assert neg_chroms == ["chr1", "chr2"]
    assert pos_counts == {"requested": 3, "no_reference_ortholog": 1}
    assert neg_counts == {"requested": 5, "not_a_positive": 1, "open_in_species": 2}

    windows, report = load_windows(genome / "genome.fa", [genome / "peaks.narrowPeak"], [], WIDTH,
                                   species=[species])
    from_species = Counter(k for k, n in zip(windows.kinds, windows.names) if n.startswith("Sp_one:"))
    assert from_species == {"positives": 2, "closed_orthologs": 2}
    assert report["positives"]["requested"] == len(ref) + 3 and report["positives"]["no_reference_ortholog"] == 1
    assert report["positives"]["kept"] == windows.kinds.count("positives")
    assert report["closed_orthologs"] == {**dict.fromkeys(report["closed_orthologs"], 0), "requested": 5, "kept": 2,
                                          "not_a_positive": 1, "open_in_species": 2}
    for name, chrom, centre in ((f"Sp_one:{chosen[0].name}", "chr1", 1180), (f"Sp_one:{chosen[3].name}", "chr2", 7150)):
        i = windows.names.index(name)
        assert windows.chroms[i] == chrom  # held out with the reference OCR's chromosome
        assert windows.seqs[i] == scaffold[centre - WIDTH // 2:centre - WIDTH // 2 + WIDTH].upper()
