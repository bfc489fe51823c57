"""``tacit halper``: HALPER's own example line for line, then each option and quirk on hand-made cases.

Expected lines of the hand-made cases were derived by hand from HALPER's code (orthologFind.py and
scripts/orthologFindHelper.py of pfenninglab/halLiftover-postprocessing): fragments sorted by sequence
name (shorter first) and start with a gap segment between same-sequence neighbours, a binary search for
the segment holding the lifted summit, the ortholog from the first to the last fragment of the summit's
sequence, lengths counting both ends. They were also checked by running HALPER itself on the same files.
"""

from __future__ import annotations

import argparse
import gzip
from pathlib import Path

import pytest

from conftest import shared_path
from tacit.commands import halper as halper_command
from tacit.errors import InputError
from tacit.halper import HalperSettings, run_halper
from tacit.orthologs import QC_COLUMNS, REASONS

STRICT = dict(min_len=50, max_len=1000, protect_dist=5)


def run(tmp_path: Path, query: str, fragments: str, summits: str, **settings) -> tuple[list[str], list[str]]:
    """Write the three inputs (lines given with spaces for tabs), run, return OUT and OUT.failed lines."""
    paths = []
    for name, text in (("q.bed", query), ("t.bed", fragments), ("s.bed", summits)):
        path = tmp_path / name
        path.write_text("".join("\t".join(line.split()) + "\n" for line in text.strip().splitlines()))
        paths.append(path)
    defaults = {key: value for key, value in STRICT.items() if f"{key[:3]}_frac" not in settings}
    out = tmp_path / "out.bed"
    run_halper(*paths, out, HalperSettings(**{**defaults, **settings}))
    return out.read_text().splitlines(), Path(f"{out}.failed").read_text().splitlines()


def tabs(*lines: str) -> list[str]:
    return ["\t".join(line.split()) for line in lines]


# --- HALPER's example -----------------------------------------------------------------------------------


def test_halper_example_gives_halpers_lines(tmp_path):
    """orthologFind.py -max_len 1000 -min_len 50 -protect_dist 5 -mult_keepone on HALPER's examples/."""
    base = shared_path("data", "halper_example")
    out = tmp_path / "orthologs.bed"
    result = run_halper(base / "hg38Peaks.bed", base / "hg38Peaks_halLiftovermm10.bed",
                        base / "hg38Peaks_summits_halLiftovermm10.bed", out,
                        HalperSettings(min_len=50, max_len=1000, protect_dist=5, mult_keepone=True))
    stem = "hg38Peaks_halLiftovermm10_summitExtendedMin50Max1000Protect5.bed"
    for suffix, n in (("", 602), (".failed", 137)):
        expected = (base / (stem + suffix)).read_text().splitlines()
        got = Path(f"{out}{suffix}").read_text().splitlines()
        assert len(got) == n and set(got) == set(expected)
    assert result.passed.sum() == 602


def test_halper_example_through_the_command_line(tmp_path):
    base = shared_path("data", "halper_example")
    parser = argparse.ArgumentParser()
    halper_command.register(parser.add_subparsers())
    out = tmp_path / "out.bed"
    args = parser.parse_args(["halper", "--query", str(base / "hg38Peaks.bed"), "--target",
                              str(base / "hg38Peaks_halLiftovermm10.bed"), "--summits",
                              str(base / "hg38Peaks_summits_halLiftovermm10.bed"), "--out", str(out),
                              "--max-len", "1000", "--min-len", "50", "--protect-dist", "5", "--mult-keepone"])
    assert args.func(args) == 0
    expected = base / "hg38Peaks_halLiftovermm10_summitExtendedMin50Max1000Protect5.bed.failed"
    assert set(Path(f"{out}.failed").read_text().splitlines()) == set(expected.read_text().splitlines())


# --- hand-made cases ------------------------------------------------------------------------------------

# peak a: fragments chr1 100-150 and 160-300 (a gap of 10) and one on chr2; summit lifted to chr1:200.
# Segments: chr1 (100,150), gap (150,160), chr1 (160,300), chr2 (0,50); the search finds (160,300).
# Ortholog chr1:100-300, summit 200, length 300 - 100 + 1 = 201, 100 to each end.
FRAGMENTS = """
chr1 160 300 a
chr2 0 50 a
chr1 100 150 a
"""
SUMMIT = "chr1 200 201 a"
A_LINE = "chr1 100 300 200 a 201 200 100 100"


