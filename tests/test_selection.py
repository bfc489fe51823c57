"""OCR selection: each filter on hand-made peaks and genes, the counting order, the CLI and the workflow config.

Fixtures (tests/data): ``selection_genes.gtf`` has gA on chr1 + (transcript [1000, 20000), exons [1000, 1200)
and [19800, 20000)), gB on chr1 - ([30000, 40000), exons [30000, 30200) and [39800, 40000)) and gC on chr2 +
([100, 500), one exon), in 0-based half-open coordinates. TSSs: chr1 1000 (gA) and 39999 (gB's last base, the
minus strand), chr2 100. ``selection_genes.bed`` is the same as BED12; ``selection_peaks.narrowPeak`` names
each peak after the case it tests.
"""

from __future__ import annotations

import copy
import gzip
import logging
import shutil

import numpy as np
import pytest
import yaml

from tacit.cli import main
from tacit.errors import InputError
from tacit.peaks import Peak
from tacit.selection import (
    REASONS,
    Annotation,
    SelectionSettings,
    drop_reasons,
    merge_intervals,
    overlaps_exon,
    read_annotation,
    read_bed_annotation,
    read_gtf,
    read_peak_lines,
    select_ocrs,
    tss_distance,
)
from tacit.workflow_config import check_config, ocr_selection_files, ocr_selection_options

from conftest import DATA, ROOT

GTF = DATA / "selection_genes.gtf"
BED12 = DATA / "selection_genes.bed"
EXONS = DATA / "selection_exons.bed"
PEAKS = DATA / "selection_peaks.narrowPeak"
NAMES = [p.name for p in read_peak_lines(PEAKS).peaks]

# Worked out by hand from the coordinates in the fixtures (see each peak's name and the module docstring).
NONSTANDARD = {"random", "unplaced_wide", "mito"}  # chr1_KI270706v1_random, chrUn_GL000220v1, chrM
LOW_SCORE_100 = {"low", "low_and_wide"}  # score 99 and 50; score_at_min has exactly 100 and stays
WIDER_1000 = {"unplaced_wide", "width_1001", "low_and_wide"}  # 2200, 1001 and 1001 bp; width_1000 stays
# TSS distance = max(start - t, t - (end - 1), 0): tss_d499 [450, 502) is 1000 - 501 = 499 from gA's TSS,
# tss_inside_exon [900, 1100) contains it (0), minus_tss_d201 [40200, 40600) is 40200 - 39999 = 201 from gB's.
# Kept at exactly 500: tss_d500 [450, 501) and minus_tss_d500 [40499, 40700). minus_gene_end [29000, 29800)
# is 201 bp from gB's 30000, which is its 3' end, not its TSS (39999, 10200 bp away).
NEAR_TSS_500 = {"tss_d499", "tss_inside_exon", "minus_tss_d201"}
# Half-open: exon_first_base [19600, 19801) takes gA's exon base 19800, exon_last_base [30199, 30500) takes
# gB's exon base 30199, tss_inside_exon [900, 1100) overlaps [1000, 1200). exon_abuts [19600, 19800) ends where
# the exon starts and after_exon [30200, 30500) starts where the exon ends: no shared base.
EXONIC = {"exon_first_base", "exon_last_base", "tss_inside_exon"}


def kept_names(path) -> list[str]:
    return [line.split("\t")[3] for line in path.read_text().splitlines() if not line.startswith("track")]


def test_gtf_tss_follow_the_strand_and_exons_are_merged():
    genes = read_gtf(GTF)
    assert genes.tss["chr1"].tolist() == [1000, 39999] and genes.tss["chr2"].tolist() == [100]
    starts, ends = genes.exons["chr1"]
    assert starts.tolist() == [1000, 19800, 30000, 39800] and ends.tolist() == [1200, 20000, 30200, 40000]


def test_bed12_annotation_equals_the_gtf():
    bed, has_blocks = read_bed_annotation(BED12)
    gtf = read_gtf(GTF)
    assert has_blocks
    assert {c: t.tolist() for c, t in bed.tss.items()} == {c: t.tolist() for c, t in gtf.tss.items()}
    assert {c: [a.tolist(), b.tolist()] for c, (a, b) in bed.exons.items()} == \
        {c: [a.tolist(), b.tolist()] for c, (a, b) in gtf.exons.items()}


