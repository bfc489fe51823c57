"""MAF reading: blocks and rows from hand-made and real UCSC files, gzip, and errors that name file and line."""

from __future__ import annotations

import gzip

import pytest

from conftest import DATA, shared_path
from tacit.errors import InputError
from tacit.maf import MafRow, plus_interval, read_maf


def test_fixture_blocks_rows_and_names():
    blocks = list(read_maf(DATA / "maf_small.maf"))
    assert [len(b) for b in blocks] == [4, 5, 5]
    first = blocks[0][0]
    assert first == MafRow("ref", "chr1", 100, 20, "+", 10000, "AAAAACCCCC--GGGGGTTTTT", 7)
    # several dots: species before the first, the rest is the sequence name; no dot: both are the name
    assert (blocks[0][3].species, blocks[0][3].chrom) == ("sp4", "scaf.1-99")
    assert (blocks[2][4].species, blocks[2][4].chrom) == ("baboon", "baboon")
    # sp3 has only an 'e' line in block 1: not a row
    assert [r.species for r in blocks[0]] == ["ref", "sp1", "sp2", "sp4"]


def test_plus_interval_mirrors_minus_rows():
    row = MafRow("sp2", "chrB", 8000, 18, "-", 10000, "", 1)
    assert plus_interval(row, 0, 18) == (1982, 2000)
    assert plus_interval(row, 8, 9) == (1991, 1992)
    assert plus_interval(row._replace(strand="+"), 2, 5) == (8002, 8005)


def test_gzip_gives_the_same_blocks(tmp_path):
    path = tmp_path / "maf_small.maf.gz"
    path.write_bytes(gzip.compress((DATA / "maf_small.maf").read_bytes()))
    assert list(read_maf(path)) == list(read_maf(DATA / "maf_small.maf"))


@pytest.mark.parametrize(
    "name, blocks, s_rows",
    [("ucsc_mm9_chr10.maf", 48, 270), ("mm8_chr7_tiny.maf", 8, 59), ("mm10_chr12_lessspe.maf", 5, 40),
     ("ucsc_test.maf", 3, 14)],
)
def test_real_files_block_and_row_counts(name, blocks, s_rows):
    read = list(read_maf(shared_path("data", "maf", name)))
    assert len(read) == blocks
    assert sum(len(b) for b in read) == s_rows


def test_real_ucsc_sample_track_line_and_dotless_source():
    blocks = list(read_maf(shared_path("data", "maf", "ucsc_test.maf")))
    assert [len(b) for b in blocks] == [5, 5, 4]
    baboon = blocks[1][2]
    assert (baboon.species, baboon.chrom, baboon.start, baboon.size, baboon.text) == ("baboon", "baboon", 241163, 6, "TAAAGA")


def test_real_minus_strand_rows_and_several_dots():
    blocks = list(read_maf(shared_path("data", "maf", "ucsc_mm9_chr10.maf")))
    sources = {(r.species, r.chrom) for b in blocks for r in b}
    assert ("otoGar1", "scaffold_334.1-359464") in sources
    assert any(r.species == "hg18" and r.strand == "-" for b in blocks for r in b)
    assert sum(1 for b in blocks if len(b) == 1) == 10  # mm9 alone


HEADER = "##maf version=1\n\na score=0\ns ref.chr1 0 4 + 100 ACGT\n"


@pytest.mark.parametrize(
    "line, message",
    [
        ("s sp.chr1 0 4 + 100", "7 fields"),
        ("s sp.chr1 zero 4 + 100 ACGT", "must be integers"),
        ("s sp.chr1 0 4 + 1e3 ACGT", "must be integers"),
        ("s sp.chr1 0 3 + 100 ACGT", "size is 3 but the text has 4 non-gap"),
        ("s sp.chr1 0 3 + 100 AC-GT", "size is 3 but the text has 4"),
        ("s sp.chr1 0 3 + 100 AC-T-", "5 columns but the block's first row \\(line 4\\) has 4"),
        ("s sp.chr1 0 4 . 100 ACGT", "strand must be"),
        ("s sp.chr1 98 4 + 100 ACGT", "srcSize"),
    ],
)
def test_errors_name_file_and_line(tmp_path, line, message):
    path = tmp_path / "bad.maf"
    path.write_text(HEADER + line + "\n\n")
    with pytest.raises(InputError, match=r"bad\.maf:5: .*" + message):
        list(read_maf(path))


def test_s_line_outside_block(tmp_path):
    path = tmp_path / "bad.maf"
    path.write_text("##maf version=1\ns ref.chr1 0 4 + 100 ACGT\n")
    with pytest.raises(InputError, match=r"bad\.maf:2: 's' line outside"):
        list(read_maf(path))


def test_error_in_gzip_names_line(tmp_path):
    path = tmp_path / "bad.maf.gz"
    path.write_bytes(gzip.compress((HEADER + "s sp.chr1 0 3 + 100 ACGT\n").encode()))
    with pytest.raises(InputError, match=r"bad\.maf\.gz:5: size is 3"):
        list(read_maf(path))
