"""Memory and time of ``tacit associate`` as the number of OCRs grows (streaming: memory should stay flat).

Usage: python benchmarks/association_memory.py [--ocrs 50000 100000 200000 400000] [--permulations 100]
                                               [--workdir DIR] [--chunks 1]

Writes a prediction matrix per size (241 species: the Zoonomia tree when ../shared is present, else a random
241-tip tree; 20,000 distinct rows repeated under new OCR names; each OCR misses one of 2,000 clade-shaped
species sets, as orthologs go missing by lineage), runs the real command ``tacit associate`` on it as a
separate process and reads its peak resident memory from the kernel (``getrusage`` in a small wrapper). Prints per
size: seconds, seconds per 1,000 OCRs (flat = linear time), peak RSS, and the ratio of each to the smallest
size's, measured in the same run.
"""

from __future__ import annotations

import argparse
import gzip
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from association import ZOONOMIA, random_tree  # noqa: E402  (the throughput benchmark's tree helpers)

from tacit.tree import Tree, read_tree, simulate_bm  # noqa: E402

DISTINCT_ROWS = 20000
PATTERNS = 2000


def missing_patterns(tree: Tree, rng: np.random.Generator) -> np.ndarray:
    """``(PATTERNS, n_tips)`` bool: each pattern drops the tips below 0-3 random nodes (lineage losses)."""
    below = [[] for _ in range(tree.n_nodes)]
    for node in tree.postorder():
        if node < tree.n_tips:
            below[node] = [node]
        par = tree.parent[node]
        if par >= 0:
            below[par] = below[par] + below[node]
    small = [n for n in range(tree.n_nodes) if len(below[n]) <= tree.n_tips // 10]
    out = np.zeros((PATTERNS, tree.n_tips), dtype=bool)
    for row in out:
        for node in rng.choice(small, rng.integers(0, 4), replace=False):
            row[below[node]] = True
    return out


def write_inputs(workdir: Path, n_ocrs: int) -> tuple[Path, Path, Path]:
    rng = np.random.default_rng(0)
    tree = read_tree(ZOONOMIA) if ZOONOMIA.exists() else random_tree(241, rng)
    tree_path, pheno_path = workdir / "tree.nwk", workdir / "phenotypes.csv"
    tree_path.write_text(tree.to_newick(digits=12))
    trait = simulate_bm(tree, 1, rng)[: tree.n_tips, 0]
    pheno_path.write_text("species,trait\n" + "".join(f"{s},{v:.6f}\n" for s, v in zip(tree.tip_names, trait)))
    matrix = workdir / f"matrix_{n_ocrs}.tsv.gz"
    if matrix.exists():
        return matrix, tree_path, pheno_path
    values = 1 / (1 + np.exp(-simulate_bm(tree, DISTINCT_ROWS, rng)[: tree.n_tips].T))
    missing = missing_patterns(tree, rng)[rng.integers(0, PATTERNS, DISTINCT_ROWS)]
    cells = np.char.mod("%.6f", values)
    cells[missing] = ""
    rows = ["\t".join(r) + "\n" for r in cells.tolist()]
    tmp = matrix.with_suffix(".tmp")
    with gzip.open(tmp, "wt", compresslevel=1) as out:
        out.write("ocr\t" + "\t".join(tree.tip_names) + "\n")
        for i in range(n_ocrs):
            out.write(f"ocr{i}\t{rows[i % DISTINCT_ROWS]}")
    tmp.rename(matrix)
    return matrix, tree_path, pheno_path


# Peak RSS is read in a small wrapper process: a child forked straight from this one would inherit this
# process's high-water mark (the generated matrix) in its ru_maxrss.
WRAPPER = """
import resource, subprocess, sys
done = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
if done.returncode:
    sys.exit(done.stderr.decode()[-3000:])
print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
"""


def run(cmd: list[str]) -> tuple[float, float]:
    """Wall seconds and peak RSS (MB) of one command."""
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", WRAPPER, *cmd], capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if done.returncode:
        raise SystemExit(f"tacit associate failed:\n{done.stderr}")
    return seconds, int(done.stdout.split()[-1]) / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ocrs", type=int, nargs="+", default=[50000, 100000, 200000, 400000])
    parser.add_argument("--permulations", type=int, default=100)
    parser.add_argument("--chunks", type=int, default=1, help="run chunk 0 of this many (a cluster job's share)")
    parser.add_argument("--workdir", default="/tmp/tacit-association-memory")
    args = parser.parse_args()
    workdir = Path(args.workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    print(f"{'OCRs':>8} {'seconds':>9} {'s/1k OCRs':>10} {'peak RSS MB':>12} {'time ratio':>11} {'RSS ratio':>10}")
    first = None
    for n in sorted(args.ocrs):
        matrix, tree, pheno = write_inputs(workdir, n)
        out = workdir / f"associations_{n}.tsv"
        seconds, rss = run([sys.executable, "-m", "tacit.cli", "associate", "--matrix", str(matrix), "--tree", str(tree),
                            "--phenotypes", str(pheno), "--trait", "trait", "--permulations", str(args.permulations),
                            "--chunk", "0", "--chunks", str(args.chunks), "--out", str(out)])
        per_k = seconds / n * 1000
        first = first or (n, seconds, rss)
        print(f"{n:>8} {seconds:>9.1f} {per_k:>10.3f} {rss:>12.0f} {seconds / first[1]:>10.2f}x {rss / first[2]:>9.2f}x",
              flush=True)


if __name__ == "__main__":
    main()
