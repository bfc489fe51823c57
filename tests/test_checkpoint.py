"""Streaming and resumable association: blocks never change the table, a killed run resumes to the same table,
and the species report says why each species was dropped."""

import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

import tacit.association as association
import tacit.binary as binary
from tacit.association import AssociationSettings, associate, read_associations, species_report
from tacit.checkpoint import Checkpoint
from tacit.errors import InputError
from tacit.tables import MatrixFile, PredictionMatrix, phenotype_species, write_matrix
from tacit.tree import Tree, simulate_bm


def tacit(*args):
    return subprocess.run([sys.executable, "-m", "tacit.cli", *map(str, args)], capture_output=True, text=True)


def random_case(n_tips=24, n_ocrs=60, seed=0, binary_trait=False):
    rng = np.random.default_rng(seed)
    names = [f"S_{i}" for i in range(n_tips)]
    # A random binary tree: join random pairs until one root is left.
    nodes = [f"{n}:{rng.uniform(0.1, 1):.3f}" for n in names]
    while len(nodes) > 1:
        i, j = sorted(rng.choice(len(nodes), 2, replace=False))
        b = nodes.pop(j)
        a = nodes.pop(i)
        nodes.append(f"({a},{b}):{rng.uniform(0.1, 1):.3f}")
    tree = Tree.from_newick(nodes[0].rsplit(":", 1)[0] + ";")
    y = simulate_bm(tree, 1, rng)[: tree.n_tips, 0]
    trait = pd.Series((y > np.median(y)).astype(float) if binary_trait else y, index=tree.tip_names)
    values = rng.random((n_ocrs, n_tips))
    values[:8] += 0.8 * (trait.to_numpy() - trait.mean())  # some associated OCRs
    values[rng.random(values.shape) < 0.15] = np.nan
    values = np.round(values, 6)
    matrix = PredictionMatrix([f"ocr{i}" for i in range(n_ocrs)], tree.tip_names, values)
    return matrix, tree, trait


def test_matrix_file_blocks_equal_the_whole_matrix(tmp_path):
    matrix, _, _ = random_case()
    write_matrix(matrix, tmp_path / "m.tsv.gz")
    source = MatrixFile(tmp_path / "m.tsv.gz")
    assert source.n_rows == 60 and source.species == matrix.species
    blocks = list(source.blocks(5, 47, 9, skip=lambda b: b == 2))
    assert [b for b, _ in blocks] == [0, 1, 2, 3, 4] and blocks[2][1] is None
    got = np.vstack([m.values for _, m in blocks if m is not None])
    want = np.vstack([matrix.values[5:23], matrix.values[32:47]])
    np.testing.assert_array_equal(got, want)
    assert [o for _, m in blocks if m is not None for o in m.ocrs] == matrix.ocrs[5:23] + matrix.ocrs[32:47]


def test_matrix_file_checks_every_row_before_any_work(tmp_path):
    matrix, _, _ = random_case()
    write_matrix(matrix, tmp_path / "m.tsv")
    lines = (tmp_path / "m.tsv").read_text().splitlines()
    name, first, rest = lines[58].split("\t", 2)
    lines[58] = "\t".join([name, "bad", rest])  # the last data row (line 59 after the header)
    (tmp_path / "bad.tsv").write_text("\n".join(lines) + "\n")
    with pytest.raises(InputError) as err:
        MatrixFile(tmp_path / "bad.tsv")
    assert "bad.tsv:59:" in str(err.value) and "'bad'" in str(err.value)


def test_tacit_minus_one_is_missing_however_written(tmp_path):
    (tmp_path / "m.tsv").write_text("o1\t-1\t0.5\t-1.0\to2\n".replace("\to2", "\t-1.000000"))
    (tmp_path / "s.txt").write_text("A\nB\nC\nD\n")
    values = next(MatrixFile(tmp_path / "m.tsv", tmp_path / "s.txt").blocks(0, 1, 1))[1].values
    assert np.isnan(values[0, [0, 2, 3]]).all() and values[0, 1] == 0.5


