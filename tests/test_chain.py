"""Orthologs through UCSC chain files: parsing and validation, lifting (plus and minus query strands),
summit choice, stitching, and real chains with the expected mappings of ../shared/data/chain/README.md.

Worked coordinates of tests/data/chain_small.chain (0-based, half-open):

* chain 1 (score 1000, chrA +): target [100,130) -> [10,40), [140,160) -> [45,65), [160,200) -> [75,115).
* chain 2 (score 500, chrB -, size 800): target [300,325) -> minus [100,125) = forward [675,700);
  [330,360) -> minus [135,165) = forward [635,665).
* chain 3 (score 10, chrC +): target [150,170) -> [0,20).
"""

from __future__ import annotations

import argparse
import gzip

import pytest

from conftest import DATA, shared_path
from tacit.chain import chain_orthologs, lift_peaks, read_chains, stitch_lifted
from tacit.commands import chain_orthologs as chain_command
from tacit.errors import InputError
from tacit.orthologs import QC_COLUMNS, OrthologSettings
from tacit.peaks import Peak, read_bed

SMALL = DATA / "chain_small.chain"
PEAKS = [
    Peak("chr1", 110, 190, "p1", 145),  # chains 1 and 3; summit in chain 1's second block
    Peak("chr1", 150, 170, "p2", 165),  # summit in chains 1 and 3: chain 1 has the higher score
    Peak("chr1", 305, 355, "p3", 330),  # minus chain 2
    Peak("chr1", 326, 329, "p4", 327),  # in chain 2's target gap: nothing aligned
    Peak("chr2", 0, 100, "p5", 50),  # no chain
    Peak("chr1", 125, 145, "p6", 135),  # summit in chain 1's target gap
]


def fragments(lifted, peaks):
    """Sorted (peak name, chrom, strand, start, end) of every fragment."""
    rows = []
    for peak, chrom, strand, start, end in zip(lifted.frag_peak, lifted.frag_chrom, lifted.frag_strand,
                                               lifted.frag_start, lifted.frag_end):
        rows += [(peaks[p].name, chrom, strand, int(a), int(b)) for p, a, b in zip(peak, start, end)]
    return sorted(rows)


def naive_lift(path, t_name, pos):
    """Forward query positions of target base ``pos`` in every chain: a plain walk over the block lines."""
    hits, header = [], None
    for line in path.read_text().splitlines():
        fields = line.split()
        if fields and fields[0] == "chain":
            header = fields
            t, q = int(fields[5]), int(fields[10])
        elif fields and header and header[2] == t_name:
            size = int(fields[0])
            if t <= pos < t + size:
                offset = q + pos - t
                hits.append((header[7], offset if header[9] == "+" else int(header[8]) - 1 - offset))
            if len(fields) == 3:
                t, q = t + size + int(fields[1]), q + size + int(fields[2])
    return hits


def merge_touching(rows):
    """Join fragments of one peak whose intervals touch (bnMapper reports them as one piece)."""
    merged = []
    for row in rows:
        if merged and merged[-1][:3] == row[:3] and merged[-1][4] == row[3]:
            merged[-1] = (*merged[-1][:4], row[4])
        else:
            merged.append(row)
    return merged


# --- parsing --------------------------------------------------------------------------------------------


def test_read_small_chains():
    chains = list(read_chains(SMALL))
    assert [(c.t_name, c.q_name, c.q_strand, c.score, c.id, c.line) for c in chains] == [
        ("chr1", "chrA", "+", 1000.0, "1", 2), ("chr1", "chrB", "-", 500.0, "2", 7), ("chr1", "chrC", "+", 10.0, "3", 11)]
    assert chains[0].t_block.tolist() == [100, 140, 160] and chains[0].q_block.tolist() == [10, 45, 75]
    assert chains[0].size.tolist() == [30, 20, 40]
    assert chains[1].t_block.tolist() == [300, 330] and chains[1].q_block.tolist() == [100, 135]


