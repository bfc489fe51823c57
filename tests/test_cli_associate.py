"""``tacit associate`` as a user runs it: output columns, exit codes, one-line errors, no partial output."""

import subprocess
import sys

import pandas as pd
import pytest

from tacit.association import COLUMNS

from conftest import shared_path


def tacit(*args):
    return subprocess.run([sys.executable, "-m", "tacit.cli", *map(str, args)], capture_output=True, text=True)


@pytest.fixture
def small_case(tmp_path):
    (tmp_path / "tree.nwk").write_text("(((A:1,B:1):1,(C:1,D:2):0.5):1,((E:1,F:1):2,(G:1,H:1):1):1);")
    (tmp_path / "species.txt").write_text("\n".join("ABCDEFGH") + "\n")
    rows = [
        "o1\t0.1\t0.2\t0.3\t0.4\t0.5\t0.6\t0.7\t0.9",
        "o2\t0.9\t-1\t0.3\t0.1\t0.5\t0.2\t0.7\t0.4",
        "o3\t-1\t-1\t-1\t-1\t-1\t0.2\t0.7\t0.4",
        "o4\t0.5\t0.5\t0.5\t0.5\t0.5\t0.5\t0.5\t0.5",
    ]
    (tmp_path / "matrix.tsv").write_text("\n".join(rows) + "\n")
    (tmp_path / "pheno.csv").write_text(
        "species,size,flag\n" + "\n".join(f"{s},{v},{int(v > 3)}" for s, v in zip("ABCDEFGH", [1, 2, 2.5, 3.5, 4, 5, 6, 7.5]))
    )
    return tmp_path


def test_associate_writes_the_documented_columns(small_case):
    out = small_case / "assoc.tsv"
    run = tacit("associate", "--matrix", small_case / "matrix.tsv", "--species", small_case / "species.txt",
                "--tree", small_case / "tree.nwk", "--phenotypes", small_case / "pheno.csv", "--trait", "size",
                "--permulations", "20", "--seed", "3", "--out", out)
    assert run.returncode == 0, run.stderr
    table = pd.read_csv(out, sep="\t")
    assert list(table.columns) == COLUMNS
    assert table["status"].tolist() == ["ok", "ok", "too_few_species", "constant_activity"]
    assert table.loc[0, "perm_trials"] >= 20
    assert pd.isna(table.loc[2, "coef"]) and pd.isna(table.loc[2, "fdr"])


def test_same_seed_identical_bytes(small_case):
    outs = []
    for name in ("a.tsv", "b.tsv"):
        out = small_case / name
        tacit("associate", "--matrix", small_case / "matrix.tsv", "--species", small_case / "species.txt",
              "--tree", small_case / "tree.nwk", "--phenotypes", small_case / "pheno.csv", "--trait", "size",
              "--permulations", "50", "--seed", "9", "--out", out)
        outs.append(out.read_bytes())
    assert outs[0] == outs[1]


def test_binary_trait_runs_phyloglm_and_binary_permulations(small_case):
    out = small_case / "binary.tsv"
    run = tacit("associate", "--matrix", small_case / "matrix.tsv", "--species", small_case / "species.txt",
                "--tree", small_case / "tree.nwk", "--phenotypes", small_case / "pheno.csv", "--trait", "flag",
                "--trait-type", "binary", "--permulations", "10", "--out", out)
    assert run.returncode == 0, run.stderr
    table = pd.read_csv(out, sep="\t")
    assert list(table.columns) == COLUMNS
    assert table.loc[2, "status"] == "too_few_species"
    assert table.loc[0, "status"] in ("ok", "alpha_at_bound", "permulation_rejection_limit")
    assert 0 < table.loc[0, "pvalue"] <= 1 and 0 < table.loc[0, "perm_pvalue"] <= 1


def test_tacit_phenotype_file_and_the_rejection_bound_through_the_cli(tmp_path):
    """TACIT's phenotype files as they are ('Species Name', 'Genus species', a space after the comma) and
    --max-draws-per-permulation: a trait whose clade count 1 BM draw in 350 has gets its permulations with the
    default bound and reports permulation_rejection_limit with a bound of 100."""
    from test_binary import _rare_clade_case

    tree, matrix, trait = _rare_clade_case()
    (tmp_path / "tree.nwk").write_text(tree.to_newick(digits=17) + "\n")
    (tmp_path / "species.txt").write_text("\n".join(matrix.species) + "\n")
    (tmp_path / "matrix.tsv").write_text("".join(name + "\t" + "\t".join(f"{v:.6f}" for v in row) + "\n"
                                                 for name, row in zip(matrix.ocrs, matrix.values)))
    (tmp_path / "labels.csv").write_text("Species Name, Vocal_Learner\n" + "".join(
        f"{name.replace('_', ' ')},{int(v)}\n" for name, v in trait.items()))
    common = ["associate", "--matrix", tmp_path / "matrix.tsv", "--species", tmp_path / "species.txt", "--tree",
              tmp_path / "tree.nwk", "--phenotypes", tmp_path / "labels.csv", "--trait", "Vocal_Learner",
              "--trait-type", "binary", "--permulations", "20"]
    run = tacit(*common, "--out", tmp_path / "default.tsv")
    assert run.returncode == 0, run.stderr
    table = pd.read_csv(tmp_path / "default.tsv", sep="\t")
    assert table["status"].isin(["ok", "alpha_at_bound"]).all() and (table["n_species"] == 60).all()
    run = tacit(*common, "--max-draws-per-permulation", "100", "--out", tmp_path / "tight.tsv")
    assert run.returncode == 0, run.stderr
    assert (pd.read_csv(tmp_path / "tight.tsv", sep="\t")["status"] == "permulation_rejection_limit").all()
    run = tacit(*common, "--max-draws-per-permulation", "0", "--out", tmp_path / "never.tsv")
    assert run.returncode == 1 and "--max-draws-per-permulation must be at least 1" in run.stderr
    assert not (tmp_path / "never.tsv").exists()


