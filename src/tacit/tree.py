"""Rooted phylogenies with branch lengths: Newick in and out, pruning, and Brownian-motion simulation.

A :class:`Tree` stores nodes in flat numpy arrays. Tips are nodes ``0 .. n_tips-1`` (in the order they appear
in the Newick text); internal nodes follow. Branch lengths are in the tree's own units (for Zoonomia,
substitutions per site); BM variances are ``sigma2 * length``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

from .errors import InputError

_TOKEN = re.compile(r"\s*(\(|\)|,|;|:|\[[^\]]*\]|'(?:[^']|'')*'|[^\s(),:;\[\]']+)")


@dataclass
class Tree:
    """A rooted tree.

    Attributes
    ----------
    parent
        ``(n_nodes,)`` int array, parent of each node; ``-1`` at the root.
    length
        ``(n_nodes,)`` float array, length of the branch above each node; 0 at the root.
    names
        Label of every node (tips: species names; internal nodes: label or ``""``).
    n_tips
        Number of tips; tips are nodes ``0 .. n_tips-1``.
    """

    parent: np.ndarray
    length: np.ndarray
    names: list[str]
    n_tips: int
    children: list[list[int]] = field(init=False, repr=False)
    root: int = field(init=False)

    def __post_init__(self) -> None:
        self.children = [[] for _ in range(len(self.parent))]
        roots = []
        for node, par in enumerate(self.parent.tolist()):
            if par < 0:
                roots.append(node)
            else:
                self.children[par].append(node)
        if len(roots) != 1:
            raise ValueError(f"a tree needs exactly one root, found {len(roots)}")
        self.root = roots[0]

    @property
    def n_nodes(self) -> int:
        return len(self.parent)

    @property
    def tip_names(self) -> list[str]:
        return self.names[: self.n_tips]

    def preorder(self) -> np.ndarray:
        """Node ids with every parent before its children (root first)."""
        order = [self.root]
        i = 0
        while i < len(order):
            order.extend(self.children[order[i]])
            i += 1
        return np.asarray(order, dtype=np.int64)

    def postorder(self) -> np.ndarray:
        """Node ids with every child before its parent (root last)."""
        return self.preorder()[::-1].copy()

    def depths(self) -> np.ndarray:
        """Distance from the root to every node, ``(n_nodes,)``."""
        depth = [0.0] * self.n_nodes
        parent = self.parent.tolist()
        length = self.length.tolist()
        for node in self.preorder()[1:].tolist():
            depth[node] = depth[parent[node]] + length[node]
        return np.asarray(depth, dtype=float)

    # ------------------------------------------------------------------ I/O
    @classmethod
    def from_newick(cls, text: str, path: str | Path | None = None) -> "Tree":
        """Parse one Newick tree. Every branch but the root's must have a length.

        Raises
        ------
        InputError
            Unparseable text, a branch without length, a negative length, or duplicate tip names.
        """
        return _parse_newick(text, path)

    def to_newick(self, digits: int = 10) -> str:
        """Newick text with branch lengths written with ``digits`` significant digits."""

        def render(node: int) -> str:
            kids = self.children[node]
            label = self.names[node]
            inner = "(" + ",".join(render(c) for c in kids) + ")" if kids else ""
            text = inner + label
            if node != self.root:
                text += ":" + format(float(self.length[node]), f".{digits}g")
            return text

        return render(self.root) + ";"

    # --------------------------------------------------------------- pruning
    def keep_tips(self, names: Iterable[str]) -> "Tree":
        """The subtree spanning ``names``; nodes left with one child are removed, lengths merged.

        Tip order of the result follows this tree's tip order. Unknown names raise ``KeyError``.
        """
        index = {n: i for i, n in enumerate(self.tip_names)}
        parent = self.parent.tolist()
        length = self.length.tolist()
        # Python lists throughout: indexing numpy arrays one element at a time costs more than the walk.
        keep = [False] * self.n_nodes
        for name in names:
            node = index[name]
            while node >= 0 and not keep[node]:  # the tip and its ancestors up to one already kept
                keep[node] = True
                node = parent[node]
        if not any(keep):
            raise ValueError("keep_tips needs at least one tip")
        kept_children = [[c for c in kids if keep[c]] if keep[node] else [] for node, kids in enumerate(self.children)]
        # Walk down from the root; collapse nodes with a single kept child.
        new_parent: list[int] = []
        new_length: list[float] = []
        new_names: list[str] = []
        old_to_new: dict[int, int] = {}
        tips = [i for i in range(self.n_tips) if keep[i]]
        for t in tips:
            old_to_new[t] = len(new_parent)
            new_parent.append(-1)
            new_length.append(0.0)
            new_names.append(self.names[t])

        n_tips = self.n_tips
        root = self.root
        while root >= n_tips and len(kept_children[root]) == 1:
            root = kept_children[root][0]
        stack = [(root, -1, 0.0)]
        while stack:
            node, par_new, extra = stack.pop()
            kids = kept_children[node]
            if node >= n_tips and len(kids) == 1:
                stack.append((kids[0], par_new, extra + length[kids[0]]))
                continue
            if node < n_tips:
                new_id = old_to_new[node]
            else:
                new_id = len(new_parent)
                new_parent.append(-1)
                new_length.append(0.0)
                new_names.append(self.names[node])
            new_parent[new_id] = par_new
            new_length[new_id] = extra if par_new >= 0 else 0.0
            for c in reversed(kids):
                stack.append((c, new_id, length[c]))
        return Tree(np.asarray(new_parent), np.asarray(new_length, dtype=float), new_names, len(tips))


def read_tree(path: str | Path) -> Tree:
    """Read the first Newick tree of ``path`` (see :meth:`Tree.from_newick`)."""
    p = Path(path)
    if not p.exists():
        raise InputError("tree file not found", p)
    text = p.read_text(encoding="utf-8")
    if not text.strip():
        raise InputError("tree file is empty; expected a Newick tree", p)
    return Tree.from_newick(text, p)


def _parse_newick(text: str, path: str | Path | None) -> Tree:
    where = path if path is not None else "<newick>"
    tokens: list[tuple[str, int]] = []
    offset = 0
    while offset < len(text):
        match = _TOKEN.match(text, offset)
        if match is None:
            if text[offset:].strip():
                raise InputError(f"cannot parse Newick at character {offset + 1}: {text[offset:offset + 20]!r}", where)
            break
        if not match.group(1).startswith("["):
            tokens.append((match.group(1), match.start(1)))
        offset = match.end()
    parents: list[int] = []
    lengths: list[float | None] = []
    labels: list[str] = []
    is_tip: list[bool] = []
    stack: list[int] = []
    current = -1
    expecting_node = True
    pos = 0

    def new_node(par: int, tip: bool) -> int:
        parents.append(par)
        lengths.append(None)
        labels.append("")
        is_tip.append(tip)
        return len(parents) - 1

    def fail(msg: str, offset: int) -> InputError:
        return InputError(f"cannot parse Newick at character {offset + 1}: {msg}", where)

    i = 0
    while i < len(tokens):
        tok, pos = tokens[i]
        if tok == "(":
            node = new_node(stack[-1] if stack else -1, False)
            stack.append(node)
            expecting_node = True
        elif tok == ",":
            if not stack:
                raise fail("',' outside parentheses", pos)
            expecting_node = True
        elif tok == ")":
            if not stack:
                raise fail("unbalanced ')'", pos)
            current = stack.pop()
            expecting_node = False
        elif tok == ":":
            if i + 1 >= len(tokens):
                raise fail("':' without a branch length", pos)
            value, vpos = tokens[i + 1]
            try:
                lengths[current] = float(value)
            except (ValueError, IndexError):
                raise fail(f"branch length {value!r} is not a number", vpos) from None
            i += 1
        elif tok == ";":
            break
        else:  # a label
            label = tok[1:-1].replace("''", "'") if tok.startswith("'") else tok
            if expecting_node:
                current = new_node(stack[-1] if stack else -1, True)
                expecting_node = False
            labels[current] = label
        i += 1
    else:
        if tokens:
            raise fail("missing ';' at the end of the tree", len(text) - 1)
    if stack:
        raise fail("unbalanced '('", pos)
    if not parents:
        raise InputError("no tree found", where)
    return _finish(parents, lengths, labels, is_tip, where)


def _finish(parents: list[int], lengths: list[float | None], labels: list[str], is_tip: list[bool], where: object) -> Tree:
    n = len(parents)
    tips = [i for i in range(n) if is_tip[i]]
    internal = [i for i in range(n) if not is_tip[i]]
    order = tips + internal
    remap = {old: new for new, old in enumerate(order)}
    names = [labels[i] for i in order]
    tip_names = names[: len(tips)]
    seen: set[str] = set()
    for name in tip_names:
        if not name:
            raise InputError("a tip has no name", where)
        if name in seen:
            raise InputError(f"tip {name!r} appears twice", where)
        seen.add(name)
    parent = np.array([remap[parents[i]] if parents[i] >= 0 else -1 for i in order], dtype=np.int64)
    length = np.zeros(n)
    for new, old in enumerate(order):
        if parents[old] < 0:
            continue
        value = lengths[old]
        label = names[new] or "an internal node"
        if value is None:
            raise InputError(f"branch above {label} has no length; a tree with branch lengths is required", where)
        if not np.isfinite(value) or value < 0:
            raise InputError(f"branch above {label} has length {value}; lengths must be finite and >= 0", where)
        length[new] = value
    return Tree(parent, length, names, len(tips))


def simulate_bm(tree: Tree, n: int, rng: np.random.Generator, sigma2: float = 1.0) -> np.ndarray:
    """Simulate ``n`` independent Brownian-motion traits on ``tree``, root value 0.

    Returns
    -------
    np.ndarray
        ``(n_nodes, n)`` values at every node; rows follow the tree's node ids (tips first).
    """
    values = np.zeros((tree.n_nodes, n))
    noise = rng.standard_normal((tree.n_nodes, n))
    scale = np.sqrt(sigma2 * tree.length)
    for node in tree.preorder()[1:]:
        values[node] = values[tree.parent[node]] + scale[node] * noise[node]
    return values


def tip_covariance(tree: Tree, tips: Sequence[int] | None = None) -> np.ndarray:
    """BM covariance of tips (shared path length from the root), ``(k, k)`` for ``tips`` (default all).

    Dense and O(n^2): for tests and small trees; the regression code never forms it.
    """
    tips = list(range(tree.n_tips)) if tips is None else list(tips)
    depth = tree.depths()
    ancestors = []
    for t in tips:
        path = set()
        node = t
        while node >= 0:
            path.add(node)
            node = int(tree.parent[node])
        ancestors.append(path)
    cov = np.zeros((len(tips), len(tips)))
    for a in range(len(tips)):
        for b in range(a, len(tips)):
            shared = ancestors[a] & ancestors[b]
            cov[a, b] = cov[b, a] = max(depth[node] for node in shared)
    return cov
