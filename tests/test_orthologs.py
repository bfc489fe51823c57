"""Orthologs through a MAF: fragments, summit lifting, HALPER stitching, outputs, and real UCSC snippets.

Expected coordinates of the hand-made fixture (tests/data/maf_small.maf) were worked out by hand from its
text; those of the real files come from ../shared/data/README.md, and the lifted summits were checked with
a naive column-by-column walk over the MAF text.
"""

from __future__ import annotations

import argparse
import gzip

import pytest

from conftest import DATA, shared_path
from tacit.commands import maf_orthologs
from tacit.errors import InputError
from tacit.maf import read_maf
from tacit.orthologs import (
    QC_COLUMNS,
    Fragments,
    Locus,
    OrthologSettings,
    _Mapper,
    lift_peaks,
    map_orthologs,
    read_species_list,
    stitch,
)
from tacit.peaks import Peak, read_narrowpeak

LOOSE = OrthologSettings(min_len=30, max_len=100, protect_dist=3)


def lift_fixture(settings: OrthologSettings = LOOSE, path=DATA / "maf_small.maf"):
    peaks = read_narrowpeak(DATA / "peaks_small.narrowPeak")
    result = lift_peaks(read_maf(path), peaks, "ref", settings)
    names = [p.name for p in peaks]
    return result, {sp: result.orthologs[sp].to_peaks(names) for sp in result.species}


# --- stitch ---------------------------------------------------------------------------------------------


def frags(*rows):
    return Fragments.from_lists(*zip(*rows)) if rows else Fragments.from_lists([], [], [], [])


def test_stitch_spans_fragments_of_the_summit_sequence_and_strand():
    f = frags(("c1", "+", 100, 150), ("c1", "+", 300, 320), ("c2", "+", 0, 5000), ("c1", "-", 0, 90))
    assert stitch(f, Locus("c1", "+", 120)) == (100, 320, None, 2)


@pytest.mark.parametrize(
    "summit, kwargs, expected",
    [
        (Locus("c1", "+", 120), dict(max_len=219), (100, 320, "too_long", 0)),
        (Locus("c1", "+", 120), dict(max_len=220), (100, 320, None, 0)),
        (Locus("c1", "+", 120), dict(min_len=221), (100, 320, "too_short", 0)),
        (Locus("c1", "+", 104), dict(protect_dist=5), (100, 320, "summit_near_edge", 0)),
        (Locus("c1", "+", 105), dict(protect_dist=5), (100, 320, None, 0)),
        (Locus("c1", "+", 315), dict(protect_dist=5), (100, 320, None, 0)),  # 5 bases incl. the summit
        (Locus("c1", "+", 316), dict(protect_dist=5), (100, 320, "summit_near_edge", 0)),
        (Locus("c1", "+", 400), {}, (100, 320, "summit_unaligned", 0)),
        (Locus("c3", "+", 120), {}, (None, None, "summit_unaligned", 2)),
    ],
)
def test_stitch_limits(summit, kwargs, expected):
    assert stitch(frags(("c1", "+", 100, 150), ("c1", "+", 300, 320)), summit, **kwargs) == expected


def test_stitch_reproduces_halper_example():
    """HALPER's own example (orthologFind.py -max_len 1000 -min_len 50 -protect_dist 5 -mult_keepone).

    HALPER measures length as end - start + 1, hence min_len=49, max_len=999 here. All 739 peaks with a
    lifted summit must get HALPER's coordinates and HALPER's pass/fail.
    """
    base = shared_path("data", "halper_example")
    fragments: dict[str, list[tuple[str, str, int, int]]] = {}
    for line in (base / "hg38Peaks_halLiftovermm10.bed").read_text().splitlines():
        chrom, start, end, name = line.split("\t")
        fragments.setdefault(name, []).append((chrom, "+", int(start), int(end)))
    summits: dict[str, Locus] = {}
    for line in (base / "hg38Peaks_summits_halLiftovermm10.bed").read_text().splitlines():
        chrom, start, _, name = line.split("\t")
        summits.setdefault(name, Locus(chrom, "+", int(start)))  # -mult_keepone: first mapping
    expected = {}
    stem = "hg38Peaks_halLiftovermm10_summitExtendedMin50Max1000Protect5.bed"
    for suffix, passed in (("", True), (".failed", False)):
        for line in (base / (stem + suffix)).read_text().splitlines():
            chrom, start, end, summit, name = line.split("\t")[:5]
            expected[name] = (chrom, int(start), int(end), int(summit), passed)
    got = {}
    for name, summit in summits.items():
        result = stitch(frags(*fragments[name]), summit, min_len=49, max_len=999, protect_dist=5)
        got[name] = (summit.chrom, result.start, result.end, summit.pos, result.reason is None)
    assert len(expected) == 739
    assert got == expected


