"""Permulations: rank assignment, determinism, chunk independence and calibration under the null."""

import threading
import time

import numba
import numpy as np
import pandas as pd
import pytest

from tacit.association import AssociationSettings, associate
from tacit.errors import InputError
from tacit.permulation import PermulationSource, assign_by_order, assign_by_rank, blocks_ahead, round_targets
from tacit.tables import PredictionMatrix
from tacit.tree import Tree, read_tree, simulate_bm

from conftest import shared_path


def test_assign_by_rank_gives_real_values_by_simulated_rank():
    simulated = np.array([[0.3, -1.0], [2.0, 0.5], [-0.5, 0.1]])
    real = np.array([10.0, 30.0, 20.0])
    out = assign_by_rank(simulated, real)
    # column 0: ranks (species 2 < 0 < 1) -> 10, 20, 30 by rank
    assert out[:, 0].tolist() == [20.0, 30.0, 10.0]
    assert out[:, 1].tolist() == [10.0, 30.0, 20.0]
    assert sorted(out[:, 0]) == sorted(real)


def test_permulations_differ_from_each_other():
    tree = Tree.from_newick("((A:1,B:1):1,(C:1,(D:1,E:1):0.5):1);")
    draws = next(PermulationSource(tree, seed=3).draws(0, 50))[2]
    out = assign_by_rank(draws, np.arange(5.0))
    assert len({tuple(col) for col in out.T}) > 10


def test_draws_are_addressed_by_index_not_by_request():
    tree = Tree.from_newick("((A:1,B:1):1,(C:1,(D:1,E:1):0.5):1);")
    a = PermulationSource(tree, seed=7)
    whole = np.concatenate([piece for _, _, piece in a.draws(0, 2500)], axis=1)
    b = PermulationSource(tree, seed=7)
    parts = [piece for start, stop in [(0, 700), (700, 1900), (1900, 2500)] for _, _, piece in b.draws(start, stop)]
    np.testing.assert_array_equal(whole, np.concatenate(parts, axis=1))


def test_blocks_drawn_ahead_equal_blocks_drawn_in_place(monkeypatch):
    """A block drawn ahead (PermulationSource.prefetch, on the drawing thread) is the block the caller would
    draw, is drawn once, and orders() draws the next block ahead while the caller works on one; an error on
    the drawing thread reaches the caller."""
    tree = Tree.from_newick("(((A:1,B:1):1,(C:1,D:2):0.5):1,((E:1,F:1):2,(G:1,H:1):1):1);")
    plain = PermulationSource(tree, seed=5)
    ahead = PermulationSource(tree, seed=5)
    drawn: list[tuple[int, str]] = []
    real = ahead._simulate

    def simulate(index: int) -> np.ndarray:
        drawn.append((index, threading.current_thread().name))
        if index == 7:
            raise MemoryError("no room for block 7")
        return real(index)

    monkeypatch.setattr(ahead, "_simulate", simulate)
    monkeypatch.setattr("tacit.permulation.blocks_ahead", lambda: 2)  # as with --threads 2 or more
    ahead.prefetch(2)
    ahead.prefetch(2)
    np.testing.assert_array_equal(ahead.ranks(2), plain.ranks(2))
    np.testing.assert_array_equal(ahead.block(2), plain.block(2))
    ahead.prefetch(2)  # already there: not drawn again
    got = [(start, stop, order) for start, stop, order in ahead.orders(0, 3500)]
    want = [(start, stop, order) for start, stop, order in plain.orders(0, 3500)]
    assert [g[:2] for g in got] == [w[:2] for w in want] == [(0, 1000), (1000, 2000), (2000, 3000), (3000, 3500)]
    for g, w in zip(got, want):
        np.testing.assert_array_equal(g[2], w[2])
    assert sorted(index for index, _ in drawn) == [0, 1, 2, 3]  # each block once
    by_thread = dict(drawn)
    assert by_thread[0] == threading.current_thread().name  # the first is drawn by the caller, the rest ahead
    assert all(by_thread[i].startswith("tacit-draws") for i in (1, 2, 3))
    ahead.prefetch(7)
    with pytest.raises(MemoryError, match="block 7"):
        ahead.block(7)
    assert not ahead._ahead