def test_real_chains_add_up():
    base = shared_path("data", "chain")
    chains = list(read_chains(base / "hg19.mm9.rBest.chain.gz"))
    assert [(c.id, c.q_strand) for c in chains] == [("16", "+"), ("97", "-")]
    assert sum(c.size.size for c in chains) == 566_505
    epo = list(read_chains(base / "epo_547_hs_mm_12way_mammals_65.chain"))
    assert len(epo) == 5 and sum(c.size.size for c in epo) == 1695 and sum(int(c.size.sum()) for c in epo) == 39_837


@pytest.mark.parametrize(
    "text, line, message",
    [
        ("chain 1 chr1 1000 + 0 10 chrA 500 + 0 10\n10\n", None, None),  # 12 fields: no id, valid
        ("chain 1 chr1 1000 + 0 10 chrA 500 +\n10\n", 1, "12 or 13 fields"),
        ("chain 1 chr1 1000 - 0 10 chrA 500 + 0 10 7\n10\n", 1, "target strand"),
        ("chain 1 chr1 1000 + 0 10 chrA 500 . 0 10 7\n10\n", 1, "query strand"),
        ("chain x chr1 1000 + 0 10 chrA 500 + 0 10 7\n10\n", 1, "must be a number"),
        ("chain 1 chr1 1000 + 20 10 chrA 500 + 0 10 7\n10\n", 1, "start <= end <= size"),
        ("chain 1 chr1 1000 + 0 10 chrA 5 + 0 10 7\n10\n", 1, "start <= end <= size"),
        ("10 0 0\nchain 1 chr1 1000 + 0 10 chrA 500 + 0 10 7\n10\n", 1, "outside a chain"),
        ("chain 1 chr1 1000 + 0 20 chrA 500 + 0 20 7\n5 x 0\n10\n", 2, "'size dt dq'"),
        ("chain 1 chr1 1000 + 0 20 chrA 500 + 0 20 7\n5 5\n10\n", 2, "'size dt dq'"),
        ("chain 1 chr1 1000 + 0 20 chrA 500 + 0 20 7\n5 5 5\n", 2, "last line of a chain"),
        ("chain 1 chr1 1000 + 0 20 chrA 500 + 0 20 7\n5 5 -5\n10\n", 2, "'size dt dq'"),
        ("chain 1 chr1 1000 + 0 20 chrA 500 + 0 20 7\n5 5 0\n9\n", 1, "header says"),
        ("chain 1 chr1 1000 + 0 20 chrA 500 + 0 20 7\n\n", 1, "without block lines"),
    ],
)
def test_chain_validation(tmp_path, text, line, message):
    path = tmp_path / "bad.chain"
    path.write_text(text)
    if message is None:
        assert len(list(read_chains(path))) == 1
        return
    with pytest.raises(InputError, match=message) as err:
        list(read_chains(path))
    assert err.value.line == line and err.value.path == str(path)


# --- lifting and stitching ------------------------------------------------------------------------------


def test_lift_small_chains():
    lifted = lift_peaks(read_chains(SMALL), PEAKS)
    assert fragments(lifted, PEAKS) == [
        ("p1", "chrA", "+", 20, 40), ("p1", "chrA", "+", 45, 65), ("p1", "chrA", "+", 75, 105),
        ("p1", "chrC", "+", 0, 20),
        ("p2", "chrA", "+", 55, 65), ("p2", "chrA", "+", 75, 85), ("p2", "chrC", "+", 0, 20),
        ("p3", "chrB", "-", 640, 665), ("p3", "chrB", "-", 675, 695),  # minus: 800 - 160, 800 - 135, ...
        ("p6", "chrA", "+", 35, 40), ("p6", "chrA", "+", 45, 50),
    ]


def test_stitch_small_chains():
    result = stitch_lifted(lift_peaks(read_chains(SMALL), PEAKS), PEAKS, OrthologSettings())
    assert result.orthologs.to_peaks([p.name for p in PEAKS]) == [
        Peak("chrA", 20, 105, "p1", 50, "+"),  # summit 145 -> 45 + (145 - 140); chrC fragment dropped
        Peak("chrB", 640, 695, "p3", 664, "-"),  # summit 330 -> minus 135 -> 800 - 1 - 135
    ]
    assert result.counts == {"mapped": 2, "no_alignment": 2, "summit_unaligned": 1, "too_short": 1, "too_long": 0,
                             "summit_near_edge": 0, "other_chrom": 2}