def test_default_columns(tmp_path):
    assert run(tmp_path, "chrQ 1000 1200 a", FRAGMENTS, SUMMIT) == (tabs(A_LINE), [])


@pytest.mark.parametrize(
    "query_end, limits, passes",
    [
        (1200, dict(max_frac=1.0), True),  # 201 <= 1.0 * (200 + 1)
        (1199, dict(max_frac=1.0), False),  # 201 > 1.0 * (199 + 1)
        (1200, dict(max_frac=0.5), False),
        (1200, dict(min_frac=1.0), True),  # 201 >= 1.0 * (200 + 1)
        (1201, dict(min_frac=1.0), False),  # 201 < 1.0 * (201 + 1)
        (1200, dict(min_frac=0.2), True),
    ],
)
def test_fractions_are_relative_to_query_length_plus_one(tmp_path, query_end, limits, passes):
    expected = [A_LINE.replace(" 200 100 100", f" {query_end - 1000} 100 100")]  # query length column
    passed, failed = run(tmp_path, f"chrQ 1000 {query_end} a", FRAGMENTS, SUMMIT, **limits)
    assert (passed, failed) == ((tabs(*expected), []) if passes else ([], tabs(*expected)))


@pytest.mark.parametrize(
    "limits, passes",
    [
        (dict(max_len=201), True),  # HALPER's length counts both ends: 201
        (dict(max_len=200), False),
        (dict(min_len=201), True),
        (dict(min_len=202), False),
        (dict(protect_dist=100), True),  # 100 bases on each side
        (dict(protect_dist=101), False),
    ],
)
def test_length_and_protection_limits_are_inclusive(tmp_path, limits, passes):
    passed, failed = run(tmp_path, "chrQ 1000 1200 a", FRAGMENTS, SUMMIT, **limits)
    assert (passed, failed) == ((tabs(A_LINE), []) if passes else ([], tabs(A_LINE)))


def test_exactly_one_of_length_and_fraction():
    with pytest.raises(InputError, match="min_len and min_frac"):
        HalperSettings(min_len=50, min_frac=0.5, max_len=1000)
    with pytest.raises(InputError, match="max_len and max_frac"):
        HalperSettings(min_len=50)


# Summits lifted to several places. m: two consecutive lines. n: a single line, another name, a single
# line again (the last run counts). o: a single line, then two consecutive lines.
MULTI_QUERY = """
chrQ 0 200 m
chrQ 0 200 n
chrQ 0 200 o
"""
MULTI_FRAGMENTS = """
chr1 100 300 m
chr1 100 300 n
chr1 100 300 o
"""
MULTI_SUMMITS = """
chr1 200 201 m
chr1 250 251 m
chr1 210 211 n
chr1 230 231 o
chr1 220 221 n
chr1 240 241 o
chr1 260 261 o
"""


def test_summit_lifted_to_several_places_drops_the_peak(tmp_path):
    passed, failed = run(tmp_path, MULTI_QUERY, MULTI_FRAGMENTS, MULTI_SUMMITS)
    assert passed == tabs("chr1 100 300 220 n 201 200 120 80") and failed == []


def test_mult_keepone_keeps_the_first_line_of_the_last_run(tmp_path):
    passed, failed = run(tmp_path, MULTI_QUERY, MULTI_FRAGMENTS, MULTI_SUMMITS, mult_keepone=True)
    assert passed == tabs("chr1 100 300 200 m 201 200 100 100", "chr1 100 300 220 n 201 200 120 80",
                          "chr1 100 300 240 o 201 200 140 60")
    assert failed == []


NARROWPEAK_QUERY = "chrQ 1000 1200 a 870 . 12.5 31.2 28.9 95"


def test_narrowpeak_output(tmp_path):
    passed, _ = run(tmp_path, NARROWPEAK_QUERY, FRAGMENTS, SUMMIT, narrowpeak=True)
    assert passed == tabs("chr1 100 300 a -1 . -1 -1 -1 100")  # column 10: summit - start