# --- the hand-made fixture ------------------------------------------------------------------------------


def test_fixture_orthologs():
    result, out = lift_fixture()
    assert result.species == ["baboon", "ref", "sp1", "sp2", "sp3", "sp4"]
    assert out["sp1"] == [Peak("chrA", 500, 562, "peakA", 537, "+")]  # insertion TT inside the span
    assert out["sp2"] == [Peak("chrB", 1962, 2000, "peakA", 1966, "-")]  # minus rows; chrZ fragment dropped
    assert out["sp3"] == [Peak("chrC", 40, 80, "peakA", 55, "+")]  # absent from block 1
    assert out["sp4"] == [] and out["baboon"] == []
    assert [p.name for p in out["ref"]] == ["peakA", "peakD", "peakB", "peakC"]
    assert out["ref"][0] == Peak("chr1", 100, 160, "peakA", 135, "+")


def test_fixture_qc_counts():
    result, _ = lift_fixture()
    qc = {row["species"]: row for row in result.qc_rows()}
    assert [list(row) for row in qc.values()][0] == list(QC_COLUMNS)
    expected = {  # mapped, no_alignment, summit_unaligned, too_short, too_long, near_edge, other_chrom, median
        "sp1": (1, 2, 0, 1, 0, 0, 0, "62"),  # peakD: 20 bp
        "sp2": (1, 2, 0, 1, 0, 0, 1, "38"),
        "sp3": (1, 3, 0, 0, 0, 0, 0, "40"),
        "sp4": (0, 2, 1, 1, 0, 0, 0, "NA"),  # peakA: summit column is a gap in sp4
        "baboon": (0, 3, 1, 0, 0, 0, 0, "NA"),  # only in block 3, the summit is in block 2
        "ref": (4, 0, 0, 0, 0, 0, 0, "65"),
    }
    for species, values in expected.items():
        row = qc[species]
        assert row["n_peaks"] == 4
        assert tuple(row[c] for c in QC_COLUMNS[2:]) == values, species


def test_fixture_limits_change_outcomes():
    result, out = lift_fixture(OrthologSettings(min_len=30, max_len=50, protect_dist=3))
    assert out["sp1"] == [] and result.counts["sp1"]["too_long"] == 1
    result, out = lift_fixture(OrthologSettings(min_len=30, max_len=100, protect_dist=5))
    assert out["sp2"] == [] and result.counts["sp2"]["summit_near_edge"] == 1  # summit 4 bp from start
    result, out = lift_fixture(OrthologSettings())
    assert out["sp1"] == [Peak("chrA", 500, 562, "peakA", 537, "+")] and out["sp3"] == []


def test_gzip_maf_gives_the_same_orthologs(tmp_path):
    path = tmp_path / "maf_small.maf.gz"
    path.write_bytes(gzip.compress((DATA / "maf_small.maf").read_bytes()))
    assert lift_fixture(path=path)[1] == lift_fixture()[1]


