"""Every bad input: exit code != 0, one line naming the file (and line or species), no traceback, no output.

The case table below is also the source of ``docs/errors.md``: ``python tests/test_bad_inputs.py`` rewrites
it from the messages the CLI prints now, and :func:`test_errors_doc_is_current` fails when it is stale.
"""

from __future__ import annotations

import gzip
import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from Bio import bgzf

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "errors.md"

TREE = "((A_a:1,B_b:1):1,(C_c:1,D_d:2):0.5);"
SPECIES = "A_a\nB_b\nC_c\nD_d\n"
MATRIX = "o1\t0.1\t0.2\t0.3\t0.4\no2\t0.5\t0.6\t0.7\t0.9\n"
PHENO = "species,size,flag\nA_a,1,0\nB_b,2,1\nC_c,3,0\nD_d,4,1\n"
PEAKS = "chr1\t100\t300\tp1\t0\t.\t1\t1\t1\t100\nchr1\t400\t600\tp2\t0\t.\t1\t1\t1\t90\n"
GENOME = ">chr1\n" + "ACGT" * 250 + "\n"
MAF = ("##maf version=1\na score=0\ns A_a.chr1 90 20 + 1000 ACGTACGTACGTACGTACGT\n"
       "s B_b.s1 0 20 + 100 ACGTACGTACGTACGTACGT\n\n")
CHAIN = "chain 100 chr1 1000 + 0 500 s1 800 + 0 500 1\n500\n\n"
ORTHOLOGS = "chr1\t100\t300\tp1\t0\t+\t-1\t-1\t-1\t100\n"


@dataclass
class Case:
    """One bad (or accepted-but-odd) input: files to write, the command, what the user must be told."""

    name: str
    files: dict[str, str | bytes]
    args: list[str]
    culprit: str  # the file the message must name ("" when it is a flag, not a file)
    expect: str  # a phrase the message must contain
    code: int = 1
    output: str = "out.tsv"  # must not exist afterwards (for accepted cases: must exist)
    extra_env: dict[str, str] = field(default_factory=dict)


def associate(matrix: str = MATRIX, species: str = SPECIES, tree: str = TREE, pheno: str = PHENO,
              trait: str = "size", kind: str = "continuous") -> tuple[dict[str, str | bytes], list[str]]:
    files = {"matrix.tsv": matrix, "species.txt": species, "tree.nwk": tree, "pheno.csv": pheno}
    args = ["associate", "--matrix", "matrix.tsv", "--species", "species.txt", "--tree", "tree.nwk",
            "--phenotypes", "pheno.csv", "--trait", trait, "--trait-type", kind, "--min-species-fraction", "0.5",
            "--out", "out.tsv"]
    return files, args


def maf_orthologs(maf: str | bytes = MAF, peaks: str = PEAKS) -> tuple[dict[str, str | bytes], list[str]]:
    name = "aln.maf.gz" if isinstance(maf, bytes) else "aln.maf"
    return {name: maf, "peaks.narrowPeak": peaks}, ["maf-orthologs", "--maf", name, "--peaks", "peaks.narrowPeak",
                                                      "--reference", "A_a", "--out-dir", "out"]


def sequences(orthologs: str = ORTHOLOGS, genome: str | bytes = GENOME) -> tuple[dict[str, str | bytes], list[str]]:
    name = "genome.fa.gz" if isinstance(genome, bytes) else "genome.fa"
    return ({"orth.narrowPeak": orthologs, name: genome},
            ["sequences", "--orthologs", "orth.narrowPeak", "--genome", name, "--species", "A_a", "--width",
             "100", "--out", "out.fa", "--qc", "out.qc.tsv"])


GTF = ('chr1\ttoy\ttranscript\t51\t900\t.\t-\t.\tgene_id "g"; transcript_id "t";\n'
       'chr1\ttoy\texon\t51\t200\t.\t-\t.\tgene_id "g"; transcript_id "t";\n')


def select_ocrs(gtf: str = GTF, peaks: str = PEAKS) -> tuple[dict[str, str | bytes], list[str]]:
    return ({"genes.gtf": gtf, "peaks.narrowPeak": peaks},
            ["select-ocrs", "--peaks", "peaks.narrowPeak", "--annotation", "genes.gtf", "--min-tss-distance", "100",
             "--no-exon-overlap", "--out", "out.np", "--report", "out.tsv"])


TINY_SPEC = ('{"name": "t", "input_length": 100, "layers": [{"kind": "conv1d", "filters": 2, "width": 3}, '
             '{"kind": "global_max_pool"}]}')


def train(*extra: str, files: dict[str, str] | None = None) -> tuple[dict[str, str | bytes], list[str]]:
    return ({"spec.json": TINY_SPEC, "genome.fa": GENOME, "peaks.narrowPeak": PEAKS, **(files or {})},
            ["train", "--spec", "spec.json", "--genome", "genome.fa", "--positives", "peaks.narrowPeak",
             "--width", "100", "--out-dir", "out", *extra])


