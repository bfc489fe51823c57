"""OCR selection at genome scale: a GENCODE-sized GTF and 400,000 OCRs, against a per-peak bisect baseline.

Usage: python benchmarks/selection.py [--peaks 400000] [--transcripts 250000] [--gtf GTF]

Without --gtf, writes a synthetic gzip GTF shaped like GENCODE's human basic+comprehensive release (about 62,000
genes, 250,000 transcripts with 6.5 exons each, CDS/UTR/codon lines, GENCODE-length attributes: 3.4 M lines,
1.5 GB of text). Prints the time to read the GTF, the time of the whole `select_ocrs` with every filter on,
and the ratio of the TSS and exon queries against a plain-Python loop of `bisect` calls per peak.
"""

from __future__ import annotations

import argparse
import bisect
import gzip
import tempfile
import time
from pathlib import Path

import numpy as np

from tacit.selection import SelectionSettings, overlaps_exon, read_gtf, read_peak_lines, select_ocrs, tss_distance

CHROMS = [f"chr{i}" for i in range(1, 23)] + ["chrX", "chrY"]
LENGTH = 150_000_000
ATTRS = ('gene_id "ENSG{g:011d}.7"; transcript_id "ENST{t:011d}.3"; gene_type "protein_coding"; '
         'gene_name "GENE{g}"; transcript_type "protein_coding"; transcript_name "GENE{g}-201"; level 2; '
         'protein_id "ENSP{t:011d}.2"; transcript_support_level "1"; hgnc_id "HGNC:{g}"; tag "basic"; '
         'tag "Ensembl_canonical"; havana_gene "OTTHUMG{g:011d}.2"; havana_transcript "OTTHUMT{t:011d}.2";')


def write_gtf(path: Path, n_transcripts: int, rng: np.random.Generator) -> None:
    with gzip.open(path, "wt", compresslevel=1) as out:
        out.write("##description: synthetic GENCODE-sized annotation\n##provider: benchmarks/selection.py\n")
        for t in range(n_transcripts):
            g, chrom = t // 4, CHROMS[(t // 4) % len(CHROMS)]
            strand = "+-"[g % 2]
            start = int(rng.integers(1, LENGTH - 200_000))
            n_exons = int(rng.integers(1, 13))
            bounds = np.sort(rng.choice(np.arange(start, start + 60_000, 50), 2 * n_exons, replace=False))
            end = int(bounds[-1]) + 100
            attrs = ATTRS.format(g=g, t=t)
            lines = [f"{chrom}\tHAVANA\ttranscript\t{start}\t{end}\t.\t{strand}\t.\t{attrs}\n"]
            for i in range(n_exons):
                a, b = int(bounds[2 * i]), int(bounds[2 * i + 1])
                lines.append(f"{chrom}\tHAVANA\texon\t{a}\t{b}\t.\t{strand}\t.\t{attrs} exon_number {i + 1};\n")
                lines.append(f"{chrom}\tHAVANA\tCDS\t{a}\t{b}\t.\t{strand}\t0\t{attrs} exon_number {i + 1};\n")
            if t % 4 == 0:
                lines.insert(0, f"{chrom}\tHAVANA\tgene\t{start}\t{end}\t.\t{strand}\t.\t{attrs}\n")
            out.writelines(lines)


def write_peaks(path: Path, n: int, rng: np.random.Generator) -> None:
    chroms = rng.choice(CHROMS + ["chrUn_KI270742v1", "chr1_KI270706v1_random"], n)
    starts = rng.integers(0, LENGTH, n)
    widths = rng.integers(150, 2000, n)
    with open(path, "w") as out:
        out.writelines(f"{c}\t{s}\t{s + w}\tocr{i}\t{rng.integers(0, 1000)}\t.\t5.0\t-1\t-1\t{w // 2}\n"
                       for i, (c, s, w) in enumerate(zip(chroms, starts, widths)))


def baseline(genes, peaks) -> tuple[list[float], list[bool]]:
    """Per peak: bisect into Python lists of TSSs and merged exons."""
    tss = {c: t.tolist() for c, t in genes.tss.items()}
    exons = {c: (a.tolist(), b.tolist()) for c, (a, b) in genes.exons.items()}
    distances, hits = [], []
    for chrom, start, end in peaks:
        t = tss.get(chrom, [])
        i = bisect.bisect_left(t, start)
        d = min([t[i] - (end - 1)] if i < len(t) else [float("inf")])
        d = min(max(d, 0), start - t[i - 1] if i else float("inf"))
        starts, ends = exons.get(chrom, ([], []))
        j = bisect.bisect_left(starts, end) - 1
        distances.append(d)
        hits.append(j >= 0 and ends[j] > start)
    return distances, hits


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--peaks", type=int, default=400_000)
    parser.add_argument("--transcripts", type=int, default=250_000)
    parser.add_argument("--gtf", help="a real GTF (e.g. GENCODE's) instead of the synthetic one")
    args = parser.parse_args()
    rng = np.random.default_rng(1)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        gtf = Path(args.gtf) if args.gtf else work / "genes.gtf.gz"
        if not args.gtf:
            t0 = time.perf_counter()
            write_gtf(gtf, args.transcripts, rng)
            print(f"wrote a synthetic GTF of {args.transcripts} transcripts ({gtf.stat().st_size / 1e6:.0f} MB gzip) "
                  f"in {time.perf_counter() - t0:.0f} s")
        peaks = work / "peaks.narrowPeak"
        write_peaks(peaks, args.peaks, rng)

        t0 = time.perf_counter()
        genes = read_gtf(gtf)
        read_s = time.perf_counter() - t0
        n_tss = sum(len(t) for t in genes.tss.values())
        n_exons = sum(len(a) for a, _ in genes.exons.values())
        print(f"read_gtf: {read_s:.1f} s ({n_tss} TSSs, {n_exons} merged exons)")

        settings = SelectionSettings(standard_chroms=True, min_score=100, max_width=1500, min_tss_distance=20_000,
                                     no_exon_overlap=True)
        t0 = time.perf_counter()
        counts = select_ocrs(peaks, work / "selected.narrowPeak", settings, annotation=gtf)
        total_s = time.perf_counter() - t0
        print(f"select_ocrs, every filter, {args.peaks} OCRs: {total_s:.1f} s; {counts}")

        table = read_peak_lines(peaks)
        chroms = np.array([p.chrom for p in table.peaks], dtype=object)
        starts = np.array([p.start for p in table.peaks])
        ends = np.array([p.end for p in table.peaks])
        t0 = time.perf_counter()
        distance, hit = tss_distance(genes, chroms, starts, ends), overlaps_exon(genes, chroms, starts, ends)
        ours = time.perf_counter() - t0
        t0 = time.perf_counter()
        ref_distance, ref_hit = baseline(genes, [(p.chrom, p.start, p.end) for p in table.peaks])
        base = time.perf_counter() - t0
        assert np.array_equal(distance, np.array(ref_distance)) and np.array_equal(hit, np.array(ref_hit))
        print(f"TSS + exon queries: {ours:.3f} s against {base:.3f} s per-peak bisect: {base / ours:.1f}x")


if __name__ == "__main__":
    main()
