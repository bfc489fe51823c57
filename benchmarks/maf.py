"""``tacit maf-orthologs`` throughput: MB of MAF text per second and peak memory, against 20 MB/s per core.

Usage: python benchmarks/maf.py [--species 50] [--megabytes 80] [--workdir /tmp/tacit_maf_bench]

Writes a synthetic multiz-like MAF (reference ``ref`` on chr1; each block 50-400 columns; each of the
other species present in 90 % of blocks on one of three sequences, 10 % of rows on ``-``; 5 % gap
characters in other rows, 2 % in the reference) and reference OCRs of 500 bp every 1.5 kb, then runs
``tacit maf-orthologs`` once in a subprocess (one core) and reports its wall time, MB/s and the peak
resident memory of that process. The MAF is written once and reused while its size matches.
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

TARGET_MB_PER_S = 20.0
SRC_SIZE = 200_000_000


def write_maf(path: Path, n_species: int, megabytes: float, seed: int = 0) -> int:
    """Write the synthetic MAF; returns the reference length covered (bp)."""
    rng = np.random.default_rng(seed)
    names = ["ref"] + [f"sp{i:02d}" for i in range(1, n_species)]
    position = np.zeros(n_species, dtype=np.int64)  # next base on each species' strand
    bases = np.frombuffer(b"ACGT", dtype=np.uint8)
    target = megabytes * 1e6
    written = 0
    with open(path, "w") as handle:
        handle.write("##maf version=1 scoring=synthetic\n\n")
        while written < target:
            width = int(rng.integers(50, 401))
            present = np.r_[True, rng.random(n_species - 1) < 0.9]
            rows = np.flatnonzero(present)
            text = bases[rng.integers(0, 4, (rows.size, width))]
            gap_rate = np.where(rows == 0, 0.02, 0.05)[:, None]
            text[rng.random((rows.size, width)) < gap_rate] = ord("-")
            sizes = (text != ord("-")).sum(axis=1)
            lines = ["a score=0"]
            for k, row in enumerate(rows.tolist()):
                chrom = "chr1" if row == 0 else f"chr{1 + row % 3}"
                strand = "-" if row and rng.random() < 0.1 else "+"
                lines.append(f"s {names[row]}.{chrom} {position[row]} {sizes[k]} {strand} {SRC_SIZE} "
                             f"{text[k].tobytes().decode()}")
                position[row] += sizes[k] + (0 if row == 0 else int(rng.integers(0, 20)))
            block = "\n".join(lines) + "\n\n"
            handle.write(block)
            written += len(block)
    return int(position[0])


def write_peaks(path: Path, ref_length: int, spacing: int = 1500, width: int = 500, seed: int = 1) -> int:
    rng = np.random.default_rng(seed)
    starts = np.arange(1000, ref_length - width, spacing)
    with open(path, "w") as handle:
        for i, start in enumerate(starts.tolist()):
            handle.write(f"chr1\t{start}\t{start + width}\tocr{i}\t0\t.\t-1\t-1\t-1\t{int(rng.integers(0, width))}\n")
    return starts.size


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--species", type=int, default=50)
    parser.add_argument("--megabytes", type=float, default=80.0)
    parser.add_argument("--workdir", default="/tmp/tacit_maf_bench")
    args = parser.parse_args()
    workdir = Path(args.workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    maf, peaks = workdir / f"synthetic_{args.species}sp.maf", workdir / "ocrs.narrowPeak"
    if not maf.exists() or abs(maf.stat().st_size / 1e6 - args.megabytes) > 0.05 * args.megabytes:
        start = time.perf_counter()
        ref_length = write_maf(maf, args.species, args.megabytes)
        n_peaks = write_peaks(peaks, ref_length)
        print(f"wrote {maf} ({maf.stat().st_size / 1e6:.1f} MB, {ref_length:,} reference bp) and {n_peaks:,} OCRs "
              f"in {time.perf_counter() - start:.0f} s")
    size_mb = maf.stat().st_size / 1e6

    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "tacit.cli", "-q", "maf-orthologs", "--maf", str(maf), "--peaks",
                    str(peaks), "--reference", "ref", "--out-dir", str(workdir / "orthologs")], check=True)
    elapsed = time.perf_counter() - start
    peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024  # KiB on Linux
    rate = size_mb / elapsed
    print(f"maf-orthologs: {size_mb:.1f} MB, {args.species} species in {elapsed:.1f} s = {rate:.1f} MB/s on one core "
          f"(target {TARGET_MB_PER_S:.0f} MB/s/core: {rate / TARGET_MB_PER_S:.2f}x); peak memory {peak_mb:.0f} MB")


if __name__ == "__main__":
    main()