def _gz(text: str) -> bytes:
    return gzip.compress(text.encode(), mtime=0)


def _bgzf(text: str) -> bytes:
    with tempfile.TemporaryDirectory() as tmp:
        with bgzf.BgzfWriter(Path(tmp) / "x.gz", "wb") as handle:
            handle.write(text.encode())
        return (Path(tmp) / "x.gz").read_bytes()


CASES = [
    Case("matrix row with too few columns", *associate(matrix=MATRIX + "o3\t0.1\t0.2\n"), "matrix.tsv",
         "expected 5 columns"),
    Case("matrix row with too many columns", *associate(matrix=MATRIX + "o3\t0.1\t0.2\t0.3\t0.4\t0.5\n"),
         "matrix.tsv", "expected 5 columns"),
    Case("non-numeric prediction", *associate(matrix=MATRIX.replace("0.6", "high")), "matrix.tsv", "high"),
    Case("duplicate OCR", *associate(matrix=MATRIX + MATRIX.splitlines()[0] + "\n"), "matrix.tsv", "o1"),
    Case("empty matrix", *associate(matrix=""), "matrix.tsv", "no rows"),
    Case("duplicate species in the species list", *associate(species="A_a\nB_b\nA_a\nD_d\n"), "species.txt",
         "A_a"),
    Case("tree without branch lengths", *associate(tree="((A_a,B_b),(C_c,D_d));"), "tree.nwk", "branch length"),
    Case("unparseable tree", *associate(tree="((A_a:1,B_b:1),(C_c:1;"), "tree.nwk", "tree.nwk"),
    Case("negative branch length", *associate(tree="((A_a:1,B_b:-1):1,(C_c:1,D_d:2):0.5);"), "tree.nwk",
         "length -1"),
    Case("no species shared by tree, matrix and phenotypes",
         *associate(tree="((W_w:1,X_x:1):1,(Y_y:1,Z_z:2):0.5);"), "", "shared"),
    Case("trait column absent", *associate(trait="mass"), "pheno.csv", "mass"),
    Case("binary trait with values other than 0/1", *associate(trait="size", kind="binary"), "pheno.csv",
         "0 or 1"),
    Case("non-numeric trait value", *associate(pheno=PHENO.replace("B_b,2", "B_b,big")), "pheno.csv", "big"),
    Case("species listed twice in the phenotypes", *associate(pheno=PHENO + "A_a,5,0\n"), "pheno.csv", "A_a"),
    Case("phenotype species written 'Genus species' (accepted, normalised)",
         *associate(pheno=PHENO.replace("A_a", "A a").replace("B_b", "B b")), "", "", code=0),
    Case("narrowPeak with start > end", *maf_orthologs(peaks=PEAKS.replace("400\t600", "600\t400")),
         "peaks.narrowPeak", "start", output="out"),
    Case("summit outside the peak", *maf_orthologs(peaks=PEAKS.replace("\t90\n", "\t900\n")),
         "peaks.narrowPeak", "summit", output="out"),
    Case("narrowPeak with too few columns", *maf_orthologs(peaks="chr1\t100\t300\tp1\n"), "peaks.narrowPeak",
         "column", output="out"),
    Case("MAF block whose size disagrees with its text",
         *maf_orthologs(maf=MAF.replace("B_b.s1 0 20", "B_b.s1 0 25")), "aln.maf", "size", output="out"),
    Case("MAF s line with too few fields", *maf_orthologs(maf=MAF.replace(" + 100 ", " ")), "aln.maf", "s",
         output="out"),
    Case("truncated gzip MAF", *maf_orthologs(maf=_gz(MAF * 200)[:-40]), "aln.maf.gz", "gzip", output="out"),
    Case("chromosome absent from the genome FASTA", *sequences(orthologs=ORTHOLOGS.replace("chr1", "chr9")),
         "genome.fa", "chr9", output="out.fa"),
    Case("FASTA with lowercase and IUPAC codes (accepted)",
         *sequences(genome=">chr1\n" + "acgtRYKMacgt" * 80 + "\n"), "", "", code=0, output="out.fa"),
    Case("plain gzip genome FASTA (pyfaidx needs bgzip)", *sequences(genome=_gz(GENOME)), "genome.fa.gz", "bgzip",
         output="out.fa"),
    Case("truncated bgzip genome FASTA", *sequences(genome=_bgzf(GENOME * 50)[:-40]), "genome.fa.gz", "truncated",
         output="out.fa"),
    Case("chain with a bad header", {"x.chain": "chain 100 chr1 1000 +\n500\n\n", "peaks.narrowPeak": PEAKS},
         ["chain-orthologs", "--chain", "x.chain", "--peaks", "peaks.narrowPeak", "--out", "out.np"], "x.chain",
         "header", output="out.np"),
    Case("halLiftover output line with a non-integer coordinate",
         {"q.bed": "chr1\t100\t300\tp1\n", "t.bed": "chrX\tten\t50\tp1\n", "s.bed": "chrX\t20\t21\tp1\n"},
         ["halper", "--query", "q.bed", "--target", "t.bed", "--summits", "s.bed", "--out", "out.np",
          "--min-len", "10", "--max-len", "1000"], "t.bed", "t.bed", output="out.np"),
    Case("missing input file", {"species.txt": SPECIES, "tree.nwk": TREE, "pheno.csv": PHENO},
         associate()[1], "matrix.tsv", "not found"),
    Case("unwritable output directory", associate()[0],
         associate()[1][:-1] + ["blocked/sub/out.tsv"], "blocked", "cannot write", output="blocked/sub/out.tsv"),
    Case("model spec with an unknown layer", {"spec.json": '{"name": "x", "input_length": 100, "layers": '
                                              '[{"type": "conv9d"}]}'},
         ["model", "build", "spec.json", "out.keras"], "spec.json", "conv9d", output="out.keras"),
    Case("GTF with a non-integer start", *select_ocrs(gtf=GTF.replace("\t51\t200\t", "\t5l\t200\t")), "genes.gtf",
         "integers", output="out.np"),
    Case("GTF and peaks naming chromosomes differently", *select_ocrs(gtf=GTF.replace("chr1\t", "1\t")),
         "genes.gtf", "names must match", output="out.np"),
    Case("negative number of GC-matched negatives", *train("--gc-matched", "-1"), "", ">= 0", output="out"),
    Case("closed-ortholog BED with a non-integer start",
         *train("--closed-orthologs", "closed.bed", files={"closed.bed": "chr1\t10\t60\nchr1\tten\t60\n"}),
         "closed.bed", "integers", output="out"),
    Case("BED negatives named with a reserved kind", *train("--negatives", "shuffled=neg.bed",
                                                            files={"neg.bed": "chr1\t10\t60\n"}),
         "neg.bed", "reserved", output="out"),
    Case("species twice in the tree", *associate(tree="((A_a:1,B_b:1):1,(A_a:1,D_d:2):0.5);"), "tree.nwk",
         "A_a"),
]