def test_gtf_without_transcript_lines_takes_tss_from_each_transcripts_exons(tmp_path):
    exons_only = [line for line in GTF.read_text().splitlines(keepends=True) if "\ttranscript\t" not in line]
    path = tmp_path / "exons_only.gtf.gz"
    path.write_bytes(gzip.compress("".join(exons_only).encode()))
    genes = read_gtf(path)
    assert genes.tss["chr1"].tolist() == [1000, 39999] and genes.tss["chr2"].tolist() == [100]


def test_unstranded_transcript_counts_both_ends(tmp_path):
    path = tmp_path / "genes.bed"
    path.write_text("chr1\t100\t200\tt\t0\t.\nchr1\t500\t501\ttss\t0\t-\n")
    genes, has_blocks = read_bed_annotation(path)
    assert genes.tss["chr1"].tolist() == [100, 199, 500] and not has_blocks


def test_merge_intervals_joins_overlapping_and_touching():
    starts, ends = merge_intervals(np.array([50, 0, 10, 30, 31]), np.array([60, 10, 20, 40, 35]))
    assert starts.tolist() == [0, 30, 50] and ends.tolist() == [20, 40, 60]


def brute_force(tss: list[int], exons: list[tuple[int, int]], start: int, end: int) -> tuple[float, bool]:
    """Independent O(n*m) definitions: the distance to every TSS base, every exon tested for a shared base."""
    bases = set(range(start, end))
    distance = min((min(abs(t - b) for b in bases) for t in tss), default=np.inf)
    return distance, any(bases & set(range(a, b)) for a, b in exons)


def test_searchsorted_agrees_with_brute_force():
    rng = np.random.default_rng(7)
    tss = sorted(set(rng.integers(0, 5000, 40).tolist()))
    exon_starts = rng.integers(0, 5000, 60)
    exons = [(int(a), int(a + rng.integers(1, 120))) for a in exon_starts]
    genes = Annotation({"c": np.array(tss)}, {"c": merge_intervals(np.array([a for a, _ in exons]),
                                                                     np.array([b for _, b in exons]))})
    starts = rng.integers(0, 5200, 300)
    ends = starts + rng.integers(1, 150, 300)
    chroms = np.array(["c"] * 300, dtype=object)
    distance = tss_distance(genes, chroms, starts, ends)
    hit = overlaps_exon(genes, chroms, starts, ends)
    for i in range(300):
        assert (distance[i], hit[i]) == brute_force(tss, exons, int(starts[i]), int(ends[i])), i


def test_no_tss_on_a_chromosome_is_infinitely_far():
    genes = read_gtf(GTF)
    distance = tss_distance(genes, np.array(["chr3", "chr2"], dtype=object), np.array([0, 700]), np.array([10, 900]))
    assert distance.tolist() == [np.inf, 600]


@pytest.mark.parametrize("settings, dropped", [
    (SelectionSettings(standard_chroms=True), NONSTANDARD),
    (SelectionSettings(min_score=100), LOW_SCORE_100),
    (SelectionSettings(max_width=1000), WIDER_1000),
    (SelectionSettings(min_tss_distance=500), NEAR_TSS_500),
    (SelectionSettings(no_exon_overlap=True), EXONIC),
    (SelectionSettings(min_score=3, score_column="signalValue"), {"score_at_min"}),  # signalValue 2 < 3
    (SelectionSettings(standard_chroms=True, chrom_pattern=r"chr([0-9]+|X|Y|M)"), {"random", "unplaced_wide"}),
], ids=["standard_chroms", "min_score", "max_width", "min_tss_distance", "no_exon_overlap", "signalValue",
        "chrom_pattern_with_chrM"])
def test_each_filter_alone(tmp_path, settings, dropped):
    counts = select_ocrs(PEAKS, tmp_path / "out.narrowPeak", settings, annotation=GTF)
    assert kept_names(tmp_path / "out.narrowPeak") == [n for n in NAMES if n not in dropped]
    assert counts["kept"] == len(NAMES) - len(dropped) and counts["peaks"] == len(NAMES)


