"""narrowPeak and BED reading: coordinates, absolute summits, and one clear error per kind of bad line."""

from __future__ import annotations

import gzip
import re

import pytest

from conftest import DATA, shared_path
from tacit.errors import InputError
from tacit.peaks import Interval, Peak, read_bed, read_narrowpeak


def test_narrowpeak_fixture_summits_are_absolute():
    peaks = read_narrowpeak(DATA / "peaks_small.narrowPeak")
    assert [p.name for p in peaks] == ["peakA", "peakD", "peakB", "peakC"]
    assert peaks[0] == Peak("chr1", 100, 160, "peakA", 135, ".")
    assert peaks[0].summit_offset == 35 and peaks[0].length == 60


def test_narrowpeak_skips_headers_and_reads_gzip(tmp_path):
    text = "track name=x\n# comment\n\nchr1\t0\t10\tp1\t0\t+\t1\t1\t1\t0\nbrowser position chr1\n"
    path = tmp_path / "p.narrowPeak.gz"
    path.write_bytes(gzip.compress(text.encode()))
    assert read_narrowpeak(path) == [Peak("chr1", 0, 10, "p1", 0, "+")]


@pytest.mark.parametrize(
    "line, message",
    [
        ("chr1\t0\t10\tp\t0\t.\t1\t1\t1", "10 columns, found 9"),
        ("chr1\tzero\t10\tp\t0\t.\t1\t1\t1\t0", "must be integers"),
        ("chr1\t10\t10\tp\t0\t.\t1\t1\t1\t0", "start < end"),
        ("chr1\t-5\t10\tp\t0\t.\t1\t1\t1\t0", "0 <= start"),
        ("chr1\t0\t10\tp\t0\t.\t1\t1\t1\t10", "summit offset 10 outside [0, 10)"),
        ("chr1\t0\t10\tp\t0\t.\t1\t1\t1\t-1", "summit offset -1"),
        ("chr1\t0\t10\tp\t0\t.\t1\t1\t1\t2.5", "column 10) must be an integer"),
        ("chr1\t0\t10\tp\t0\tx\t1\t1\t1\t2", "strand"),
    ],
)
def test_narrowpeak_errors_name_file_and_line(tmp_path, line, message):
    path = tmp_path / "bad.narrowPeak"
    path.write_text("# header\nchr1\t0\t5\tok\t0\t.\t1\t1\t1\t2\n" + line + "\n")
    with pytest.raises(InputError, match=r"bad\.narrowPeak:3: .*" + re.escape(message)):
        read_narrowpeak(path)


def test_narrowpeak_duplicate_names(tmp_path):
    path = tmp_path / "dup.narrowPeak"
    path.write_text("chr1\t0\t5\tp\t0\t.\t1\t1\t1\t2\nchr2\t0\t5\tp\t0\t.\t1\t1\t1\t2\n")
    with pytest.raises(InputError, match=r"dup\.narrowPeak:2: duplicate peak name 'p' \(first on line 1\)"):
        read_narrowpeak(path)


def test_bed_names_optional_and_whitespace_separated(tmp_path):
    path = tmp_path / "neg.bed"
    path.write_text("chr1\t5\t9\nchr1\t10\t20\tneg2\t0\t+\nchr2 0 3 .\n")
    assert read_bed(path) == [
        Interval("chr1", 5, 9, "chr1:5-9"),
        Interval("chr1", 10, 20, "neg2"),
        Interval("chr2", 0, 3, "chr2:0-3"),
    ]


def test_bed_real_space_separated_without_final_newline():
    (interval,) = read_bed(shared_path("data", "maf", "mm10_chr12.bed"))
    assert interval == Interval("chr12", 56694985, 56695040, "chr12:56694985-56695040")
    (named,) = read_bed(shared_path("data", "maf", "dcking_ghp074.bed"))
    assert named == Interval("chr7", 80082367, 80083066, "GHP074.Cib1")


@pytest.mark.parametrize("line, message", [("chr1\t5", "at least 3 columns"), ("chr1\t5\t2", "start < end")])
def test_bed_errors_name_file_and_line(tmp_path, line, message):
    path = tmp_path / "bad.bed"
    path.write_text("chr1\t0\t5\n" + line + "\n")
    with pytest.raises(InputError, match=r"bad\.bed:2: .*" + message):
        read_bed(path)


def test_missing_file_is_input_error(tmp_path):
    with pytest.raises(InputError, match="file not found"):
        read_narrowpeak(tmp_path / "absent.narrowPeak")