def test_reference_on_minus_strand(tmp_path):
    path = tmp_path / "minus.maf"
    path.write_text("a\ns ref.chr1 800 10 - 1000 ACGTACGTAC\ns sp1.chrA 50 10 + 100 ACGTACGTAC\n")
    # ref '-' offsets 800..809 are forward 199..190; summit 192 is offset 7, aligned to sp1 57, opposite strands
    result = lift_peaks(read_maf(path), [Peak("chr1", 190, 200, "p", 192)], "ref", OrthologSettings(min_len=5, protect_dist=0))
    assert result.orthologs["sp1"].to_peaks(["p"]) == [Peak("chrA", 50, 60, "p", 57, "-")]


def test_unsorted_maf_overlapping_a_passed_peak_is_an_error(tmp_path):
    path = tmp_path / "unsorted.maf"
    path.write_text("a\ns ref.chr1 200 4 + 1000 ACGT\ns sp1.chrA 0 4 + 100 ACGT\n\n"
                    "a\ns ref.chr1 100 4 + 1000 ACGT\ns sp1.chrA 50 4 + 100 ACGT\n")
    peaks = [Peak("chr1", 100, 125, "early", 110)]
    with pytest.raises(InputError, match=r"unsorted\.maf:6: alignment blocks are not sorted .* peak early"):
        lift_peaks(read_maf(path), peaks, "ref", LOOSE, source=path)
    # unsorted blocks that touch no passed peak are fine
    assert lift_peaks(read_maf(path), [Peak("chr1", 150, 250, "late", 202)], "ref", LOOSE).n_reference_blocks == 2


def test_peaks_are_released_once_passed():
    peaks = read_narrowpeak(DATA / "peaks_small.narrowPeak")
    mapper = _Mapper(peaks, "ref", LOOSE, None)
    blocks = list(read_maf(DATA / "maf_small.maf"))
    for block in blocks:
        mapper.add_block(block)
    assert set(mapper.open) == {0}  # peakA overlaps the last block; peakD (ends at 119) is done
    late = [row._replace(start=row.start + 1000) if row.species == "ref" else row for row in blocks[2]]
    mapper.add_block(late)
    assert mapper.open == {}


# --- files and command line -----------------------------------------------------------------------------


def test_map_orthologs_writes_every_species(tmp_path):
    species_list = tmp_path / "species.txt"
    species_list.write_text("# wanted\nsp1\n\nsp9\n")
    peaks = read_narrowpeak(DATA / "peaks_small.narrowPeak")
    map_orthologs(DATA / "maf_small.maf", peaks, "ref", tmp_path / "out", read_species_list(species_list), LOOSE)
    out = tmp_path / "out"
    assert sorted(p.name for p in out.iterdir()) == sorted(
        [f"{s}.narrowPeak" for s in ("baboon", "ref", "sp1", "sp2", "sp3", "sp4", "sp9")] + ["qc.tsv"]
    )
    assert (out / "sp1.narrowPeak").read_text() == "chrA\t500\t562\tpeakA\t0\t+\t-1\t-1\t-1\t37\n"
    assert (out / "sp2.narrowPeak").read_text() == "chrB\t1962\t2000\tpeakA\t0\t-\t-1\t-1\t-1\t4\n"
    assert (out / "sp9.narrowPeak").read_text() == ""
    ref_lines = (out / "ref.narrowPeak").read_text().splitlines()
    assert [line.split("\t")[3] for line in ref_lines] == ["peakA", "peakD", "peakB", "peakC"]  # chrom, start
    assert read_narrowpeak(out / "sp2.narrowPeak") == [Peak("chrB", 1962, 2000, "peakA", 1966, "-")]
    qc = [line.split("\t") for line in (out / "qc.tsv").read_text().splitlines()]
    assert qc[0] == list(QC_COLUMNS)
    assert qc[-1] == ["sp9", "4", "0", "4", "0", "0", "0", "0", "0", "NA"]