def test_preserve_copies_query_columns(tmp_path):
    passed, _ = run(tmp_path, NARROWPEAK_QUERY, FRAGMENTS, SUMMIT, narrowpeak=True, preserve=("signal", "qValue"))
    assert passed == tabs("chr1 100 300 a -1 . 12.5 -1 28.9 100")
    passed, _ = run(tmp_path, NARROWPEAK_QUERY, FRAGMENTS, SUMMIT, narrowpeak=True,
                    preserve=("score", "signal", "pvalue", "qvalue"))
    assert passed == tabs("chr1 100 300 a 870 . 12.5 31.2 28.9 100")
    # a BED4 query has no such columns: -1, as HALPER writes
    passed, _ = run(tmp_path, "chrQ 1000 1200 a", FRAGMENTS, SUMMIT, narrowpeak=True, preserve=("signal",))
    assert passed == tabs("chr1 100 300 a -1 . -1 -1 -1 100")
    with pytest.raises(InputError, match="cannot preserve"):
        HalperSettings(min_len=1, max_len=2, preserve=("strand",))


def test_keep_chr_prefix_fails_other_sequences(tmp_path):
    query = "chrQ 1000 1200 a\nchrQ 1000 1200 b"
    fragments = FRAGMENTS + "scaffold_1 100 300 b\n"
    summits = SUMMIT + "\nscaffold_1 200 201 b"
    b_line = "scaffold_1 100 300 200 b 201 200 100 100"
    assert run(tmp_path, query, fragments, summits) == (tabs(A_LINE, b_line), [])
    assert run(tmp_path, query, fragments, summits, keep_chr_prefix="chr") == (tabs(A_LINE), tabs(b_line))


def test_peaks_without_fragments_or_summit_are_written_nowhere(tmp_path):
    query = """
    chrQ 0 100 nofrags
    chrQ 0 100 nosummit
    chrQ 0 100 elsewhere
    chrQ 1000 1200 a
    chrQ 1000 1200 a
    """
    fragments = FRAGMENTS + "chr1 0 100 nosummit\nchr1 0 100 elsewhere\n"
    summits = SUMMIT + "\nchr1 50 51 nofrags\nchr3 50 51 elsewhere"  # elsewhere: no fragment on chr3
    # query lines are processed one by one: the duplicate gives a second line
    assert run(tmp_path, query, fragments, summits) == (tabs(A_LINE, A_LINE), [])


def test_overlapping_fragments_end_at_the_last_fragment_sorted_by_start(tmp_path):
    # sorted: (100,500), gap (500,150), (150,200); the search finds (100,500) and the ortholog ends
    # at the end of the last fragment (200), not at the largest end (500)
    passed, _ = run(tmp_path, "chrQ 0 400 a", "chr1 100 500 a\nchr1 150 200 a", "chr1 120 121 a", min_len=1)
    assert passed == tabs("chr1 100 200 120 a 101 400 20 80")


def test_fragments_with_equal_starts_sort_later_line_first(tmp_path):
    # HALPER's merge sort puts the right half first on ties: the later line comes first, so the last
    # fragment (whose end is the ortholog's end) is the earlier line
    passed, _ = run(tmp_path, "chrQ 0 400 a", "chr1 100 150 a\nchr1 100 180 a", "chr1 120 121 a", min_len=1)
    assert passed == tabs("chr1 100 150 120 a 51 400 20 30")
    passed, _ = run(tmp_path, "chrQ 0 400 a", "chr1 100 180 a\nchr1 100 150 a", "chr1 120 121 a", min_len=1)
    assert passed == tabs("chr1 100 180 120 a 81 400 20 60")


def test_binary_search_can_miss_a_summit_inside_an_overlapping_fragment(tmp_path):
    # segments (100,500), gap (500,150), (150,200), gap (200,210), (210,220): the search for 300 goes
    # right of (150,200) and never visits (100,500), so HALPER writes the peak nowhere
    fragments = "chr1 100 500 a\nchr1 150 200 a\nchr1 210 220 a"
    assert run(tmp_path, "chrQ 0 400 a", fragments, "chr1 300 301 a", min_len=1) == ([], [])


def test_ortholog_spans_the_summit_sequence_only(tmp_path):
    # HALPER orders chr9 before chr10 (shorter name first): segments chr9 (100,200), chr10 (100,200),
    # chr10 gap (200,300), chr10 (300,400); the search finds the summit in chr10's last fragment
    fragments = "chr10 300 400 a\nchr9 100 200 a\nchr10 100 200 a"
    passed, _ = run(tmp_path, "chrQ 0 400 a", fragments, "chr10 350 351 a", min_len=1)
    assert passed == tabs("chr10 100 400 350 a 301 400 250 50")


