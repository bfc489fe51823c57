"""The simulated data set: deterministic bytes, readable by the package's own readers, a MAF whose rows are the
genomes' sequences, chains that hold the same alignment, motif copies recoverable through orthologs, and planted
OCRs an oracle can find.

All but the last test use the ``small`` preset (24 species, 400 loci; under 2 s to write).
"""

from __future__ import annotations

import gzip
import os
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from conftest import ROOT
from tacit.association import AssociationSettings, associate
from tacit.chain import chain_orthologs, read_chains
from tacit.maf import plus_interval, read_maf
from tacit.orthologs import map_orthologs
from tacit.peaks import read_bed, read_narrowpeak
from tacit.sequences import extract_windows, read_fasta, reverse_complement
from tacit.simulate import CHROMS, MOTIF, MOTIF_RC, PRESETS, REFERENCE, simulate, write_readme, write_simulation
from tacit.tables import PredictionMatrix, read_phenotypes
from tacit.tree import read_tree

WIDTH = 400  # the workflow's window width for this data


@pytest.fixture(scope="module")
def small(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("small")
    sim = simulate("small", seed=1)
    write_readme(sim, write_simulation(sim, out), out)
    return out


@pytest.fixture(scope="module")
def genomes(small) -> dict[str, dict[str, str]]:
    return {path.name.removesuffix(".fa.gz"): dict(read_fasta(path)) for path in sorted((small / "genomes").iterdir())}


def all_files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_same_seed_same_bytes_in_a_fresh_process(small, tmp_path):
    # Another process with another hash seed: nothing may depend on set or dict-of-str ordering.
    env = dict(os.environ, PYTHONHASHSEED="12345")
    cmd = [sys.executable, "-m", "tacit.cli", "simulate", "--preset", "small", "--seed", "1",
           "--out-dir", str(tmp_path)]
    subprocess.run(cmd, check=True, env=env, capture_output=True)
    assert all_files(tmp_path) == all_files(small)
    assert (small / "alignment.maf.gz").read_bytes()[4:8] == b"\0\0\0\0"  # gzip header: mtime 0


def test_another_seed_other_data(small):
    other = simulate("small", seed=2)
    assert other.tree.to_newick(6) != (small / "tree.nwk").read_text().strip()


def test_files_parse_with_the_package_readers(small, genomes):
    tree = read_tree(small / "tree.nwk")
    assert tree.tip_names[0] == REFERENCE and len(tree.tip_names) == PRESETS["small"].n_species
    assert sorted(genomes) == sorted(tree.tip_names)
    assert list(genomes[REFERENCE]) == list(CHROMS)
    brain = read_phenotypes(small / "phenotypes.csv", "brain_size")
    social = read_phenotypes(small / "phenotypes.csv", "social", binary=True)
    assert list(brain.index) == tree.tip_names and brain.std() > 0
    assert 0.3 <= social.mean() <= 0.4
    truth = pd.read_csv(small / "truth.tsv", sep="\t")
    for folder in (small, small / "tissue2"):
        peaks = read_narrowpeak(folder / "peaks.narrowPeak")
        negatives = read_bed(folder / "negatives.bed")
        assert 0.8 < len(negatives) / len(peaks) < 1.6
        assert all(200 <= p.length <= 600 and p.chrom in CHROMS for p in peaks)
        assert all(n.length == WIDTH for n in negatives)
        assert not any(n.chrom == p.chrom and n.start < p.end and p.start < n.end for n in negatives for p in peaks)
    peaks = read_narrowpeak(small / "peaks.narrowPeak")
    assert len(truth) == 2 * len(peaks) and set(truth["ocr"]) == {p.name for p in peaks}
    assert truth.groupby("trait")["planted"].sum().to_dict() == PRESETS["small"].n_planted


def test_maf_rows_are_the_genome_sequences(small, genomes):
    """Every row's bases are the genome's sequence at its coordinates (reverse complement on '-' rows)."""
    strands, last = Counter(), {}
    for block in read_maf(small / "alignment.maf.gz"):
        ref = block[0]
        assert ref.species == REFERENCE and ref.strand == "+"
        assert ref.start >= last.get(ref.chrom, 0)  # sorted by reference position
        last[ref.chrom] = ref.start + ref.size
        assert len({row.species for row in block}) == len(block)
        for row in block:
            lo, hi = plus_interval(row, 0, row.size)
            genome = genomes[row.species][row.chrom]
            assert len(genome) == row.src_size
            bases = genome[lo:hi].upper()
            expected = row.text.replace("-", "").upper()
            assert (bases if row.strand == "+" else reverse_complement(bases)) == expected, row.line
            strands[row.strand] += 1
    assert strands["-"] > 0.2 * strands["+"]


def true_copies(folder: Path) -> pd.DataFrame:
    """Motif copies, locus x species; NaN where the species lost the locus."""
    return pd.read_csv(folder / "motif_counts.tsv.gz", sep="\t", index_col="ocr").astype(float)


def test_motif_copies_recovered_through_orthologs(small, tmp_path):
    """Summit-centred windows of the orthologs found through the MAF carry exactly the simulated motif copies."""
    peaks = read_narrowpeak(small / "peaks.narrowPeak")
    result = map_orthologs(small / "alignment.maf.gz", peaks, REFERENCE, tmp_path / "orthologs")
    counts = true_copies(small)
    checked = mismatched = 0
    for species in counts.columns:
        genome = tmp_path / f"{species}.fa"
        with gzip.open(small / "genomes" / f"{species}.fa.gz", "rb") as src, open(genome, "wb") as dst:
            shutil.copyfileobj(src, dst)
        orthologs = result.orthologs[species].to_peaks([p.name for p in peaks])
        records, dropped = extract_windows(genome, orthologs, width=WIDTH)
        assert sum(dropped.values()) == 0
        for name, seq in records:
            checked += 1
            mismatched += (seq.count(MOTIF), seq.count(MOTIF_RC)) != (counts.loc[name, species], 0)
    assert mismatched == 0 and checked > 0.85 * len(peaks) * len(counts.columns)
    # coverage: nearly every OCR has orthologs in at least half of the species
    per_ocr = Counter(name for sp in result.species for name in (p.name for p in result.orthologs[sp].to_peaks(
        [p.name for p in peaks])))
    assert np.mean([per_ocr[p.name] >= 0.5 * len(result.species) for p in peaks]) > 0.95


def test_species_peaks_sit_on_that_species_loci(small, genomes):
    """The second species' OCRs: in its own genome, centred on its copy of a locus (its motif copies within
    the model's window, in reference orientation or reversed), open loci only, at the rates of its copies."""
    counts = true_copies(small)
    (path,) = sorted((small / "species_peaks").iterdir())
    species = path.name.removesuffix(".narrowPeak")
    tree = read_tree(small / "tree.nwk")
    assert species != REFERENCE and species in tree.tip_names
    peaks = read_narrowpeak(path)
    genome = genomes[species]
    assert len(peaks) > 0.3 * counts[species].notna().sum()
    assert len({p.name for p in peaks}) == len(peaks)
    for peak in peaks:
        assert 0 <= peak.start <= peak.summit < peak.end <= len(genome[peak.chrom])
        locus = "ocr_" + peak.name.rsplit("_", 1)[1]
        window = genome[peak.chrom][peak.summit - WIDTH // 2: peak.summit + WIDTH // 2]
        assert sorted((window.count(MOTIF), window.count(MOTIF_RC))) == [0, counts.loc[locus, species]], peak.name
    # Open with P_OPEN of the species' own copies: loci with 4 copies are open far more often than with none.
    open_loci = {"ocr_" + p.name.rsplit("_", 1)[1] for p in peaks}
    have = counts[species].dropna()
    rate = {c: np.mean([locus in open_loci for locus in have.index[have == c]]) for c in (0, 4)}
    assert rate[0] < 0.15 < 0.8 < rate[4], rate


def test_chains_hold_the_maf_alignment(small, genomes, tmp_path):
    """Each species' chain file (reference = target) holds the MAF's aligned base pairs: the package's chain reader
    accepts it, its blocks align mostly identical bases of the two genomes (query strand '-' counted from the end,
    as UCSC defines), and the orthologs and QC counts through it are exactly those through the MAF."""
    peaks = read_narrowpeak(small / "peaks.narrowPeak")
    maf = map_orthologs(small / "alignment.maf.gz", peaks, REFERENCE, tmp_path / "maf")
    qc = {row["species"]: row for row in maf.qc_rows()}
    species = sorted(path.name.removesuffix(".chain.gz") for path in (small / "chains").iterdir())
    assert species == sorted(set(maf.species) - {REFERENCE})
    strands, n_orthologs = Counter(), 0
    for name in species:
        path = small / "chains" / f"{name}.chain.gz"
        assert path.read_bytes()[4:8] == b"\0\0\0\0"  # gzip header: mtime 0
        chains = list(read_chains(path))
        assert len({chain.id for chain in chains}) == len(chains)
        same = total = 0
        for chain in chains:
            assert chain.score == int(chain.size.sum()) > 0 and (chain.size > 0).all()
            ref, query = genomes[REFERENCE][chain.t_name], genomes[name][chain.q_name]
            assert (chain.t_size, chain.q_size) == (len(ref), len(query))
            strands[chain.q_strand] += 1
            if chain.q_strand == "-":
                query = reverse_complement(query)
            for t, q, n in zip(chain.t_block.tolist(), chain.q_block.tolist(), chain.size.tolist()):
                same += sum(a == b for a, b in zip(ref[t:t + n].upper(), query[q:q + n].upper()))
                total += n
        assert same > 0.9 * total, name
        result = chain_orthologs(path, peaks, tmp_path / f"{name}.narrowPeak")
        assert (tmp_path / f"{name}.narrowPeak").read_text() == (tmp_path / "maf" / f"{name}.narrowPeak").read_text()
        assert result.qc_row(name) == qc[name]
        n_orthologs += len(result.orthologs)
    assert strands["-"] > 0.2 * strands["+"]
    assert n_orthologs > 0.85 * len(peaks) * len(species)


def test_oracle_recovers_planted_ocrs(small):
    """PGLS of brain_size on the true activity (copies / 4) finds the planted OCRs at FDR 0.1."""
    counts = true_copies(small)
    ocrs = [p.name for p in read_narrowpeak(small / "peaks.narrowPeak")]
    matrix = PredictionMatrix(ocrs, list(counts.columns), counts.loc[ocrs].to_numpy() / 4)
    table = associate(matrix, read_tree(small / "tree.nwk"), read_phenotypes(small / "phenotypes.csv", "brain_size"),
                      AssociationSettings())
    truth = pd.read_csv(small / "truth.tsv", sep="\t").query("trait == 'brain_size'").set_index("ocr")
    found = set(table.loc[table["fdr"] <= 0.1, "ocr"])
    planted = set(truth.index[truth["planted"] == 1])
    assert len(found & planted) / len(planted) >= 0.95
    assert len(found - planted) / len(found) <= 0.2  # BH at 0.1: about 0.1 expected; seed 1 gives 2 of 22
    coef = table.set_index("ocr").loc[sorted(planted), "coef"]
    assert (np.sign(coef) == truth.loc[sorted(planted), "direction"]).all()


@pytest.mark.slow
def test_embedded_demo_is_what_simulate_writes(tmp_path):
    demo = ROOT / "resources" / "demo"
    if not demo.exists():
        pytest.skip("resources/demo not generated")
    sim = simulate("demo", seed=1)
    write_readme(sim, write_simulation(sim, tmp_path), tmp_path)
    assert all_files(tmp_path) == all_files(demo)
