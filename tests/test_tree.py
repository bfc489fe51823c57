import numpy as np
import pytest

from tacit.errors import InputError
from tacit.tree import Tree, read_tree, simulate_bm, tip_covariance

from conftest import multifurcating_tree, shared_path

NEWICK = "((A:1,B:2):0.5,(C:1,(D:1,E:1)x:0.2):1);"


def test_parse_and_write_round_trip():
    tree = Tree.from_newick(NEWICK)
    assert tree.tip_names == ["A", "B", "C", "D", "E"]
    assert Tree.from_newick(tree.to_newick()).to_newick() == tree.to_newick()
    assert tree.to_newick() == NEWICK


def test_keep_tips_merges_single_child_branches():
    tree = Tree.from_newick(NEWICK).keep_tips(["A", "C", "D"])
    assert tree.to_newick() == "(A:1.5,(C:1,D:1.2):1);"


def test_keep_tips_on_random_trees_keeps_shared_path_lengths():
    # Pruning must keep every pair's shared path (BM covariance), leave no node with one child and keep the
    # tips in the full tree's order, for any subset, including ones that drop a whole side of the root, on
    # trees with polytomies and zero-length branches.
    rng = np.random.default_rng(2)
    for case in range(30):
        n = int(rng.integers(3, 60))
        tree = multifurcating_tree(n, rng)
        keep = [name for name in tree.tip_names if rng.random() < rng.uniform(0.2, 1.0)] or tree.tip_names[:1]
        sub = tree.keep_tips(keep)
        assert sub.tip_names == keep, case
        assert all(len(kids) != 1 for kids in sub.children), case
        if len(keep) < 2:
            continue
        idx = [tree.tip_names.index(name) for name in keep]
        full = tip_covariance(tree)[np.ix_(idx, idx)]
        # The new root is the kept tips' most recent common ancestor (as ape's drop.tip: no root edge), so
        # paths are measured from there: less its depth, the smallest shared path of any pair.
        np.testing.assert_allclose(tip_covariance(sub), full - full.min(), rtol=1e-12, atol=1e-12, err_msg=str(case))


def test_covariance_is_shared_path_length():
    cov = tip_covariance(Tree.from_newick(NEWICK))
    assert cov[3, 4] == pytest.approx(1.2)  # D and E share root->(C,(D,E)) 1 + 0.2
    assert cov[0, 0] == pytest.approx(1.5)
    assert cov[0, 2] == 0


def test_bm_simulation_has_the_tree_covariance():
    tree = Tree.from_newick(NEWICK)
    tips = simulate_bm(tree, 200_000, np.random.default_rng(0))[: tree.n_tips]
    # 200k draws: sampling error of a covariance entry ~ 2/sqrt(2e5) ~ 0.005, so 0.03 is a safe bound.
    assert np.allclose(np.cov(tips), tip_covariance(tree), atol=0.03)


@pytest.mark.parametrize(
    "text, message",
    [
        ("((A:1,B:1):1,C:1", "missing ';'"),
        ("((A:1,B:1):1,C);", "has no length"),
        ("((A:1,B:-1):1,C:1);", "lengths must be finite and >= 0"),
        ("((A:1,A:1):1,C:1);", "appears twice"),
        ("((A:1,B:x):1,C:1);", "not a number"),
        ("((A:1,B:1):1,C:1));", "unbalanced"),
    ],
)
def test_bad_trees_raise_input_error(text, message, tmp_path):
    path = tmp_path / "bad.nwk"
    path.write_text(text)
    with pytest.raises(InputError, match=message) as err:
        read_tree(path)
    assert str(path) in str(err.value)


def test_zoonomia_tree_reads():
    tree = read_tree(shared_path("data", "zoonomia", "zoonomia_241.nwk"))
    assert tree.n_tips == 241
    assert "Homo_sapiens" in tree.tip_names