@pytest.mark.parametrize("kind", ["continuous", "binary"])
def test_blocks_and_files_do_not_change_the_table(tmp_path, kind):
    matrix, tree, trait = random_case(binary_trait=kind == "binary", n_ocrs=12 if kind == "binary" else 60)
    settings = dict(permulations=10, max_permulations=30 if kind == "binary" else 100, seed=4, trait_type=kind)
    whole = associate(matrix, tree, trait, AssociationSettings(**settings))
    write_matrix(matrix, tmp_path / "m.tsv.gz")
    streamed = associate(MatrixFile(tmp_path / "m.tsv.gz"), tree, trait, AssociationSettings(**settings, block_rows=7))
    pd.testing.assert_frame_equal(whole, streamed)
    assert whole["status"].isin(association.TESTED).sum() >= 10


class Killed(Exception):
    pass


def kill_after(monkeypatch, module, name, calls):
    """Make ``module.name`` raise after ``calls`` calls: a run killed mid-way. Returns the call counter."""
    original = getattr(module, name)
    original = getattr(original, "unpatched", original)
    counter = {"n": 0, "limit": calls}

    def wrapped(*args, **kwargs):
        counter["n"] += 1
        if counter["limit"] is not None and counter["n"] > counter["limit"]:
            raise Killed
        return original(*args, **kwargs)

    wrapped.unpatched = original
    monkeypatch.setattr(module, name, wrapped)
    return counter


@pytest.mark.parametrize("kind,module,name", [
    ("continuous", association._Batch, "count"),  # one call per species set and block of permulations
    ("binary", binary, "_permulation_fits"),  # one call per species set and round
])
def test_a_killed_run_resumes_to_the_same_table(tmp_path, monkeypatch, kind, module, name):
    # Binary fits are slow (phyloglm per OCR and permulation): a smaller case.
    matrix, tree, trait = random_case(binary_trait=kind == "binary", n_ocrs=10 if kind == "binary" else 60)
    settings = AssociationSettings(permulations=10, max_permulations=30 if kind == "binary" else 1000, seed=2,
                                   trait_type=kind, block_rows=4 if kind == "binary" else 13, resolve_count=3)
    calls = kill_after(monkeypatch, module, name, None)
    reference = associate(matrix, tree, trait, settings)
    uninterrupted = calls["n"]
    limit = uninterrupted * 2 // 3  # killed in a later block, inside its permulations

    directory = tmp_path / "ckpt"
    calls = kill_after(monkeypatch, module, name, limit)
    with pytest.raises(Killed):
        associate(matrix, tree, trait, settings, checkpoint=Checkpoint(directory, "same", interval=0.0))
    assert (directory / "running.npz").exists() or list(directory.glob("block-*.tsv"))
    calls = kill_after(monkeypatch, module, name, None)
    resumed = associate(matrix, tree, trait, settings, checkpoint=Checkpoint(directory, "same", interval=0.0))
    pd.testing.assert_frame_equal(resumed, reference)
    # The resumed run redid only what was cut off (at most the piece running at the kill), not the whole run.
    assert calls["n"] < uninterrupted - limit * 0.9


def test_a_checkpoint_of_other_inputs_is_discarded(tmp_path):
    matrix, tree, trait = random_case()
    settings = AssociationSettings(permulations=10, max_permulations=100, seed=2, block_rows=20)
    first = associate(matrix, tree, trait, settings, checkpoint=Checkpoint(tmp_path / "c", "one"))
    assert len(list((tmp_path / "c").glob("block-*.tsv"))) == 3
    (tmp_path / "c" / "block-000000.tsv").write_text("corrupt\n")
    again = associate(matrix, tree, trait, settings, checkpoint=Checkpoint(tmp_path / "c", "two"))
    pd.testing.assert_frame_equal(first, again)
    assert read_associations(str(tmp_path / "c" / "block-000000.tsv"))["ocr"].tolist() == matrix.ocrs[:20]