def test_binary_trait_with_other_values_is_one_clear_error(small_case):
    out = small_case / "never.tsv"
    run = tacit("associate", "--matrix", small_case / "matrix.tsv", "--species", small_case / "species.txt",
                "--tree", small_case / "tree.nwk", "--phenotypes", small_case / "pheno.csv", "--trait", "size",
                "--trait-type", "binary", "--out", out)
    assert run.returncode == 1 and "Traceback" not in run.stderr
    assert "pheno.csv" in run.stderr
    assert not out.exists()


def test_bad_input_one_line_no_traceback_no_output(small_case):
    (small_case / "bad.tsv").write_text("o1\t0.1\t0.2\n")
    out = small_case / "never.tsv"
    run = tacit("associate", "--matrix", small_case / "bad.tsv", "--species", small_case / "species.txt",
                "--tree", small_case / "tree.nwk", "--phenotypes", small_case / "pheno.csv", "--trait", "size",
                "--out", out)
    assert run.returncode == 1
    assert "Traceback" not in run.stderr
    assert f"{small_case / 'bad.tsv'}:1: expected 9 columns" in run.stderr
    assert not out.exists()


def test_reference_case_through_the_cli(tmp_path):
    ref = shared_path("reference", "phylolm_small")
    out = tmp_path / "a.tsv"
    run = tacit("associate", "--matrix", ref / "matrix.tsv", "--species", ref / "species.txt", "--tree",
                ref / "tree.nwk", "--phenotypes", ref / "pheno.csv", "--trait", "cont_trait", "--out", out)
    assert run.returncode == 0, run.stderr
    ours = pd.read_csv(out, sep="\t").set_index("ocr")
    theirs = pd.read_csv(ref / "out_lm.csv").set_index("OCR")
    ok = theirs.index[theirs["status"] == "ok"]
    # Written with 12 significant digits: 1e-9 relative covers the rounding of the text.
    pd.testing.assert_series_equal(ours.loc[ok, "pvalue"], theirs.loc[ok, "pvalue"], rtol=1e-9, check_names=False)


@pytest.mark.parametrize("kind, trait, perms", [("continuous", "size", "200"), ("binary", "flag", "5")])
def test_chunked_run_gathers_to_the_same_bytes(tmp_path, kind, trait, perms):
    """Chunks, threads and blocks change how the work is split, never a byte of the table."""
    import numpy as np

    rng = np.random.default_rng(7)
    names = [f"S_{c}" for c in "abcdefghijkl"]
    (tmp_path / "tree.nwk").write_text(
        "((((S_a:1,S_b:1):1,(S_c:1,S_d:2):0.5):1,((S_e:1,S_f:1):2,(S_g:1,S_h:1):1):1):0.5,"
        "((S_i:1,S_j:1):1,(S_k:1,S_l:2):1):1);")
    (tmp_path / "species.txt").write_text("\n".join(names) + "\n")
    values = rng.random((25, 12))
    values[rng.random((25, 12)) < 0.15] = -1
    (tmp_path / "m.tsv").write_text("".join(f"o{i}\t" + "\t".join(f"{v:.4f}" for v in row) + "\n"
                                            for i, row in enumerate(values)))
    size = rng.normal(size=12)
    (tmp_path / "p.csv").write_text("species,size,flag\n" + "".join(
        f"{n},{s:.4f},{int(s > 0)}\n" for n, s in zip(names, size)))
    common = ["--matrix", tmp_path / "m.tsv", "--species", tmp_path / "species.txt", "--tree", tmp_path / "tree.nwk",
              "--phenotypes", tmp_path / "p.csv", "--trait", trait, "--trait-type", kind, "--permulations", perms,
              "--seed", "3"]
    whole = tmp_path / "whole.tsv"
    assert tacit("associate", *common, "--out", whole).returncode == 0
    threaded = tmp_path / "threaded.tsv"  # the compiled permulation loop on 2 threads: the same bytes
    assert tacit("associate", *common, "--threads", "2", "--block-rows", "4", "--out", threaded).returncode == 0
    assert threaded.read_bytes() == whole.read_bytes()
    for n_chunks in (1, 3):  # the workflow always scatters, also into one chunk
        parts = []
        for k in range(n_chunks):
            part = tmp_path / f"part{n_chunks}_{k}.tsv"
            run = tacit("associate", *common, "--chunk", k, "--chunks", n_chunks, "--out", part)
            assert run.returncode == 0, run.stderr
            parts.append(part)
        gathered = tmp_path / f"gathered{n_chunks}.tsv"
        run = tacit("gather", "--parts", *parts, "--out", gathered)
        assert run.returncode == 0, run.stderr
        assert gathered.read_bytes() == whole.read_bytes(), n_chunks
    assert pd.read_csv(whole, sep="\t")["fdr"].notna().sum() > 5
