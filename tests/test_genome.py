"""Genome preparation: bgzip (BGZF) and plain FASTA used in place through a link, plain gzip decompressed.

The BGZF files are written with Biopython's BgzfWriter (real 64 kB BGZF blocks); the genome is three seeded
random chromosomes of 60-90 kB wrapped at 60 columns, so it spans several blocks and windows cross block edges.
"""

from __future__ import annotations

import gzip
import logging
import os
import random

import pytest
from Bio import bgzf

from tacit.errors import InputError
from tacit.genome import index_genome, is_bgzf, open_genome, prepare_genome
from tacit.peaks import Peak
from tacit.sequences import extract_windows

LENGTHS = {"chr1": 90_000, "chr2": 60_000, "chrM": 70_017}


@pytest.fixture(scope="module")
def sources(tmp_path_factory) -> dict[str, os.PathLike]:
    """The same genome as plain text, BGZF and plain gzip."""
    rng = random.Random(7)
    text = "".join(f">{name} some description\n" + "\n".join(
        "".join(rng.choice("ACGTacgtN") for _ in range(min(60, length - i))) for i in range(0, length, 60)) + "\n"
        for name, length in LENGTHS.items()).encode()
    base = tmp_path_factory.mktemp("sources")
    (base / "genome.fa").write_bytes(text)
    with bgzf.BgzfWriter(base / "genome.fa.gz", "wb") as handle:
        handle.write(text)
    (base / "plain.fa.gz").write_bytes(gzip.compress(text, mtime=0))
    return {"plain": base / "genome.fa", "bgzf": base / "genome.fa.gz", "gzip": base / "plain.fa.gz"}


def windows(genome, width: int = 500):
    """Overlapping windows on both strands over every contig, so across every BGZF block edge, and past contig ends."""
    summits = [5, *range(250, 90_001, 400)]
    orthologs = [Peak(chrom, max(s - 5, 0), s + 5, f"{chrom}:{s}{strand}", s, strand)
                 for chrom in LENGTHS for s in summits for strand in "+-"]
    return extract_windows(genome, orthologs, width=width, max_n_fraction=0.5)  # the genome is 1/9 N


def test_is_bgzf(sources, tmp_path):
    assert is_bgzf(sources["bgzf"])
    assert not is_bgzf(sources["gzip"])
    assert not is_bgzf(sources["plain"])
    (tmp_path / "empty").write_bytes(b"")
    assert not is_bgzf(tmp_path / "empty")
    # gzip with an extra field that is not BGZF's 'BC' subfield
    (tmp_path / "extra.gz").write_bytes(b"\x1f\x8b\x08\x04" + bytes(6) + b"\x06\x00XY\x02\x00ab")
    assert not is_bgzf(tmp_path / "extra.gz")


def test_bgzf_is_used_in_place(sources, tmp_path, caplog):
    dest = tmp_path / "genomes" / "Homo_sapiens.fa"
    with caplog.at_level(logging.INFO, logger="tacit.genome"):
        prepare_genome(sources["bgzf"], dest)
    assert dest.is_symlink() and os.readlink(dest) == str(sources["bgzf"].resolve())
    assert dest.stat().st_size == sources["bgzf"].stat().st_size  # no decompressed copy anywhere
    assert sorted(p.name for p in dest.parent.iterdir()) == [dest.name, dest.name + ".fai", dest.name + ".gzi"]
    assert "used in place" in caplog.text
    # the .fai holds uncompressed offsets, so it is the plain FASTA's index (as samtools faidx writes it)
    plain = tmp_path / "plain" / "genome.fa"
    prepare_genome(sources["plain"], plain)
    assert (dest.parent / (dest.name + ".fai")).read_text() == (plain.parent / "genome.fa.fai").read_text()


def test_windows_from_bgzf_equal_windows_from_plain(sources, tmp_path):
    prepare_genome(sources["bgzf"], tmp_path / "bgzf.fa")
    prepare_genome(sources["plain"], tmp_path / "plain.fa")
    from_bgzf, from_plain = windows(tmp_path / "bgzf.fa"), windows(tmp_path / "plain.fa")
    assert from_bgzf == from_plain
    records, dropped = from_bgzf
    assert len(records) == 2 * (224 + 149 + 174) and dropped["off_contig"] == 2 * 3 * 226 - len(records)
    with open_genome(tmp_path / "plain.fa") as genome:
        assert records[0][1] == genome.get_seq("chr1", 1, 500)


def test_plain_fasta_is_linked_not_copied(sources, tmp_path):
    dest = tmp_path / "genome.fa"
    prepare_genome(sources["plain"], dest)
    assert dest.is_symlink() and dest.resolve() == sources["plain"].resolve()
    assert (tmp_path / "genome.fa.fai").exists() and not (tmp_path / "genome.fa.gzi").exists()


def test_plain_gzip_is_decompressed(sources, tmp_path, caplog):
    dest = tmp_path / "genome.fa"
    prepare_genome(sources["bgzf"], dest)  # a .gzi of an earlier BGZF source must not survive
    with caplog.at_level(logging.INFO, logger="tacit.genome"):
        prepare_genome(sources["gzip"], dest)
    assert not dest.is_symlink() and dest.read_bytes() == sources["plain"].read_bytes()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["genome.fa", "genome.fa.fai"]
    assert "bgzip" in caplog.text
    assert windows(dest) == windows(sources["plain"])


def test_open_genome_on_a_bgzf_file_builds_its_indexes_beside_it(sources, tmp_path):
    path = tmp_path / "genome.fa.gz"
    path.write_bytes(sources["bgzf"].read_bytes())
    with open_genome(path) as genome:
        assert {name: len(genome[name]) for name in genome.keys()} == LENGTHS
    assert (tmp_path / "genome.fa.gz.fai").exists() and (tmp_path / "genome.fa.gz.gzi").exists()


def test_plain_gzip_cannot_be_opened_directly(sources):
    with pytest.raises(InputError, match=r"plain\.fa\.gz: plain gzip genome: .* bgzip"):
        open_genome(sources["gzip"])


def test_truncated_bgzf_is_one_input_error_naming_it(sources, tmp_path):
    data = sources["bgzf"].read_bytes()
    for name, cut in (("half.fa.gz", len(data) // 2), ("no_eof.fa.gz", len(data) - 28)):  # 28: the EOF block
        source = tmp_path / name
        source.write_bytes(data[:cut])
        dest = tmp_path / "out" / "genome.fa"
        with pytest.raises(InputError, match=rf"^{source}: cannot index genome FASTA .*truncated"):
            prepare_genome(source, dest)
        assert list((tmp_path / "out").iterdir()) == []  # no link, index or temporary left
        with pytest.raises(InputError, match=rf"^{source}: cannot index"):
            index_genome(source)
        assert not os.path.exists(f"{source}.fai") and not os.path.exists(f"{source}.gzi")


def test_not_fasta_and_missing_source(tmp_path):
    (tmp_path / "notes.txt").write_text("ACGT\n")
    with pytest.raises(InputError, match=r"notes\.txt:1: not a FASTA file"):
        prepare_genome(tmp_path / "notes.txt", tmp_path / "out" / "genome.fa")
    assert list((tmp_path / "out").iterdir()) == []
    with pytest.raises(InputError, match="not found"):
        prepare_genome(tmp_path / "absent.fa.gz", tmp_path / "out" / "genome.fa")