def test_output_sorted_by_chrom_start_name(tmp_path):
    path = tmp_path / "two.maf"
    path.write_text("a\ns ref.chr1 0 60 + 1000 " + "A" * 60 + "\ns sp1.chrB 0 60 + 100 " + "A" * 60 + "\n\n"
                    "a\ns ref.chr1 60 60 + 1000 " + "A" * 60 + "\ns sp1.chrA 0 60 + 100 " + "A" * 60 + "\n")
    peaks = [Peak("chr1", 0, 60, "z", 30), Peak("chr1", 0, 60, "y", 30), Peak("chr1", 60, 120, "x", 90)]
    map_orthologs(path, peaks, "ref", tmp_path / "out", settings=OrthologSettings(min_len=10))
    rows = [line.split("\t")[:4] for line in (tmp_path / "out" / "sp1.narrowPeak").read_text().splitlines()]
    assert rows == [["chrA", "0", "60", "x"], ["chrB", "0", "60", "y"], ["chrB", "0", "60", "z"]]


def test_reference_absent_from_maf_is_an_error(tmp_path):
    peaks = read_narrowpeak(DATA / "peaks_small.narrowPeak")
    with pytest.raises(InputError, match=r"maf_small\.maf: no alignment block has a row of reference species 'mm10'"):
        map_orthologs(DATA / "maf_small.maf", peaks, "mm10", tmp_path / "out")


def test_bad_species_name_in_list(tmp_path):
    path = tmp_path / "species.txt"
    path.write_text("sp1\nbad/name\n")
    with pytest.raises(InputError, match=r"species\.txt:2: species name 'bad/name'"):
        read_species_list(path)


def test_command_line(tmp_path):
    parser = argparse.ArgumentParser()
    maf_orthologs.register(parser.add_subparsers())
    args = parser.parse_args(["maf-orthologs", "--maf", str(DATA / "maf_small.maf"), "--peaks",
                              str(DATA / "peaks_small.narrowPeak"), "--reference", "ref", "--out-dir",
                              str(tmp_path), "--min-len", "30", "--max-len", "100", "--protect-dist", "3"])
    assert args.func(args) == 0
    assert (tmp_path / "sp3.narrowPeak").read_text() == "chrC\t40\t80\tpeakA\t0\t+\t-1\t-1\t-1\t15\n"


def test_bad_settings():
    with pytest.raises(InputError, match="min_len <= max_len"):
        OrthologSettings(min_len=100, max_len=50)


# --- real UCSC snippets (../shared/data/maf) -------------------------------------------------------------

WIDE = OrthologSettings(min_len=1, max_len=10_000, protect_dist=0)


def lift_real(maf: str, peak: Peak, reference: str, settings: OrthologSettings = WIDE):
    result = lift_peaks(read_maf(shared_path("data", "maf", maf)), [peak], reference, settings)
    return result, {sp: result.orthologs[sp].to_peaks([peak.name]) for sp in result.species}


def test_real_mm9_to_hg18_minus_strand():
    # summit 3,014,700 lies in the block at 3,014,689 where hg18 is on '-': hg18 chr6:155,029,148
    result, out = lift_real("ucsc_mm9_chr10.maf", Peak("chr10", 3_014_000, 3_015_000, "p", 3_014_700), "mm9")
    assert out["hg18"] == [Peak("chr6", 155_028_517, 155_029_206, "p", 155_029_148, "-")]
    assert len(result.species) == 17


def test_real_mm9_summit_in_reference_only_block():
    # the midpoint 3,014,500 lies in a block where mm9 is the only row: no species gets an ortholog
    result, out = lift_real("ucsc_mm9_chr10.maf", Peak("chr10", 3_014_000, 3_015_000, "p", 3_014_500), "mm9")
    assert result.counts["hg18"]["summit_unaligned"] == 1
    assert all(out[sp] == [] for sp in result.species if sp != "mm9")


def test_real_mm9_single_species_and_uncovered_region():
    result, out = lift_real("ucsc_mm9_chr10.maf", Peak("chr10", 3_009_000, 3_010_000, "p", 3_009_400), "mm9")
    mapped = {sp: v for sp, v in out.items() if v and sp != "mm9"}
    assert list(mapped) == ["oryCun1"]
    (peak,) = mapped["oryCun1"]
    assert (peak.chrom, peak.start, peak.end, peak.strand) == ("scaffold_133159", 11_087, 11_251, "+")
    result, _ = lift_real("ucsc_mm9_chr10.maf", Peak("chr10", 3_009_481, 3_012_076, "gap", 3_010_000), "mm9")
    assert all(result.counts[sp]["no_alignment"] == 1 for sp in result.species if sp != "mm9")