def test_one_thread_draws_nothing_ahead():
    """--threads 1 (numba's setting for the calling thread): every block is drawn by the caller, in order."""
    tree = Tree.from_newick("(((A:1,B:1):1,(C:1,D:2):0.5):1,((E:1,F:1):2,(G:1,H:1):1):1);")
    source = PermulationSource(tree, seed=5)
    drawn: list[tuple[int, str]] = []
    real = source._simulate
    source._simulate = lambda index: drawn.append((index, threading.current_thread().name)) or real(index)
    before = numba.get_num_threads()
    numba.set_num_threads(1)
    try:
        assert blocks_ahead() == 0
        pieces = [start for start, _, _ in source.orders(0, 3500)]
    finally:
        numba.set_num_threads(before)
    assert pieces == [0, 1000, 2000, 3000]
    assert drawn == [(i, threading.current_thread().name) for i in range(4)]


def test_share_out_does_each_item_once_on_several_threads_and_raises_a_parts_error():
    from tacit.permulation import share_out

    done: list[tuple[int, str]] = []
    barrier = threading.Barrier(2, timeout=10)  # two parts must run at once to pass it

    def work(item: int) -> None:
        if item < 2:
            barrier.wait()
        done.append((item, threading.current_thread().name))

    share_out(work, list(range(20)), threads=3)
    assert sorted(item for item, _ in done) == list(range(20))
    assert len({name for _, name in done}) >= 2

    finished: list[int] = []

    def failing(item: int) -> None:
        if item == 13:
            raise ValueError("item 13")
        time.sleep(0.001)
        finished.append(item)

    with pytest.raises(ValueError, match="item 13"):
        share_out(failing, list(range(20)), threads=3)
    count = len(finished)
    time.sleep(0.05)
    assert len(finished) == count  # every part had stopped when share_out raised


def test_round_targets():
    assert round_targets(100, 10_000) == [100, 1000, 10_000]
    assert round_targets(100, 100) == [100]
    assert round_targets(300, 5000) == [300, 3000, 5000]
    assert round_targets(0, 100) == []


def _null_case(tree, n_ocr, seed):
    rng = np.random.default_rng(seed)
    act = simulate_bm(tree, n_ocr, rng)[: tree.n_tips].T
    act[rng.random(act.shape) < 0.15] = np.nan  # missing orthologs
    trait = pd.Series(simulate_bm(tree, 1, rng)[: tree.n_tips, 0], index=tree.tip_names)
    return PredictionMatrix([f"ocr{i}" for i in range(n_ocr)], tree.tip_names, act), trait


def test_same_seed_same_table_whatever_the_chunking():
    tree = Tree.from_newick("(((A:1,B:1):1,(C:1,D:2):0.5):1,((E:1,F:1):2,(G:1,H:1):1):1);")
    matrix, trait = _null_case(tree, 30, 1)
    settings = AssociationSettings(permulations=50, max_permulations=500, seed=11)
    whole = associate(matrix, tree, trait, settings)
    halves = [
        associate(PredictionMatrix(matrix.ocrs[s], matrix.species, matrix.values[s]), tree, trait, settings)
        for s in (slice(0, 13), slice(13, 30))
    ]
    joined = pd.concat(halves, ignore_index=True)
    cols = ["ocr", "coef", "pvalue", "perm_pvalue", "perm_trials"]
    pd.testing.assert_frame_equal(whole[cols], joined[cols])