def test_gzip_inputs_names_with_spaces_and_no_final_newline(tmp_path):
    (tmp_path / "q.bed.gz").write_bytes(gzip.compress(b"chrQ\t1000\t1200\ta\n"))
    (tmp_path / "t.bed").write_bytes(b"chr1\t160\t300\ta \r\nchr2\t0\t50\ta\n\nchr1\t100\t150\t a")
    (tmp_path / "s.bed.gz").write_bytes(gzip.compress(b"chr1\t200\t201\ta\n"))
    out = tmp_path / "out.bed"
    run_halper(tmp_path / "q.bed.gz", tmp_path / "t.bed", tmp_path / "s.bed.gz", out, HalperSettings(**STRICT))
    assert out.read_text().splitlines() == tabs(A_LINE)


def test_many_chunks_give_the_same_lines(tmp_path, monkeypatch):
    """Files are parsed in chunks of whole lines; a tiny chunk size must not change anything."""
    import tacit.halper

    expected = run(tmp_path, MULTI_QUERY, MULTI_FRAGMENTS, MULTI_SUMMITS, mult_keepone=True)
    monkeypatch.setattr(tacit.halper, "_CHUNK", 7)
    assert run(tmp_path, MULTI_QUERY, MULTI_FRAGMENTS, MULTI_SUMMITS, mult_keepone=True) == expected


@pytest.mark.parametrize(
    "fragments, line, message",
    [
        ("chr1 100 150 a\nchr1 160 a", 2, "at least 4 tab-separated columns"),
        ("chr1 100 150 a\n\nchr1 1e3 300 a", 3, "start .* integer"),
        ("chr1 100 -150 a", 1, "end .* integer"),
    ],
)
def test_malformed_lines_name_file_and_line(tmp_path, fragments, line, message):
    with pytest.raises(InputError, match=message) as err:
        run(tmp_path, "chrQ 0 100 a", fragments, SUMMIT)
    assert err.value.line == line and err.value.path.endswith("t.bed")


def test_empty_lifted_files_give_empty_outputs(tmp_path):
    assert run(tmp_path, "chrQ 0 100 a", "", SUMMIT) == ([], [])
    with pytest.raises(InputError, match="no query peaks"):
        run(tmp_path, "", FRAGMENTS, SUMMIT)


def test_command_line_needs_one_limit_of_each_kind(tmp_path, capsys):
    parser = argparse.ArgumentParser()
    halper_command.register(parser.add_subparsers())
    base = ["halper", "--query", "q", "--target", "t", "--summits", "s", "--out", "o"]
    with pytest.raises(SystemExit):
        parser.parse_args(base + ["--min-len", "50"])
    with pytest.raises(SystemExit):
        parser.parse_args(base + ["--min-len", "50", "--min-frac", "0.5", "--max-len", "1000"])
    args = parser.parse_args(base + ["--min-frac", "0.5", "--max-frac", "2", "--preserve", "pValue", "SIGNAL"])
    assert (args.min_frac, args.max_frac, args.protect_dist, args.preserve) == (0.5, 2.0, 50, ["pvalue", "signal"])


# --- QC table (--qc, not in HALPER) ---------------------------------------------------------------------

QC_QUERY = """
chrQ 1000 1200 a
chrQ 0 100 nofrags
chrQ 0 100 nosummit
chrQ 0 100 elsewhere
chrQ 0 100 long
chrQ 0 100 short
chrQ 0 100 edge
chrQ 1000 1200 scaf
"""
QC_FRAGMENTS = FRAGMENTS + """
chr1 0 100 nosummit
chr1 0 100 elsewhere
chr1 0 2000 long
chr1 0 20 short
chr1 0 100 edge
scaffold_1 100 300 scaf
"""
QC_SUMMITS = SUMMIT + """
chr1 50 51 nofrags
chr3 50 51 elsewhere
chr1 1000 1001 long
chr1 10 11 short
chr1 2 3 edge
scaffold_1 200 201 scaf
"""