def test_real_mm8_to_rn4_and_hg18():
    (interval,) = [line.split() for line in shared_path("data", "maf", "dcking_ghp074.bed").read_text().splitlines()]
    start, end = int(interval[1]), int(interval[2])
    peak = Peak(interval[0], start, end, interval[3], (start + end) // 2)  # summit 80,082,716
    _, out = lift_real("mm8_chr7_tiny.maf", peak, "mm8")
    assert out["rn4"] == [Peak("chr1", 136_011_818, 136_012_508, "GHP074.Cib1", 136_012_150, "+")]
    assert out["hg18"] == [Peak("chr15", 88_557_606, 88_558_186, "GHP074.Cib1", 88_557_991, "+")]


def test_real_mm10_to_hetgla2_minus_and_partial_bostau7():
    peak = Peak("chr12", 56_694_985, 56_695_040, "p", 56_695_012)
    result, out = lift_real("mm10_chr12_lessspe.maf", peak, "mm10")
    assert out["hetGla2"] == [Peak("JH602151", 148_257, 148_312, "p", 148_281, "-")]
    # bosTau7 aligns 13 bases in 2 blocks, but not the summit base
    assert out["bosTau7"] == [] and result.counts["bosTau7"]["summit_unaligned"] == 1


class _Recorder(_Mapper):
    """Keeps each species' raw fragments when a peak is closed."""

    def _close(self, p: int) -> None:
        self.recorded = {sp: lift.fragments() for sp, lift in self.open.get(p, {}).items()}
        super()._close(p)


def test_real_fragments_partial_coverage():
    """bosTau7 aligns only 13 bases of the mm10 interval, in 2 blocks (README); hetGla2 5 blocks on '-'."""
    recorder = _Recorder([Peak("chr12", 56_694_985, 56_695_040, "p", 56_695_012)], "mm10", WIDE, None)
    for block in read_maf(shared_path("data", "maf", "mm10_chr12_lessspe.maf")):
        recorder.add_block(block)
    recorder.finish([])
    cow = recorder.recorded["bosTau7"]
    assert set(cow.chrom) == {"chr21"} and len(cow.start) == 2
    assert (cow.start.min(), cow.end.max(), int((cow.end - cow.start).sum())) == (47_705_765, 47_705_778, 13)
    mole_rat = recorder.recorded["hetGla2"]
    assert len(mole_rat.start) == 5 and set(mole_rat.strand) == {"-"}
    assert (mole_rat.start.min(), mole_rat.end.max()) == (148_257, 148_312)


def test_species_groups_write_what_one_pass_writes(tmp_path):
    """Two jobs with --only on halves of the species give the files and QC rows of a single run."""
    peaks = read_narrowpeak(DATA / "peaks_small.narrowPeak")
    everyone = ["baboon", "ref", "sp1", "sp2", "sp3", "sp4", "sp9"]
    map_orthologs(DATA / "maf_small.maf", peaks, "ref", tmp_path / "one", everyone, LOOSE)
    rows = []
    for k, half in enumerate((everyone[0::2], everyone[1::2])):
        map_orthologs(DATA / "maf_small.maf", peaks, "ref", tmp_path / "split", half, LOOSE, only=half,
                      qc_name=f"qc.group{k}.tsv")
        rows += (tmp_path / "split" / f"qc.group{k}.tsv").read_text().splitlines()[1:]
    for name in everyone:
        assert (tmp_path / "split" / f"{name}.narrowPeak").read_text() == \
            (tmp_path / "one" / f"{name}.narrowPeak").read_text(), name
    assert sorted(rows) == sorted((tmp_path / "one" / "qc.tsv").read_text().splitlines()[1:])