def test_all_filters_count_each_peak_under_its_first_failing_filter(tmp_path):
    settings = SelectionSettings(standard_chroms=True, min_score=100, max_width=1000, min_tss_distance=500,
                                 no_exon_overlap=True)
    out = tmp_path / "selected.narrowPeak.gz"
    counts = select_ocrs(PEAKS, out, settings, annotation=GTF, report=tmp_path / "selection.tsv")
    expected = {
        "nonstandard_chrom": NONSTANDARD,  # unplaced_wide is also too wide: counted here, first
        "low_score": LOW_SCORE_100,  # low_and_wide is also too wide
        "too_wide": WIDER_1000 - NONSTANDARD - LOW_SCORE_100,
        "near_tss": NEAR_TSS_500,  # tss_inside_exon is also exonic
        "exon_overlap": EXONIC - NEAR_TSS_500,
    }
    assert {r: counts[r] for r in REASONS} == {r: len(names) for r, names in expected.items()}
    assert counts == {"peaks": 23, "nonstandard_chrom": 3, "low_score": 2, "too_wide": 1, "near_tss": 3,
                      "exon_overlap": 2, "kept": 12}
    dropped = set().union(*expected.values())
    lines = PEAKS.read_text().splitlines(keepends=True)
    assert gzip.decompress(out.read_bytes()).decode() == "".join(
        line for line in lines if line.startswith("track") or line.split("\t")[3] not in dropped)
    assert (tmp_path / "selection.tsv").read_text() == ("reason\tcount\npeaks\t23\nnonstandard_chrom\t3\n"
                                                        "low_score\t2\ntoo_wide\t1\nnear_tss\t3\nexon_overlap\t2\n"
                                                        "kept\t12\n")


def test_drop_reasons_codes_follow_reasons_order():
    peaks = [Peak("chrUn_x", 0, 5000, "a", 10), Peak("chr1", 0, 5000, "b", 10), Peak("chr1", 0, 50, "c", 10)]
    code = drop_reasons(peaks, SelectionSettings(standard_chroms=True, max_width=100))
    assert [REASONS[c - 1] if c else "kept" for c in code] == ["nonstandard_chrom", "too_wide", "kept"]


def test_bed12_and_exon_bed_annotations(tmp_path):
    bed = select_ocrs(PEAKS, tmp_path / "bed.np", SelectionSettings(min_tss_distance=500, no_exon_overlap=True),
                      annotation=BED12)
    gtf = select_ocrs(PEAKS, tmp_path / "gtf.np", SelectionSettings(min_tss_distance=500, no_exon_overlap=True),
                      annotation=GTF)
    assert bed == gtf and (tmp_path / "bed.np").read_bytes() == (tmp_path / "gtf.np").read_bytes()
    # The exon BED holds only gB's [30000, 30200): of the exonic peaks only exon_last_base remains dropped.
    counts = select_ocrs(PEAKS, tmp_path / "exons.np", SelectionSettings(no_exon_overlap=True), annotation=GTF,
                         exons=EXONS)
    assert counts["exon_overlap"] == 1 and "exon_last_base" not in kept_names(tmp_path / "exons.np")


def test_no_filter_is_a_byte_copy(tmp_path):
    counts = select_ocrs(PEAKS, tmp_path / "out.narrowPeak", SelectionSettings())
    assert (tmp_path / "out.narrowPeak").read_bytes() == PEAKS.read_bytes()
    assert counts["kept"] == counts["peaks"] == 23


@pytest.mark.parametrize("content, phrase", [
    ('chr1\ttoy\texon\t1O1\t500\t.\t+\t.\ttranscript_id "t";\n', "must be integers"),
    ('chr1\ttoy\texon\t501\t500\t.\t+\t.\ttranscript_id "t";\n', "start <= end"),
    ('chr1\ttoy\ttranscript\t101\t500\t.\tplus\t.\ttranscript_id "t";\n', "strand"),
    ("chr1\ttoy\texon\t101\t500\n", "9 tab-separated columns"),
    ("chr1\ttoy\texon\t101\t500\t.\t+\t.\tgene_id \"g\";\n", "transcript_id"),
])
def test_malformed_gtf_names_file_and_line(tmp_path, content, phrase):
    path = tmp_path / "genes.gtf"
    path.write_text("#!header\n" + content)
    with pytest.raises(InputError, match=phrase) as err:
        read_gtf(path)
    assert err.value.path == str(path) and err.value.line == 2


@pytest.mark.parametrize("settings, files, phrase", [
    (SelectionSettings(min_tss_distance=10), {}, "needs an annotation"),
    (SelectionSettings(no_exon_overlap=True), {"annotation": DATA / "negatives_missing.bed"}, "not found"),
    (SelectionSettings(min_tss_distance=10), {"annotation": DATA / "genome_small.fa"}, "GTF (.gtf) or a BED"),
])
def test_annotation_errors(settings, files, phrase):
    with pytest.raises(InputError, match=phrase.replace("(", r"\(").replace(")", r"\)")):
        read_annotation(settings, **files)


