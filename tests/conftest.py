"""Shared fixtures: paths to the repository, its test data and the optional ../shared reference data."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tacit.tree import Tree

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "tests" / "data"
SHARED = ROOT.parent / "shared"


def shared_path(*parts: str) -> Path:
    """A path under ../shared; skips the test with a message when it is absent (users do not have it)."""
    path = SHARED.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"reference data {path} not present (only in the project's development checkout)")
    return path


def multifurcating_tree(n: int, rng: np.random.Generator) -> Tree:
    """Random tree whose internal nodes have 2-4 children, a quarter of the internal branches of length 0."""
    nodes = [f"t{i}" for i in range(n)]
    while len(nodes) > 1:
        take = min(len(nodes), int(rng.integers(2, 5)))
        picked = sorted(rng.choice(len(nodes), size=take, replace=False), reverse=True)
        kids = [nodes.pop(i) for i in picked]
        inner = ",".join(f"{k}:{(0.0 if k.startswith('(') and rng.random() < 0.25 else rng.exponential(0.3)):.6f}"
                         for k in kids)
        nodes.append(f"({inner})")
    return Tree.from_newick(nodes[0] + ";")