@pytest.mark.parametrize("trait_type", ["continuous", "binary"])
def test_unknown_trait_values_are_dropped_like_missing_species(trait_type):
    # pandas reads NA (and empty cells) as NaN: through the Python API such species must be left out, as the
    # command line's phenotype reader leaves them out, not fitted with a NaN response.
    tree = Tree.from_newick("(((A:1,B:1):1,(C:1,D:2):0.5):1,(((E:1,F:1):2,(G:1,H:1):1):1,(I:1,(J:1,K:0.5):1):2):0.5);")
    matrix, trait = _null_case(tree, 12, 4)
    if trait_type == "binary":
        trait = (trait > trait.median()).astype(float)
    settings = AssociationSettings(trait_type=trait_type, permulations=20, max_permulations=20, seed=3)
    unknown = ["C", "H"]
    with_nan = trait.copy()
    with_nan[unknown] = np.nan
    cols = ["ocr", "n_species", "coef", "pvalue", "perm_pvalue", "perm_trials", "status"]
    expected = associate(matrix, tree, trait.drop(unknown), settings)[cols]
    assert expected["n_species"].max() <= len(tree.tip_names) - len(unknown)
    assert expected["status"].isin(["ok", "alpha_at_bound"]).sum() >= 6  # the comparison covers fitted OCRs
    pd.testing.assert_frame_equal(associate(matrix, tree, with_nan, settings)[cols], expected)


def test_bad_trait_values_through_the_api_name_the_species():
    tree = Tree.from_newick("(((A:1,B:1):1,(C:1,D:2):0.5):1,((E:1,F:1):2,(G:1,H:1):1):1);")
    matrix, trait = _null_case(tree, 3, 5)
    binary = pd.Series([0, 1, 0, 1, 2, 0, 1, 0], index=tree.tip_names, dtype=float, name="social")
    with pytest.raises(InputError, match=r"binary trait 'social' must be 0 or 1, found 2 for E"):
        associate(matrix, tree, binary, AssociationSettings(trait_type="binary", permulations=0))
    text = trait.astype(object)
    text["B"] = "large"
    with pytest.raises(InputError, match="must be numeric, found 'large' for B"):
        associate(matrix, tree, text, AssociationSettings(permulations=0))


def test_null_calibration_on_zoonomia_tree():
    """Issue 3: on BM null OCRs on the 241-species tree, P(p < 0.05) stays within 0.03-0.07."""
    tree = read_tree(shared_path("data", "zoonomia", "zoonomia_241.nwk"))
    matrix, trait = _null_case(tree, 1500, 2023)
    table = associate(matrix, tree, trait, AssociationSettings(permulations=200, seed=5))
    assert (table["status"] == "ok").all()
    # 1,500 OCRs: binomial SD of a 5 % rate is 0.6 %, so the 3-7 % band is > 3 SD wide on each side.
    for column in ("pvalue", "perm_pvalue"):
        rate = float((table[column] < 0.05).mean())
        assert 0.03 <= rate <= 0.07, (column, rate)


def test_planted_association_is_found():
    tree = Tree.from_newick("(((A:1,B:1):1,(C:1,D:2):0.5):1,((E:1,F:1):2,(G:1,H:1):1):1,((I:1,J:1):1,(K:1,L:1):1):1);")
    rng = np.random.default_rng(4)
    trait_nodes = simulate_bm(tree, 1, rng)[:, 0]
    trait = pd.Series(trait_nodes[: tree.n_tips], index=tree.tip_names)
    act = trait.to_numpy() * 0.8 + 0.05 * simulate_bm(tree, 1, rng)[: tree.n_tips, 0]
    matrix = PredictionMatrix(["planted"], tree.tip_names, act[None, :])
    table = associate(matrix, tree, trait, AssociationSettings(permulations=100, max_permulations=10_000, seed=1))
    row = table.iloc[0]
    assert row["pvalue"] < 1e-4
    assert row["perm_pvalue"] < 0.01
    assert row["perm_trials"] == 10_000  # kept going: no permulation was as extreme


def test_assign_by_order_equals_assign_by_rank_on_subsets():
    tree = Tree.from_newick("(((A:1,B:1):1,(C:1,D:2):0.5):1,((E:1,F:1):2,(G:1,H:1):1):1);")
    source = PermulationSource(tree, seed=2)
    (_, _, draws), (_, _, order) = next(source.draws(0, 300)), next(source.orders(0, 300))
    present = np.array([True, False, True, True, False, True, True, True])
    real = np.array([3.0, 1.0, 4.0, 1.5, 9.0, 2.6])
    np.testing.assert_array_equal(assign_by_order(order, present, real), assign_by_rank(draws[present], real))