def test_cli_checkpoint_is_removed_after_the_output_is_written(tmp_path):
    matrix, tree, trait = random_case()
    write_matrix(matrix, tmp_path / "m.tsv.gz")
    (tmp_path / "tree.nwk").write_text(tree.to_newick())
    pd.DataFrame({"species": trait.index, "size": trait.to_numpy()}).to_csv(tmp_path / "p.csv", index=False)
    common = ["--matrix", tmp_path / "m.tsv.gz", "--tree", tmp_path / "tree.nwk", "--phenotypes", tmp_path / "p.csv",
              "--trait", "size", "--permulations", "10", "--max-permulations", "100"]
    plain = tacit("associate", *common, "--out", tmp_path / "a.tsv")
    resumable = tacit("associate", *common, "--checkpoint", tmp_path / "ckpt", "--block-rows", "11",
                      "--out", tmp_path / "b.tsv")
    assert plain.returncode == 0 and resumable.returncode == 0, resumable.stderr
    assert (tmp_path / "a.tsv").read_bytes() == (tmp_path / "b.tsv").read_bytes()
    assert not (tmp_path / "ckpt").exists()


def test_species_report_names_the_join_that_dropped_each_species(tmp_path):
    tree = Tree.from_newick("((A_a:1,B_b:1):1,((C_c:1,D_d:1):1,E_e:2):1);")
    (tmp_path / "p.csv").write_text("species,size,mass\nA a,1,10\nB_b,2,\nC_c,,5\nD_d,4,4\nZ_z,5,5\n")
    from tacit.tables import read_phenotypes

    trait = read_phenotypes(tmp_path / "p.csv", "size")
    covariates = pd.concat({"mass": read_phenotypes(tmp_path / "p.csv", "mass")}, axis=1)
    table = species_report(["A_a", "B_b", "C_c", "E_e", "Q_q"], tree, phenotype_species(tmp_path / "p.csv"), trait,
                           covariates).set_index("species")
    assert table["analysed"].to_dict() == {"A_a": True, "B_b": False, "C_c": False, "D_d": False, "E_e": False,
                                           "Q_q": False, "Z_z": False}
    assert table.loc["A_a", "name_in_phenotypes"] == "A a"
    assert table.loc["B_b", "reason"].startswith("a covariate value missing")
    assert table.loc["C_c", "reason"].startswith("trait value missing")
    assert table.loc["D_d", "reason"].startswith("no predictions")
    assert table.loc["E_e", "reason"] == "not in the phenotype table"
    assert table.loc["Q_q", "reason"] == "not a tip of the tree"
    assert table.loc["Z_z", "reason"].startswith("no predictions")


def test_species_report_cli(tmp_path):
    (tmp_path / "tree.nwk").write_text("((A_a:1,B_b:1):1,(C_c:1,D_d:1):1);")
    (tmp_path / "m.tsv").write_text("ocr\tA_a\tB_b\tC_c\no1\t0.1\t0.2\t0.3\n")
    (tmp_path / "p.csv").write_text("species,size\nA_a,1\nB b,2\nC_c,NA\nD_d,3\n")
    run = tacit("species-report", "--matrix", tmp_path / "m.tsv", "--tree", tmp_path / "tree.nwk",
                "--phenotypes", tmp_path / "p.csv", "--trait", "size", "--out", tmp_path / "species.tsv")
    assert run.returncode == 0, run.stderr
    table = pd.read_csv(tmp_path / "species.tsv", sep="\t", keep_default_na=False)
    assert table["species"].tolist() == ["A_a", "B_b", "C_c", "D_d"]
    assert table["analysed"].tolist() == ["yes", "yes", "no", "no"]
    assert table["name_in_phenotypes"].tolist() == ["", "B b", "", ""]
    assert "2 species analysed, 2 dropped" in run.stderr