def test_summit_from_the_highest_scoring_chain():
    # p2's summit is in chain 1 (chrA:80, score 1000) and chain 3 (chrC:15, score 10)
    result = stitch_lifted(lift_peaks(read_chains(SMALL), PEAKS[1:2]), PEAKS[1:2], OrthologSettings(min_len=20))
    assert result.orthologs.to_peaks(["p2"]) == [Peak("chrA", 55, 85, "p2", 80, "+")]


def test_command_line_writes_narrowpeak(tmp_path, caplog):
    peaks = tmp_path / "peaks.narrowPeak"
    peaks.write_text("".join(f"{p.chrom}\t{p.start}\t{p.end}\t{p.name}\t0\t.\t-1\t-1\t-1\t{p.summit_offset}\n"
                             for p in PEAKS))
    parser = argparse.ArgumentParser()
    chain_command.register(parser.add_subparsers())
    out = tmp_path / "orthologs.narrowPeak"
    args = parser.parse_args(["chain-orthologs", "--chain", str(SMALL), "--peaks", str(peaks), "--out", str(out)])
    with caplog.at_level("WARNING"):
        assert args.func(args) == 0
    assert out.read_text().splitlines() == ["chrA\t20\t105\tp1\t0\t+\t-1\t-1\t-1\t30",
                                            "chrB\t640\t695\tp3\t0\t-\t-1\t-1\t-1\t24"]
    assert "target of no chain" in caplog.text  # chr2


def test_command_line_qc_table(tmp_path):
    """--qc writes maf-orthologs' qc.tsv columns for one species; --qc needs --species."""
    peaks = tmp_path / "peaks.narrowPeak"
    peaks.write_text("".join(f"{p.chrom}\t{p.start}\t{p.end}\t{p.name}\t0\t.\t-1\t-1\t-1\t{p.summit_offset}\n"
                             for p in PEAKS))
    parser = argparse.ArgumentParser()
    chain_command.register(parser.add_subparsers())
    out, qc = tmp_path / "orthologs.narrowPeak", tmp_path / "qc.tsv"
    base = ["chain-orthologs", "--chain", str(SMALL), "--peaks", str(peaks), "--out", str(out)]
    args = parser.parse_args(base + ["--qc", str(qc), "--species", "Mus_musculus"])
    assert args.func(args) == 0
    header, row = qc.read_text().splitlines()
    assert header.split("\t") == list(QC_COLUMNS)
    # as test_stitch_small_chains; median of the lengths 85 (p1) and 55 (p3)
    assert row.split("\t") == ["Mus_musculus", "6", "2", "2", "1", "1", "0", "0", "2", "70"]
    args = parser.parse_args(base + ["--qc", str(tmp_path / "other.tsv")])
    with pytest.raises(InputError, match="--qc needs --species"):
        args.func(args)
    args = parser.parse_args(base + ["--qc", str(tmp_path / "other.tsv"), "--species", "two words"])
    with pytest.raises(InputError, match="species name"):
        args.func(args)
    assert not (tmp_path / "other.tsv").exists()


def test_no_ortholog_gives_median_na(tmp_path):
    result = chain_orthologs(SMALL, [PEAKS[4]], tmp_path / "out.narrowPeak")
    assert result.qc_row("sp") == {"species": "sp", "n_peaks": 1, "mapped": 0, "no_alignment": 1,
                                   "summit_unaligned": 0, "too_short": 0, "too_long": 0, "summit_near_edge": 0,
                                   "other_chrom": 0, "median_length": "NA"}


# --- real chains ----------------------------------------------------------------------------------------


