"""FASTA I/O, reverse complement, and summit-centred windows cut with pyfaidx from a tiny genome.

tests/data/genome_small.fa, chrA (80 bp): A x10, C x10, G x10, T x10, (ACGT) x5, N x10, acgtacgtac.
chrB (20 bp): ACGTRYACGTACGTACGTAC. The genome is copied to tmp_path so the .fai is not written into tests/.
"""

from __future__ import annotations

import argparse
import gzip
import shutil

import pytest

from conftest import DATA
from tacit.commands import sequences as sequences_command
from tacit.errors import InputError
from tacit.peaks import Peak
from tacit.sequences import extract_windows, read_fasta, reverse_complement, write_fasta


@pytest.fixture
def genome(tmp_path):
    path = tmp_path / "genome.fa"
    shutil.copy(DATA / "genome_small.fa", path)
    return path


def peak(name: str, summit: int, strand: str = "+", chrom: str = "chrA") -> Peak:
    return Peak(chrom, max(summit - 5, 0), summit + 5, name, summit, strand)


def test_reverse_complement_iupac_and_case():
    assert reverse_complement("AACGTN") == "NACGTT"
    assert reverse_complement("acgRYKMBDHVSW") == "WSBDHVKMRYcgt"
    assert reverse_complement("") == ""


def test_fasta_round_trip_plain_and_gzip(tmp_path):
    records = [("a", "ACGT"), ("b", "NNNN" * 30)]
    for name in ("x.fa", "x.fa.gz"):
        assert write_fasta(records, tmp_path / name) == 2
        assert list(read_fasta(tmp_path / name)) == records
    assert gzip.decompress((tmp_path / "x.fa.gz").read_bytes()).startswith(b">a\nACGT\n")


def test_read_fasta_wrapped_lines_and_header_words():
    assert list(read_fasta(DATA / "genome_small.fa")) == [
        ("chrA", "AAAAAAAAAACCCCCCCCCCGGGGGGGGGGTTTTTTTTTTACGTACGTACGTACGTACGTNNNNNNNNNNacgtacgtac"),
        ("chrB", "ACGTRYACGTACGTACGTAC"),
    ]


def test_read_fasta_errors(tmp_path):
    path = tmp_path / "bad.fa"
    path.write_text("\nACGT\n>x\nAC\n")
    with pytest.raises(InputError, match=r"bad\.fa:2: sequence before the first '>'"):
        list(read_fasta(path))
    path.write_text(">x\nAC\n> \nAC\n")
    with pytest.raises(InputError, match=r"bad\.fa:3: FASTA header without an id"):
        list(read_fasta(path))


def test_windows_strand_edges_and_drops(genome):
    orthologs = [
        peak("c_plus", 15),  # [10, 20)
        peak("gt_minus", 32, "-"),  # [27, 37) GGGTTTTTTT -> AAAAAAACCC
        peak("off_left", 4),  # [-1, 9)
        peak("last_fit", 75),  # [70, 80) lower case -> upper
        peak("off_right", 76),  # [71, 81)
        peak("all_n", 65),  # [60, 70)
        peak("half_n", 60),  # [55, 65): ACGTA NNNNN
        peak("absent", 15, chrom="chrZ"),
        peak("iupac", 5, "-", chrom="chrB"),  # [0, 10) has R and Y: 20 % non-ACGT
    ]
    records, dropped = extract_windows(genome, orthologs, width=10)
    assert records == [("c_plus", "CCCCCCCCCC"), ("gt_minus", "AAAAAAACCC"), ("last_fit", "ACGTACGTAC")]
    assert dropped == {"off_contig": 2, "missing_chrom": 1, "too_many_n": 3}
    assert (genome.parent / "genome.fa.fai").exists()


def test_n_fraction_threshold_is_inclusive(genome):
    orthologs = [peak("half_n", 60), peak("iupac", 5, "-", chrom="chrB")]
    records, dropped = extract_windows(genome, orthologs, width=10, max_n_fraction=0.2)
    assert records == [("iupac", "ACGTRYACGT")]  # 2 of 10 allowed; RC of ACGTRYACGT is itself
    records, _ = extract_windows(genome, orthologs, width=10, max_n_fraction=0.5)
    assert [name for name, _ in records] == ["half_n", "iupac"]


def test_odd_width_and_existing_index(genome):
    extract_windows(genome, [peak("a", 15)], width=10)  # builds the .fai
    records, _ = extract_windows(genome, [peak("a", 15)], width=5)  # [13, 18)
    assert records == [("a", "CCCCC")]


def test_no_requested_chromosome_in_genome_is_an_error(genome):
    with pytest.raises(InputError, match=r"genome\.fa: none of the 1 ortholog sequence\(s\) is in the genome, e\.g\. '1'"):
        extract_windows(genome, [peak("a", 15, chrom="1")])


def test_empty_orthologs_and_missing_genome(tmp_path):
    assert extract_windows(tmp_path / "absent.fa", []) == ([], {"off_contig": 0, "missing_chrom": 0, "too_many_n": 0})
    with pytest.raises(InputError, match="genome FASTA not found"):
        extract_windows(tmp_path / "absent.fa", [peak("a", 15)])


def test_command_line(genome, tmp_path):
    orthologs = tmp_path / "sp1.narrowPeak"
    orthologs.write_text("chrA\t10\t20\tocr1\t0\t+\t-1\t-1\t-1\t5\nchrA\t50\t70\tocr2\t0\t-\t-1\t-1\t-1\t15\n")
    parser = argparse.ArgumentParser()
    sequences_command.register(parser.add_subparsers())
    args = parser.parse_args(["sequences", "--orthologs", str(orthologs), "--genome", str(genome), "--out",
                              str(tmp_path / "sp1.fa"), "--qc", str(tmp_path / "sp1.qc.tsv"), "--width", "10"])
    assert args.func(args) == 0
    assert (tmp_path / "sp1.fa").read_text() == ">ocr1\nCCCCCCCCCC\n"
    assert (tmp_path / "sp1.qc.tsv").read_text() == (
        "species\tn_orthologs\textracted\toff_contig\tmissing_chrom\ttoo_many_n\nsp1\t2\t1\t0\t0\t1\n"
    )
