"""``tacit halper`` throughput: peaks per second on synthetic halLiftover output, against HALPER itself.

Usage: python benchmarks/halper.py [--peaks 100000] [--workdir /tmp/tacit_halper_bench] [--halper PATH/orthologFind.py]

The synthetic data imitate halLiftover: each query peak (200-1000 bp) is cut into about 20 aligned pieces
separated by small indels; 10 % of pieces are unaligned, 3 % land on another sequence, 30 % of peaks map
to the reverse strand (pieces listed in descending order, as halLiftover does); the summit is lifted
through its piece (unlifted when that piece is unaligned) and 1 % of summits get a second mapping.
HALPER (``orthologFind.py``, pfenninglab/halLiftover-postprocessing) is not part of this project: give the
path of a checkout to time it on the same files (run with ``-noHist``) and check that the outputs agree.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ARGS = ("--max-len", "1000", "--min-len", "50", "--protect-dist", "5", "--mult-keepone")
HALPER_ARGS = ("-max_len", "1000", "-min_len", "50", "-protect_dist", "5", "-mult_keepone", "-noHist")


def _within(groups: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Cumulative sum of ``values`` restarting at each new group (``groups`` sorted), exclusive."""
    total = np.cumsum(values) - values
    first = np.flatnonzero(np.r_[True, groups[1:] != groups[:-1]])
    return total - np.repeat(total[first], np.diff(np.r_[first, groups.size]))


def generate(workdir: Path, n_peaks: int, seed: int = 0) -> tuple[Path, Path, Path]:
    """Write query.narrowPeak, fragments.bed and summits.bed into ``workdir``; returns their paths."""
    rng = np.random.default_rng(seed)
    workdir.mkdir(parents=True, exist_ok=True)
    length = rng.integers(200, 1001, n_peaks)
    q_chrom = rng.integers(1, 21, n_peaks)
    q_start = np.arange(n_peaks) * 3000 + rng.integers(0, 1000, n_peaks)
    summit = rng.integers(0, length)
    t_chrom = rng.integers(1, 20, n_peaks)
    t_base = rng.integers(10_000, 150_000_000, n_peaks)
    reverse = rng.random(n_peaks) < 0.3

    k = 1 + rng.poisson(19, n_peaks)
    peak = np.repeat(np.arange(n_peaks), k)
    weight = rng.exponential(1.0, peak.size)
    cum = _within(peak, weight) + weight
    cut = np.rint(cum / np.repeat(cum[np.cumsum(k) - 1], k) * length[peak]).astype(np.int64)
    first_piece = _within(peak, np.ones_like(cut)) == 0
    a, b = np.where(first_piece, 0, np.r_[0, cut[:-1]]), cut
    gap = _within(peak, rng.integers(0, 6, peak.size))
    last = np.cumsum(k) - 1
    span = (b + gap)[last][peak]
    rev = reverse[peak]
    t_s = t_base[peak] + np.where(rev, span - b - gap, a + gap)
    t_e = t_base[peak] + np.where(rev, span - a - gap, b + gap)
    chrom = t_chrom[peak].copy()
    moved = rng.random(peak.size) < 0.03
    chrom[moved] = rng.integers(1, 20, moved.sum())
    t_s[moved] = rng.integers(10_000, 150_000_000, moved.sum())
    t_e[moved] = t_s[moved] + (b - a)[moved]
    aligned = (rng.random(peak.size) >= 0.1) & (b > a)

    # halLiftover lists a reverse-strand peak's pieces in descending order
    order = np.lexsort((np.where(rev, -t_s, t_s), peak))
    keep = order[aligned[order]]
    names = np.array([f"peak{i}" for i in range(n_peaks)], dtype=object)
    frag_path = workdir / "fragments.bed"
    _write(frag_path, [np.char.add("chr", chrom[keep].astype(str)), t_s[keep], t_e[keep], names[peak[keep]]])

    hit = np.flatnonzero((a <= summit[peak]) & (summit[peak] < b) & aligned)
    s_pos = np.where(rev[hit], t_e[hit] - 1 - (summit[peak[hit]] - a[hit]), t_s[hit] + summit[peak[hit]] - a[hit])
    s_chrom, s_peak = chrom[hit], peak[hit]
    extra = rng.random(hit.size) < 0.01
    s_peak = np.r_[s_peak, s_peak[extra]]
    s_pos = np.r_[s_pos, rng.integers(10_000, 150_000_000, extra.sum())]
    s_chrom = np.r_[s_chrom, rng.integers(1, 20, extra.sum())]
    tie = np.r_[np.zeros(hit.size), np.ones(extra.sum())]
    order = np.lexsort((tie, s_peak))
    summit_path = workdir / "summits.bed"
    _write(summit_path, [np.char.add("chr", s_chrom[order].astype(str)), s_pos[order], s_pos[order] + 1,
                         names[s_peak[order]]])

    query_path = workdir / "query.narrowPeak"
    _write(query_path, [np.char.add("chr", q_chrom.astype(str)), q_start, q_start + length, names,
                        np.full(n_peaks, 1000), np.full(n_peaks, "."), np.round(rng.gamma(2, 5, n_peaks), 5),
                        np.round(rng.gamma(2, 50, n_peaks), 5), np.round(rng.gamma(2, 50, n_peaks), 5), summit])
    return query_path, frag_path, summit_path


def _write(path: Path, columns: list[np.ndarray]) -> None:
    text = "\n".join("\t".join(row) for row in zip(*(np.asarray(c).astype(str).tolist() for c in columns)))
    path.write_text(text + "\n")


def _lines(path: Path) -> set[str]:
    return set(path.read_text().splitlines())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--peaks", type=int, default=100_000)
    parser.add_argument("--workdir", default="/tmp/tacit_halper_bench")
    parser.add_argument("--halper", help="path of HALPER's orthologFind.py, to time it on the same input")
    args = parser.parse_args()
    workdir = Path(args.workdir)
    query, fragments, summits = generate(workdir, args.peaks)
    n_frag = sum(1 for _ in fragments.open())
    print(f"{args.peaks:,} peaks, {n_frag:,} lifted fragments in {workdir}")

    out = workdir / "tacit.bed"
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "tacit.cli", "-q", "halper", "--query", str(query), "--target",
                    str(fragments), "--summits", str(summits), "--out", str(out), *ARGS], check=True)
    ours = time.perf_counter() - start
    print(f"tacit halper: {ours:6.2f} s  {args.peaks / ours:12,.0f} peaks/s")
    if not args.halper:
        return
    halper_out = workdir / "halper.bed"
    start = time.perf_counter()
    subprocess.run([sys.executable, args.halper, "-qFile", str(query), "-tFile", str(fragments), "-sFile",
                    str(summits), "-oFile", str(halper_out), *HALPER_ARGS], check=True, cwd=Path(args.halper).parent)
    theirs = time.perf_counter() - start
    same = all(_lines(Path(f"{out}{s}")) == _lines(Path(f"{halper_out}{s}")) for s in ("", ".failed"))
    print(f"HALPER:       {theirs:6.2f} s  {args.peaks / theirs:12,.0f} peaks/s")
    print(f"ratio: {theirs / ours:.1f}x faster than HALPER; outputs identical: {same}")


if __name__ == "__main__":
    main()