def test_hg19_peak_through_the_minus_chain(tmp_path):
    """hg19 chr16:72,821,045-72,821,349 -> mm9 chr8:111,480,715-111,481,019 (chain 97, query strand -)."""
    base = shared_path("data", "chain")
    (interval,) = read_bed(base / "hg19_one_peak.bed")
    peak = Peak(interval.chrom, interval.start, interval.end, interval.name, interval.start + 152)
    gz = tmp_path / "rbest.chain.gz"
    gz.write_bytes((base / "hg19.mm9.rBest.chain.gz").read_bytes())
    result = chain_orthologs(gz, [peak], tmp_path / "out.narrowPeak")
    expected = (base / "hg19_one_peak.mapped.bed").read_text().split()
    # one ungapped stretch on the minus strand: the summit base mirrors, 111481019 - 1 - 152
    assert result.orthologs.to_peaks(["1"]) == [Peak(expected[0], int(expected[1]), int(expected[2]), "1",
                                                     111_480_866, "-")]
    assert (tmp_path / "out.narrowPeak").read_text() == "chr8\t111480715\t111481019\t1\t0\t-\t-1\t-1\t-1\t151\n"


def test_epo_chain_pieces_match_bnmapper():
    """hpeaks.bed through the EPO chains: the fragments, touching ones joined, are bnMapper's pieces."""
    base = shared_path("data", "chain")
    peaks = [Peak(i.chrom, i.start, i.end, i.name, (i.start + i.end) // 2) for i in read_bed(base / "hpeaks.bed")]
    lifted = lift_peaks(read_chains(base / "epo_547_hs_mm_12way_mammals_65.chain"), peaks)
    rows = fragments(lifted, peaks)
    expected = [tuple(line.split()) for line in (base / "hpeaks.mapped.bed4").read_text().splitlines()]
    pieces = [(chrom, str(a), str(b), name) for name, chrom, _, a, b in merge_touching(rows) if name != "peak5"]
    assert pieces == expected  # peak3 lies in a chain gap: no fragment
    assert {row[2] for row in rows if row[0] == "peak4"} == {"-"}
    # peak5 spans two chains: 8 bp of one and 2 bp of the other, its summit in neither
    assert [row[3:] for row in rows if row[0] == "peak5"] == [(85465848, 85465856), (85762652, 85762654)]
    result = stitch_lifted(lifted, peaks, OrthologSettings())
    path = base / "epo_547_hs_mm_12way_mammals_65.chain"
    (summit1,), (summit2,) = (naive_lift(path, "chr21", peaks[i].summit) for i in (0, 1))
    assert result.orthologs.to_peaks([p.name for p in peaks]) == [
        Peak("chr16", 85453122, 85453194, "peak1", summit1[1], "+"),
        Peak("chr16", 85454203, 85454286, "peak2", summit2[1], "+"),
    ]
    assert summit1 == ("chr16", 85453159)  # 85453121 + (27838592 - 27838554), first block
    assert result.counts["too_short"] == 1 and result.counts["no_alignment"] == 1  # peak4 (48 bp), peak3
    assert result.counts["summit_unaligned"] == 1  # peak5


def test_gzip_and_plain_chains_agree(tmp_path):
    gz = tmp_path / "small.chain.gz"
    gz.write_bytes(gzip.compress(SMALL.read_bytes()))
    assert fragments(lift_peaks(read_chains(gz), PEAKS), PEAKS) == fragments(lift_peaks(read_chains(SMALL), PEAKS),
                                                                               PEAKS)


def test_single_bases_agree_with_a_plain_walk_over_the_blocks():
    """200 random target bases of the EPO chains (one chain on the minus strand), lifted as 1-bp peaks."""
    import numpy as np

    path = shared_path("data", "chain", "epo_547_hs_mm_12way_mammals_65.chain")
    chains = list(read_chains(path))
    rng = np.random.default_rng(7)
    spans = [(c.t_start, c.t_end) for c in chains]
    positions = [int(rng.integers(*spans[i])) for i in rng.integers(0, len(spans), 200)]
    peaks = [Peak("chr21", pos, pos + 1, f"b{i}", pos) for i, pos in enumerate(positions)]
    rows = fragments(lift_peaks(chains, peaks), peaks)
    got = sorted((name, chrom, start) for name, chrom, _, start, end in rows)
    expected = sorted((f"b{i}", chrom, q) for i, pos in enumerate(positions) for chrom, q in naive_lift(path, "chr21", pos))
    assert got == expected and len(expected) > 80  # 39,837 of the 74,425 spanned bases are aligned