def test_exon_filter_needs_bed12_blocks(tmp_path):
    bed6 = tmp_path / "genes.bed"
    bed6.write_text("".join("\t".join(line.split("\t")[:6]) + "\n" for line in BED12.read_text().splitlines()))
    with pytest.raises(InputError, match="12 columns"):
        read_annotation(SelectionSettings(no_exon_overlap=True), annotation=bed6)
    genes = read_annotation(SelectionSettings(min_tss_distance=1, no_exon_overlap=True), bed6, exons=EXONS)
    assert genes.tss["chr1"].tolist() == [1000, 39999] and list(genes.exons) == ["chr1"]


def test_bad_score_column_values(tmp_path):
    path = tmp_path / "peaks.narrowPeak"
    path.write_text("chr1\t0\t100\ta\t5\t.\t-1\t3\t2\t50\n")
    with pytest.raises(InputError, match="not given") as err:
        select_ocrs(path, tmp_path / "out", SelectionSettings(min_score=1, score_column="signalValue"))
    assert err.value.line == 1 and not (tmp_path / "out").exists()
    assert select_ocrs(path, tmp_path / "out", SelectionSettings(min_score=3, score_column="pValue"))["kept"] == 1


def test_chromosome_naming_mismatch_is_an_error(tmp_path):
    ensembl = tmp_path / "ensembl.gtf"
    ensembl.write_text(GTF.read_text().replace("chr1\t", "1\t").replace("chr2\t", "2\t"))
    peaks = tmp_path / "peaks.narrowPeak"
    peaks.write_text("chr1\t0\t100\ta\t5\t.\t1\t3\t2\t50\n")
    with pytest.raises(InputError, match="names must match"):
        select_ocrs(peaks, tmp_path / "out", SelectionSettings(min_tss_distance=10), annotation=ensembl)


def test_settings_are_checked():
    with pytest.raises(InputError, match="score_column"):
        SelectionSettings(min_score=1, score_column="column5")
    with pytest.raises(InputError, match="regular expression"):
        SelectionSettings(standard_chroms=True, chrom_pattern="chr(")


def test_cli(tmp_path, caplog):
    caplog.set_level(logging.INFO)
    gtf = tmp_path / "genes.gtf.gz"
    gtf.write_bytes(gzip.compress(GTF.read_bytes()))
    out, report = tmp_path / "sel.narrowPeak", tmp_path / "sel.tsv"
    args = ["select-ocrs", "--peaks", str(PEAKS), "--out", str(out), "--report", str(report), "--standard-chroms",
            "--min-score", "100", "--max-width", "1000", "--annotation", str(gtf), "--min-tss-distance", "500",
            "--no-exon-overlap"]
    assert main(args) == 0
    assert len(kept_names(out)) == 12 and report.read_text().endswith("kept\t12\n")
    assert "12 of 23 OCRs kept" in caplog.text
    missing = ["select-ocrs", "--peaks", str(PEAKS), "--out", str(tmp_path / "x.np"), "--min-tss-distance", "10"]
    assert main(missing) == 1 and not (tmp_path / "x.np").exists()


CONFIG = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())


def test_default_config_selects_nothing_away():
    assert ocr_selection_options(CONFIG, "demo_tissue") == ""
    assert ocr_selection_files(CONFIG, "demo_tissue") == {}


def test_tissue_selection_overrides_the_global_one(tmp_path, monkeypatch):
    monkeypatch.chdir(ROOT)
    config = copy.deepcopy(CONFIG)
    shutil.copy(GTF, tmp_path / "my genes.gtf")
    config["ocr_selection"] = {"max_width": 2000, "standard_chroms": True, "min_tss_distance": 500,
                               "annotation": str(tmp_path / "my genes.gtf")}
    config["tissues"]["demo_tissue"]["ocr_selection"] = {"max_width": 1000, "no_exon_overlap": True}
    assert ocr_selection_options(config, "demo_tissue") == (
        "--standard-chroms --chrom-pattern '(chr)?([1-9][0-9]*|X|Y|W|Z)' --max-width 1000 --min-tss-distance 500 "
        f"--no-exon-overlap --annotation '{tmp_path}/my genes.gtf'")
    check_config(config)
    config["ocr_selection"]["annotation"] = str(tmp_path / "absent.gtf")
    with pytest.raises(InputError, match="absent.gtf"):
        check_config(config)
    del config["ocr_selection"]["annotation"]
    with pytest.raises(InputError, match="min_tss_distance needs"):
        check_config(config)