def _dense_t(tree: Tree, present: np.ndarray, y: np.ndarray, design: np.ndarray) -> tuple[float, float]:
    """Slope (column 1 of ``design``) and its t by dense GLS: an independent per-fit reference."""
    from tacit.tree import tip_covariance

    chol = np.linalg.cholesky(tip_covariance(tree, np.flatnonzero(present)))
    xw, yw = np.linalg.solve(chol, design), np.linalg.solve(chol, y)
    beta, *_ = np.linalg.lstsq(xw, yw, rcond=None)
    resid = yw - xw @ beta
    se = np.sqrt(resid @ resid / (len(y) - design.shape[1]) * np.linalg.inv(xw.T @ xw)[1, 1])
    return beta[1], beta[1] / se


@pytest.mark.parametrize("perm_test", ["conditional", "two-sided"])
@pytest.mark.parametrize("with_covariate", [False, True])
def test_permulation_counts_equal_a_per_fit_loop(perm_test, with_covariate):
    """The compiled loop (one pass per species set and block of permulations) counts exactly what fitting
    every OCR on every permulated trait one at a time by dense GLS counts."""
    rng = np.random.default_rng(8)
    names = [f"S{i}" for i in range(26)]
    nodes = [f"{n}:{rng.uniform(0.2, 1):.3f}" for n in names]
    while len(nodes) > 1:
        i, j = sorted(rng.choice(len(nodes), 2, replace=False))
        b, a = nodes.pop(j), nodes.pop(i)
        nodes.append(f"({a},{b}):{rng.uniform(0.1, 1):.3f}")
    tree = Tree.from_newick(nodes[0].rsplit(":", 1)[0] + ";")
    trait_values = simulate_bm(tree, 1, rng)[: tree.n_tips, 0]
    values = rng.random((10, tree.n_tips)) + 0.5 * trait_values[None, :]
    values[rng.random(values.shape) < 0.2] = np.nan
    values[:3, :] = values[3]  # three OCRs share a species set (and their activity): one batch
    matrix = PredictionMatrix([f"o{i}" for i in range(10)], tree.tip_names, values)
    trait = pd.Series(trait_values, index=tree.tip_names)
    covariates = pd.DataFrame({"mass": rng.normal(size=tree.n_tips)}, index=tree.tip_names) if with_covariate else None
    settings = AssociationSettings(permulations=300, seed=5, perm_test=perm_test, min_species_fraction=0.5)
    table = associate(matrix, tree, trait, settings, covariates)

    sub = tree.keep_tips(tree.tip_names)  # the analysis tree (all species are common here)
    column = [tree.tip_names.index(s) for s in sub.tip_names]
    source = PermulationSource(sub, settings.seed)
    sims = np.concatenate([piece for _, _, piece in source.draws(0, 300)], axis=1)
    y_all = trait_values[column]
    cov_all = None if covariates is None else covariates["mass"].to_numpy()[column]
    for i in range(len(matrix.ocrs)):
        x_all = values[i, column]
        present = np.isfinite(x_all)
        design = np.column_stack([np.ones(present.sum()), x_all[present]]
                                 + ([] if cov_all is None else [cov_all[present]]))
        coef, t_obs = _dense_t(sub, present, y_all[present], design)
        assert table.loc[i, "coef"] == pytest.approx(coef, rel=1e-9)  # same fit, rounding only
        permuted = assign_by_rank(sims[present], y_all[present])
        exceed = counted = 0
        for j in range(300):
            b, t = _dense_t(sub, present, permuted[:, j], design)
            if perm_test == "conditional" and np.sign(b) != np.sign(coef):
                continue
            counted += 1
            exceed += abs(t) >= abs(t_obs) * (1 - 1e-9)
        assert table.loc[i, "perm_trials"] == 300
        assert table.loc[i, "perm_pvalue"] == (1 + exceed) / (1 + counted), matrix.ocrs[i]