def qc_table(tmp_path: Path, **settings) -> dict[str, str]:
    paths = []
    for name, text in (("q.bed", QC_QUERY), ("t.bed", QC_FRAGMENTS), ("s.bed", QC_SUMMITS)):
        paths.append(tmp_path / name)
        paths[-1].write_text("".join("\t".join(line.split()) + "\n" for line in text.strip().splitlines()))
    qc = tmp_path / "qc.tsv"
    result = run_halper(*paths, tmp_path / "out.bed", HalperSettings(**{**STRICT, **settings}), qc=qc,
                        species="Mus_musculus")
    header, row = qc.read_text().splitlines()
    table = dict(zip(header.split("\t"), row.split("\t")))
    assert list(table) == list(QC_COLUMNS)
    assert int(table["mapped"]) == result.passed.sum() == len((tmp_path / "out.bed").read_text().splitlines())
    assert sum(int(table[key]) for key in ("mapped", *REASONS)) == int(table["n_peaks"])  # one outcome per line
    return table


def test_qc_counts_each_query_line_once(tmp_path):
    # a and scaf pass (length 200 each); nofrags has no fragment; nosummit has no summit line and elsewhere's
    # summit is on a sequence without fragments (both written nowhere); long, short and edge fail one limit
    # each; a alone has fragments on another sequence (chr2)
    assert qc_table(tmp_path) == {
        "species": "Mus_musculus", "n_peaks": "8", "mapped": "2", "no_alignment": "1", "summit_unaligned": "2",
        "too_short": "1", "too_long": "1", "summit_near_edge": "1", "other_chrom": "1", "median_length": "200"}


def test_qc_counts_a_rejected_sequence_as_summit_unaligned(tmp_path):
    table = qc_table(tmp_path, keep_chr_prefix="chr")  # scaf's ortholog fails: its summit is on scaffold_1
    assert (table["mapped"], table["summit_unaligned"], table["median_length"]) == ("1", "3", "200")


def test_qc_several_summits_and_first_failing_limit(tmp_path):
    # too long and too close to the edge: too_long comes first, as in the MAF path's stitching
    query, fragments = "chrQ 0 100 a\nchrQ 0 100 b", "chr1 0 2000 a\nchr1 0 100 b"
    summits = "chr1 1 2 a\nchr1 50 51 b\nchr1 60 61 b"  # b's summit lifted to two places
    paths = []
    for name, text in (("q.bed", query), ("t.bed", fragments), ("s.bed", summits)):
        paths.append(tmp_path / name)
        paths[-1].write_text("".join("\t".join(line.split()) + "\n" for line in text.splitlines()))
    for keepone, expected in ((False, "0\t0\t1\t0\t1\t0\t0\tNA"), (True, "1\t0\t0\t0\t1\t0\t0\t100")):
        qc = tmp_path / f"qc{keepone}.tsv"
        run_halper(*paths, tmp_path / "out.bed", HalperSettings(**STRICT, mult_keepone=keepone), qc=qc, species="sp")
        assert qc.read_text().splitlines()[1] == "sp\t2\t" + expected


def test_qc_through_the_command_line(tmp_path):
    base = shared_path("data", "halper_example")
    parser = argparse.ArgumentParser()
    halper_command.register(parser.add_subparsers())
    out, qc = tmp_path / "out.bed", tmp_path / "qc.tsv"
    argv = ["halper", "--query", str(base / "hg38Peaks.bed"), "--target", str(base / "hg38Peaks_halLiftovermm10.bed"),
            "--summits", str(base / "hg38Peaks_summits_halLiftovermm10.bed"), "--out", str(out), "--max-len", "1000",
            "--min-len", "50", "--protect-dist", "5", "--mult-keepone", "--narrowpeak"]
    args = parser.parse_args(argv + ["--qc", str(qc), "--species", "mm10"])
    assert args.func(args) == 0
    # 602 lines in OUT and 137 in OUT.failed (136 too long, 1 too close to the edge); 261 written nowhere
    assert qc.read_text().splitlines()[1].split("\t") == ["mm10", "1000", "602", "123", "138", "0", "136", "1", "8",
                                                          "606.5"]
    args = parser.parse_args(argv + ["--qc", str(tmp_path / "other.tsv")])
    with pytest.raises(InputError, match="--qc needs --species"):
        args.func(args)
