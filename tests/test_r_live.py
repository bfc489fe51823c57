"""Parity with R's phylolm and phyloglm, run live on new random cases when ``Rscript`` and the R package
phylolm are installed (skipped otherwise, with a message). The frozen reference tables in ``../shared`` and
the independent dense implementations in test_regression.py and test_phyloglm.py cover machines without R;
this test adds cases nobody chose, fitted by R on the spot."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tacit import phyloglm
from tacit.association import AssociationSettings, associate
from tacit.simulate import random_tree
from tacit.tables import PredictionMatrix
from tacit.tree import Tree, simulate_bm

FIT_EACH = Path(__file__).parent / "r" / "fit_each.R"


@pytest.fixture(scope="module")
def rscript() -> str:
    path = shutil.which("Rscript")
    if path is None:
        pytest.skip("Rscript is not on PATH (the live R parity checks need R with the phylolm package)")
    probe = subprocess.run([path, "-e", "library(phylolm)"], capture_output=True, text=True)
    if probe.returncode:
        pytest.skip("the R package phylolm is not installed (the live R parity checks need it)")
    return path


def r_fits(rscript: str, mode: str, tree: Tree, values: np.ndarray, trait: np.ndarray, tmp: Path) -> pd.DataFrame:
    (tmp / "tree.nwk").write_text(tree.to_newick(digits=17) + "\n")
    for name, table in (("x.tsv", values), ("y.tsv", trait[None, :])):
        pd.DataFrame(table, columns=tree.tip_names).to_csv(tmp / name, sep="\t", index=False, na_rep="NA",
                                                           float_format="%.17g")
    run = subprocess.run([rscript, str(FIT_EACH), mode, str(tmp / "tree.nwk"), str(tmp / "x.tsv"),
                          str(tmp / "y.tsv"), str(tmp / "out.csv")], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    return pd.read_csv(tmp / "out.csv")


def case(n_species: int, n_ocrs: int, seed: int, binary: bool) -> tuple[Tree, np.ndarray, np.ndarray]:
    """An ultrametric random tree; a Brownian trait (binary: its top 35 %); predictors that are Brownian
    noise, plus the trait for every third OCR (so some fits are strong); 10 % missing orthologs."""
    rng = np.random.default_rng(seed)
    tree = random_tree(n_species, rng)
    liability = simulate_bm(tree, 1, rng)[: tree.n_tips, 0]
    trait = (liability >= np.quantile(liability, 0.65)).astype(float) if binary else liability
    values = simulate_bm(tree, n_ocrs, rng)[: tree.n_tips].T
    values[::3] += rng.uniform(0.5, 2.0, (len(values[::3]), 1)) * (trait - trait.mean()) / trait.std()
    values[rng.random(values.shape) < 0.10] = np.nan
    return tree, values, trait


def ours(tree: Tree, values: np.ndarray, trait: np.ndarray, trait_type: str) -> pd.DataFrame:
    matrix = PredictionMatrix([f"ocr{i}" for i in range(len(values))], tree.tip_names, values)
    return associate(matrix, tree, pd.Series(trait, index=tree.tip_names),
                     AssociationSettings(trait_type=trait_type, min_species_fraction=0.0))


def test_continuous_equals_r_phylolm(rscript: str, tmp_path: Path) -> None:
    """GLS under BM is exact arithmetic: coef, SE, t and p equal phylolm's to 1e-8 relative on every OCR."""
    tree, values, trait = case(45, 40, 11, binary=False)
    r = r_fits(rscript, "lm", tree, values, trait, tmp_path)
    table = ours(tree, values, trait, "continuous")
    for column in ("coef", "se", "statistic", "pvalue"):
        np.testing.assert_allclose(table[column].to_numpy(float), r[column].to_numpy(float), rtol=1e-8,
                                   atol=1e-14, err_msg=column)


def test_binary_equals_r_phyloglm_at_convergence(rscript: str, tmp_path: Path) -> None:
    """phyloglm(method = "logistic_MPLE") run to convergence in R, on OCRs where R converged with alpha inside
    its bounds and the data has both classes:

    * the same function: our penalised log-likelihood at R's estimate equals R's ``penlogLik`` (1e-8);
    * we maximise it at least as far: our maximum is never below R's (beyond 1e-6 on 95 % of OCRs, where
      kink-separated local maxima let a climb's path decide; 1e-4 on all);
    * where R reached our maximum (within 1e-6), coef (relative to max(|coef|, SE): where the optimum is the cusp
      coef = 0, R stops a small fraction of an SE from it) and p within 1e-3 relative on >= 95 %; p never more than 0.05 off anywhere.
    R's L-BFGS-B with a finite-difference gradient still stops short on a few OCRs even at factr = 100; there
    our maximum is higher and our p is the optimum's, which is what the issue asks for.
    """
    tree, values, trait = case(40, 60, 12, binary=True)
    r = r_fits(rscript, "glm", tree, values, trait, tmp_path)
    table = ours(tree, values, trait, "binary")
    compared = same_point = 0
    close = []
    for i, row in r.iterrows():
        if row["convergence"] != 0 or row["alpha_warn"] != 0 or table["status"][i] != "ok":
            continue
        keep = [name for name, value in zip(tree.tip_names, values[i]) if not np.isnan(value)]
        sub = tree.keep_tips(keep)
        order = [tree.tip_names.index(name) for name in sub.tip_names]
        x, y = values[i, order], trait[order]
        geom = phyloglm.tree_geometry(sub)
        fit = phyloglm.fit_phyloglm(geom, x, y)
        assert fit.coef == pytest.approx(table["coef"][i], rel=1e-12, abs=1e-300)  # associate's fit is this one
        at_r, _, _ = phyloglm.penalised_loglik(geom, np.column_stack([np.ones(len(x)), x]), y,
                                            np.array([row["intercept"], row["coef"]]), row["alpha"])
        assert at_r == pytest.approx(row["penloglik"], rel=1e-8), f"OCR {i}: not the same likelihood as R's"
        gap = fit.penalised_loglik - row["penloglik"]
        compared += 1
        assert gap >= -1e-4, f"OCR {i}: our maximum is {-gap:.2e} below R's"
        assert abs(fit.pvalue - row["pvalue"]) <= 0.05
        if abs(gap) <= 1e-6:
            same_point += 1
            close.append(abs(fit.coef - row["coef"]) <= 1e-3 * max(abs(row["coef"]), row["se"])
                         and abs(fit.pvalue - row["pvalue"]) <= 1e-3 * row["pvalue"])
        else:
            close.append(gap > 0)  # R stopped short of our (higher) maximum
    assert compared >= 30, f"only {compared} of {len(r)} fits are usable references"
    assert same_point >= 0.8 * compared
    assert np.mean(close) >= 0.95, f"{len(close) - sum(close)} of {compared} fits differ from R's"