def run_case(case: Case, work: Path) -> subprocess.CompletedProcess:
    work.mkdir(parents=True, exist_ok=True)
    for name, content in case.files.items():
        path = work / name
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content)
    if case.name == "unwritable output directory":
        (work / "blocked").write_text("a file where a folder is needed\n")
    env = dict(os.environ, **case.extra_env, TF_CPP_MIN_LOG_LEVEL="3")
    return subprocess.run([sys.executable, "-m", "tacit.cli", *case.args], cwd=work, capture_output=True,
                          text=True, env=env)


# Each case's (exit code, first error line with its work folder removed), as test_bad_input saw it: the doc
# check below renders from these rather than running all cases a second time.
SEEN: dict[str, tuple[int, str]] = {}


def doc_row(run: subprocess.CompletedProcess, work: Path) -> tuple[int, str]:
    errors = [line for line in run.stderr.splitlines() if ": error: " in line]
    return run.returncode, errors[0].replace(str(work) + "/", "") if errors else "(accepted)"


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_bad_input(case: Case, tmp_path: Path):
    run = run_case(case, tmp_path)
    SEEN[case.name] = doc_row(run, tmp_path)
    if case.code == 0:
        assert run.returncode == 0, run.stderr
        assert (tmp_path / case.output).exists()
        return
    assert run.returncode == case.code, run.stderr
    assert "Traceback" not in run.stderr
    errors = [line for line in run.stderr.splitlines() if ": error: " in line]
    assert len(errors) == 1, run.stderr
    assert case.culprit in errors[0] and case.expect.lower() in errors[0].lower(), errors[0]
    assert not (tmp_path / case.output).exists()
    leftovers = [p.name for p in tmp_path.rglob("*.tmp")]
    assert not leftovers


def test_bad_input_table_has_at_least_25_cases():
    assert len([c for c in CASES if c.code != 0]) >= 25


def render_doc(work: Path) -> str:
    lines = ["# Errors on bad input", "",
             "Generated by `python tests/test_bad_inputs.py` from the case table of `tests/test_bad_inputs.py`;",
             "each row is checked by `make test` (exit code, one line, the file named, no partial output).", "",
             "| input | message | exit code |", "| --- | --- | --- |"]
    for i, case in enumerate(CASES):
        if case.name in SEEN:
            code, message = SEEN[case.name]
        else:
            code, message = doc_row(run_case(case, work / f"case{i}"), work / f"case{i}")
        lines.append(f"| {case.name} | `{message.replace('|', '/')}` | {code} |")
    return "\n".join(lines) + "\n"


def test_errors_doc_is_current(tmp_path: Path):
    assert DOC.exists(), "run: python tests/test_bad_inputs.py"
    assert DOC.read_text() == render_doc(tmp_path), "docs/errors.md is stale; run: python tests/test_bad_inputs.py"


if __name__ == "__main__":
    with tempfile.TemporaryDirectory() as tmp:
        DOC.write_text(render_doc(Path(tmp)))
    print(f"wrote {DOC}")
