"""A simulated comparative-genomics data set in which some enhancers' activity co-evolves with a trait.

The data are small but every stage of the workflow does real work on them:

* a random (Yule) species tree with branch lengths in substitutions per neutral site;
* loci: a 400-bp core with four slots for a 10-bp motif (:data:`MOTIF`) at centre offsets
  :data:`SLOT_OFFSETS`, flanked by 50 bp, separated by random spacer DNA. A locus's activity in a species is the
  number of motif copies it carries, ``c = clip(round(latent), 0, 4)``, where the latent activity evolves by
  Brownian motion (BM) along the tree: independently of the traits for most loci, following a trait for the
  planted ones (see :func:`motif_counts`);
* reference open chromatin: a locus is open in the reference species with probability :data:`P_OPEN` ``[c]``,
  so the CNN has a graded response to learn; open loci are the peaks, closed loci and spacer are negatives;
* sequence evolution along the tree (point substitutions at 0.12 x the neutral rate, as for constrained
  elements), small indels outside the motif slots, loci lost in some species, other species' loci on
  scaffolds, some of them inverted;
* a MAF alignment (one block per locus, a few split in two) with the reference row first, as UCSC multiz;
* the same alignment as one UCSC chain file per species (reference = target), written last and without
  random numbers, so adding it changed no other file;
* the tissue's OCRs in one more species, from its own motif copies, on a random stream of its own (adding
  them changed no other data file).

Everything is drawn from ``numpy.random.default_rng([seed, stream])`` with one stream per component, and every
file is written in a fixed order (gzip without timestamps), so a seed always gives the same bytes.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .io import atomic_writer
from .tree import Tree, simulate_bm


MOTIF = "GGGACTTTCC"  # NF-kB-like 10-mer; not its own reverse complement and without self-overlap
MOTIF_RC = "GGAAAGTCCC"
FLANK, CORE = 50, 400
BLOCK = CORE + 2 * FLANK  # reference bases of one locus's alignment block
CENTRE = FLANK + CORE // 2  # block offset of the locus centre
SLOT_OFFSETS = (-95, -35, 25, 85)  # motif slot starts relative to the locus centre
MAX_COPIES = len(SLOT_OFFSETS)
P_OPEN = (0.03, 0.25, 0.6, 0.85, 0.95)  # P(open in the reference | motif copies)
P_OPEN_TISSUE2 = (0.02, 0.2, 0.5, 0.8, 0.9)
REFERENCE = "Simia_referens"
CHROMS = ("chr1", "chr2", "chr3", "chr4", "chr5", "chr6")
CHROM_WEIGHTS = (1.2, 1.1, 1.0, 1.0, 0.9, 0.8)
TRAITS = ("brain_size", "social")
TREE_HEIGHT = 0.3  # substitutions per neutral site, root to tip
LOCUS_RATE = 0.12  # loci evolve at this fraction of the neutral rate (constrained elements)
NULL_SD, NOISE_SD = 1.0, 0.3  # root-to-tip sd of latent activity: loci not planted, and noise on planted ones
GAP = 8
_LETTERS = np.frombuffer(b"ACGTacgt-", dtype=np.uint8)
_COMPLEMENT = np.array([3, 2, 1, 0, 7, 6, 5, 4, GAP], dtype=np.uint8)
_SLOT_STARTS = np.array([CENTRE + s for s in SLOT_OFFSETS])
_MOTIF_CODES = np.frombuffer(MOTIF.encode().translate(bytes.maketrans(b"ACGT", b"\0\1\2\3")), dtype=np.uint8)
_MOTIF_RE = re.compile(f"(?=({MOTIF}|{MOTIF_RC}))")

_GENERA = ("Ala", "Brady", "Cali", "Dasy", "Eri", "Feli", "Galo", "Hylo", "Icti", "Lago", "Mega", "Nycti",
           "Oryc", "Pero", "Rhino", "Sora", "Tama", "Urso", "Vespe", "Xeno", "Zapo", "Micro", "Cteno", "Petro",
           "Sylvi", "Thryo", "Neo", "Proto")
_GENUS_ENDINGS = ("mys", "therium", "cyon", "lagus", "don", "phus", "gale", "sorex", "lestes", "bates", "ctis", "nyx")
_EPITHETS = ("agilis", "borealis", "cinereus", "dentatus", "elegans", "fuscus", "gracilis", "hirsutus",
             "insularis", "longicaudus", "montanus", "nanus", "occidentalis", "pallidus", "rufus", "silvestris",
             "tenuis", "umbrosus", "variegatus", "vulgaris", "minor", "major", "robustus", "orientalis",
             "australis", "fulvus", "niger", "albus", "crassus", "brevirostris", "macrotis", "paludosus")


@dataclass(frozen=True)
class Preset:
    """Size of a simulated data set."""

    n_species: int
    n_loci: int
    n_planted: dict[str, int]
    description: str


PRESETS = {
    "demo": Preset(38, 1200, {"brain_size": 50, "social": 30}, "the embedded demo (resources/demo)"),
    "small": Preset(24, 400, {"brain_size": 20, "social": 12}, "end-to-end workflow tests"),
}


def rng_for(seed: int, stream: str) -> np.random.Generator:
    """An independent generator per component, so changing one component leaves the others' draws alone."""
    return np.random.default_rng([seed, sum(ord(ch) * 31**i for i, ch in enumerate(stream)) % 2**32])


# ---------------------------------------------------------------------------------------------- tree and traits
def species_names(n: int, rng: np.random.Generator) -> list[str]:
    """``n`` unique invented ``Genus_species`` names; the first is :data:`REFERENCE`.

    Neighbours in the list share their genus now and then (they are usually sister species in the tree).
    """
    names, used = [REFERENCE], {REFERENCE}
    genus = REFERENCE.split("_")[0]
    while len(names) < n:
        if rng.random() > 0.35:
            genus = str(rng.choice(_GENERA)) + str(rng.choice(_GENUS_ENDINGS))
        name = f"{genus}_{rng.choice(_EPITHETS)}"
        if name not in used:
            names.append(name)
            used.add(name)
    return names


def random_tree(n: int, rng: np.random.Generator, height: float = TREE_HEIGHT) -> Tree:
    """A Yule (pure-birth) tree with ``n`` tips, root-to-tip ``height``, terminal branches jittered by +-15 %.

    Split times are compressed into the older 95 % of the height, so no species pair is closer than 5 %.

    Tips are named by :func:`species_names` in Newick order, so the reference is tip 0. Branch lengths are
    rounded to 1e-6 and the tree is returned as parsed back from its Newick text, so the simulation uses
    exactly the written tree.
    """
    lineages = list(range(n))
    parent = [-1] * n
    node_height = [0.0] * n
    t = 0.0
    while len(lineages) > 1:
        t += rng.exponential(1.0 / len(lineages))  # Yule: k lineages split at rate k
        a, b = sorted(rng.choice(len(lineages), size=2, replace=False), reverse=True)
        node = len(parent)
        parent.append(-1)
        node_height.append(t)
        parent[lineages[a]] = parent[lineages[b]] = node
        lineages.pop(a)
        lineages.pop(b)
        lineages.append(node)
    # Internal nodes at least 5 % of the height above the tips: Yule trees have some very recent splits, and
    # near-zero branches (unlike real phylogenies of distinct species) make single contrasts dominate PGLS.
    heights = np.where(np.arange(len(parent)) < n, 0.0, 0.05 + 0.95 * np.array(node_height) / t) * height
    par = np.array(parent)
    length = np.where(par >= 0, heights[par] - heights, 0.0)
    length[:n] *= rng.uniform(0.85, 1.15, n)
    length = np.round(length, 6)
    draft = Tree(par, length, [f"t{i}" for i in range(n)] + [""] * (len(par) - n), n)
    parsed = Tree.from_newick(draft.to_newick(digits=6))
    names = species_names(n, rng) + parsed.names[n:]
    return Tree(parsed.parent, parsed.length, names, n)


@dataclass
class Traits:
    """Tip values in tree tip order: ``brain_size`` (continuous) with its standardised BM value, ``social`` 0/1."""

    brain_size: np.ndarray
    brain_z: np.ndarray
    social: np.ndarray


def simulate_traits(tree: Tree, rng: np.random.Generator, social_fraction: float = 0.35) -> Traits:
    """``brain_size`` = 1.5 + 0.5 z with z a BM of unit root-to-tip variance (a log brain mass, say);
    ``social`` = 1 for the top ``social_fraction`` of another BM trait (a threshold model: clades share it)."""
    bm = simulate_bm(tree, 2, rng, sigma2=1.0 / TREE_HEIGHT)[: tree.n_tips]
    z = bm[:, 0]
    brain = np.round(1.5 + 0.5 * z, 4)
    cut = np.sort(bm[:, 1])[::-1][int(round(social_fraction * tree.n_tips)) - 1]
    return Traits(brain, (brain - 1.5) / 0.5, (bm[:, 1] >= cut).astype(int))


# ------------------------------------------------------------------------------------------------------ activity
@dataclass
class LocusPlan:
    """Per-locus reference state, ``(n_loci,)`` arrays: motif copies, openness in two tissues, planted trait.

    ``planted`` holds a trait name or ``""``; ``direction`` is +1/-1 (activity rises/falls with the trait) or 0.
    """

    c_ref: np.ndarray
    open1: np.ndarray
    open2: np.ndarray
    planted: np.ndarray
    direction: np.ndarray


def plan_loci(n_loci: int, n_planted: dict[str, int], rng: np.random.Generator) -> LocusPlan:
    """Draw reference copies (uniform 0..4), openness per tissue, and planted loci among open ones with c >= 2."""
    c_ref = rng.integers(0, MAX_COPIES + 1, n_loci)
    open1 = rng.random(n_loci) < np.asarray(P_OPEN)[c_ref]
    open2 = rng.random(n_loci) < np.asarray(P_OPEN_TISSUE2)[c_ref]
    planted = np.full(n_loci, "", dtype=object)
    eligible = np.flatnonzero(open1 & (c_ref >= 2))
    chosen = rng.permutation(eligible)[: sum(n_planted.values())]
    start = 0
    for trait, k in n_planted.items():
        planted[np.sort(chosen[start:start + k])] = trait
        start += k
    return LocusPlan(c_ref, open1, open2, planted, np.zeros(n_loci, dtype=int))


def motif_counts(tree: Tree, plan: LocusPlan, traits: Traits, rng: np.random.Generator,
                 null_sd: float = NULL_SD, noise_sd: float = NOISE_SD, social_shift: float = 2.0) -> np.ndarray:
    """Motif copies per locus and species, ``(n_loci, n_tips)`` ints in 0..4; the reference is tip 0.

    Latent activity, with ``B`` an independent BM per locus of root-to-tip sd ``null_sd`` (``noise_sd`` for
    planted loci), taken relative to the reference so that its latent activity is exact:

    * not planted: ``c_ref + B_s - B_ref``;
    * ``brain_size``: ``a + d beta (z_s - m) + B_s - B_ref`` with ``m`` the mid-range of ``z``,
      ``beta = 4 / range(z)`` and ``a`` uniform in 1.6..2.4, so activity spans about 0..4 across species. The
      sign ``d`` is random; ``a`` is raised where the reference would get fewer than 2 copies, and ``c_ref`` is
      reset to the reference's value;
    * ``social``: ``c_ref + d social_shift (social_s - social_ref) + B_s - B_ref``, with ``d`` chosen so the
      other state stays within 0..4 (random when ``c_ref = 2``).

    Sets ``plan.direction`` (+1: activity rises with the trait) and, for ``brain_size`` loci, ``plan.c_ref``.
    """
    n_loci, ref = len(plan.c_ref), 0
    sd = np.where(plan.planted == "", null_sd, noise_sd)
    bm = simulate_bm(tree, n_loci, rng, sigma2=1.0 / TREE_HEIGHT)[: tree.n_tips].T * sd[:, None]
    latent = plan.c_ref[:, None] + bm - bm[:, [ref]]
    z = traits.brain_z
    beta = MAX_COPIES / np.ptp(z)
    u = beta * (z - (z.max() + z.min()) / 2)  # activity shift from 2 copies, in [-2, 2]
    ds = traits.social - traits.social[ref]
    other = 1 - 2 * traits.social[ref]  # sign of (other state - reference state)
    coin = np.where(rng.random(n_loci) < 0.5, 1, -1)
    intercept = rng.uniform(1.6, 2.4, n_loci)
    for i in np.flatnonzero(plan.planted != ""):
        if plan.planted[i] == "brain_size":
            d = coin[i]
            a = max(intercept[i], 1.51 - d * u[ref])  # raised where the reference would have < 2 copies
            plan.c_ref[i] = int(np.clip(np.rint(a + d * u[ref]), 0, MAX_COPIES))
            latent[i] = a + d * u + (latent[i] - latent[i, ref])
        else:
            d = coin[i] if plan.c_ref[i] == 2 else -other
            latent[i] += d * social_shift * ds
        plan.direction[i] = d
    return np.clip(np.rint(latent), 0, MAX_COPIES).astype(int)


# ------------------------------------------------------------------------------------------ sequence evolution
def _mutate(codes: np.ndarray, mask: np.ndarray, rng: np.random.Generator) -> None:
    """Substitute the masked bases (codes 0..3) by one of the three other bases, in place."""
    codes[mask] = (codes[mask] + rng.integers(1, 4, int(mask.sum()), dtype=np.uint8)) % 4


def evolve_loci(tree: Tree, counts: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Locus sequences per species, ``(n_tips, n_loci, BLOCK)`` codes 0..3 (A, C, G, T), reference orientation.

    A random root sequence evolves along the tree (Jukes-Cantor-like substitutions, probability
    ``1 - exp(-LOCUS_RATE * branch length)`` per base). Motif slots start as decayed motifs (3 mismatches) or
    random sequence; at the tips, the first ``c`` slots of a per-locus slot order hold the exact motif (copies
    are gained and lost in a nested order). Chance motif matches elsewhere are removed.
    """
    n_loci = counts.shape[0]
    nodes = np.empty((tree.n_nodes, n_loci, BLOCK), dtype=np.uint8)
    root = rng.integers(0, 4, (n_loci, BLOCK), dtype=np.uint8)
    for start in _SLOT_STARTS:
        decayed = np.tile(_MOTIF_CODES, (n_loci, 1))
        for row in range(n_loci):
            _mutate(decayed[row], np.isin(np.arange(10), rng.choice(10, 3, replace=False)), rng)
        use = rng.random(n_loci) < 0.5
        root[use, start:start + 10] = decayed[use]
    nodes[tree.root] = root
    for node in tree.preorder()[1:]:
        nodes[node] = nodes[tree.parent[node]]
        p = 1.0 - np.exp(-LOCUS_RATE * tree.length[node])
        _mutate(nodes[node], rng.random((n_loci, BLOCK)) < p, rng)
    tips = nodes[: tree.n_tips].copy()
    order = np.argsort(rng.random((n_loci, MAX_COPIES)), axis=1)  # slot order per locus
    rank = np.argsort(order, axis=1)
    for k, start in enumerate(_SLOT_STARTS):
        on = rank[:, k][None, :] < counts.T  # (n_tips, n_loci)
        tips[:, :, start:start + 10][on] = _MOTIF_CODES
    for s in range(tree.n_tips):
        for i in range(n_loci):
            on_starts = set(_SLOT_STARTS[rank[i] < counts[i, s]].tolist())
            _purge_motifs(tips[s, i], on_starts)
    return tips


def _purge_motifs(codes: np.ndarray, keep: set[int] = frozenset()) -> None:
    """Break every motif match (either strand) not starting at a position of ``keep``, in place (codes 0..3/4..7)."""
    while True:
        text = _LETTERS[codes % 4].tobytes().decode()
        hits = [m.start() for m in _MOTIF_RE.finditer(text) if not (m.group(1) == MOTIF and m.start() in keep)]
        if not hits:
            return
        for pos in hits:
            codes[pos + 4] = (codes[pos + 4] // 4) * 4 + (codes[pos + 4] % 4 + 1) % 4


@dataclass
class Indels:
    """Indels of one species in one locus: deleted reference-orientation offsets, and insertions before offsets."""

    deleted: np.ndarray  # (BLOCK,) bool
    insertions: list[tuple[int, np.ndarray]] = field(default_factory=list)


def _indel_length(rng: np.random.Generator) -> int:
    return int(min(rng.geometric(0.35), 10))


def draw_indels(rate: float, rng: np.random.Generator) -> Indels:
    """Poisson(``rate``) deletions and insertions of 1-10 bp, none touching a motif slot (retried when they do)."""
    deleted = np.zeros(BLOCK, dtype=bool)
    protected = np.zeros(BLOCK + 1, dtype=bool)
    for start in _SLOT_STARTS:
        protected[start - 1:start + 11] = True
    for _ in range(rng.poisson(rate)):
        for _attempt in range(5):
            k = _indel_length(rng)
            pos = int(rng.integers(0, BLOCK - k + 1))
            if not protected[pos:pos + k].any():
                deleted[pos:pos + k] = True
                break
    insertions = []
    for _ in range(rng.poisson(rate)):
        pos = int(rng.integers(1, BLOCK))
        if not (protected[pos] and protected[pos - 1]):
            insertions.append((pos, rng.integers(0, 4, _indel_length(rng), dtype=np.uint8)))
    return Indels(deleted, sorted(insertions, key=lambda item: item[0]))


def align_locus(seqs: list[np.ndarray], indels: list[Indels | None]) -> np.ndarray:
    """Alignment matrix of one locus, ``(rows, columns)`` codes with :data:`GAP`; row 0 is the reference.

    ``seqs`` are reference-orientation sequences of BLOCK bases; ``indels[r]`` None means none. Inserted
    bases get their own columns (gaps in every other row), in row order where two rows insert at one offset.
    """
    ins_len = np.zeros(BLOCK + 1, dtype=int)
    for ind in indels:
        for pos, bases in ind.insertions if ind else ():
            ins_len[pos] += len(bases)
    base_col = np.arange(BLOCK + 1) + np.cumsum(ins_len)  # column of offset j (BLOCK: one past the end)
    matrix = np.full((len(seqs), base_col[-1]), GAP, dtype=np.uint8)
    filled = base_col - ins_len  # next free insertion column before offset j
    for r, (seq, ind) in enumerate(zip(seqs, indels)):
        row = seq.copy()
        if ind is not None:
            row[ind.deleted] = GAP
            for pos, bases in ind.insertions:
                matrix[r, filled[pos]:filled[pos] + len(bases)] = bases
                filled[pos] += len(bases)
        matrix[r, base_col[:-1]] = row
    return matrix


# ---------------------------------------------------------------------------------------------------- genomes
def _spacer(rng: np.random.Generator, low: int, high: int, masked_fraction: float = 0.1) -> np.ndarray:
    """Random spacer DNA of ``low..high`` bp without motif matches; a fraction is soft-masked (codes 4..7)."""
    codes = rng.integers(0, 4, int(rng.integers(low, high + 1)), dtype=np.uint8)
    _purge_motifs(codes)
    if rng.random() < masked_fraction:
        codes += 4
    return codes


@dataclass
class Placement:
    """Where one locus's bases lie in a genome: sequence, forward start, length, strand vs the reference."""

    chrom: str
    start: int
    size: int
    strand: str


def layout_reference(loci: list[np.ndarray], chrom_of: np.ndarray, rng: np.random.Generator
                     ) -> tuple[dict[str, np.ndarray], list[Placement], list[tuple[str, int, int]]]:
    """Reference chromosomes: spacer (300-1500 bp) between loci; returns sequences, placements and spacers."""
    chroms: dict[str, list[np.ndarray]] = {name: [] for name in CHROMS}
    lengths = dict.fromkeys(CHROMS, 0)
    places: list[Placement] = []
    spacers: list[tuple[str, int, int]] = []
    for i, seq in enumerate(loci):
        name = CHROMS[chrom_of[i]]
        gap = _spacer(rng, 300, 1500)
        spacers.append((name, lengths[name], lengths[name] + len(gap)))
        chroms[name] += [gap, seq]
        lengths[name] += len(gap)
        places.append(Placement(name, lengths[name], len(seq), "+"))
        lengths[name] += len(seq)
    for name in CHROMS:
        tail = _spacer(rng, 300, 1500)
        spacers.append((name, lengths[name], lengths[name] + len(tail)))
        chroms[name].append(tail)
    return {name: np.concatenate(parts) for name, parts in chroms.items()}, places, spacers


def layout_species(loci: dict[int, np.ndarray], chrom_of: np.ndarray, rng: np.random.Generator,
                   break_rate: float = 1 / 60, flip_scaffold: float = 0.3, flip_locus: float = 0.04
                   ) -> tuple[dict[str, np.ndarray], dict[int, Placement]]:
    """Another species' genome: its loci in reference order on scaffolds (``scaffold_1`` ...).

    Scaffolds break at reference chromosome ends and at random (``break_rate`` per locus); a scaffold is
    reverse-complemented with probability ``flip_scaffold`` and a single locus with ``flip_locus``. Spacers
    are 10-60 bp. ``loci`` maps locus index to its bases in reference orientation (absent loci are lost).
    """
    scaffolds: dict[str, np.ndarray] = {}
    places: dict[int, Placement] = {}
    parts: list[np.ndarray] = []
    pending: list[tuple[int, int, int, bool]] = []
    size = 0

    def close() -> None:
        nonlocal parts, pending, size
        if not pending:
            return
        parts.append(_spacer(rng, 10, 60))
        seq = np.concatenate(parts)
        name = f"scaffold_{len(scaffolds) + 1}"
        flip = rng.random() < flip_scaffold
        if flip:
            seq = _COMPLEMENT[seq[::-1]]
        scaffolds[name] = seq
        for i, start, n, inverted in pending:
            fwd = len(seq) - start - n if flip else start
            places[i] = Placement(name, fwd, n, "-" if inverted != flip else "+")
        parts, pending, size = [], [], 0

    previous = -1
    for i in sorted(loci):
        if pending and (chrom_of[i] != chrom_of[previous] or rng.random() < break_rate):
            close()
        previous = i
        parts.append(_spacer(rng, 10, 60))
        size += len(parts[-1])
        inverted = bool(rng.random() < flip_locus)
        seq = loci[i]
        parts.append(_COMPLEMENT[seq[::-1]] if inverted else seq)
        pending.append((i, size, len(seq), inverted))
        size += len(seq)
    close()
    return scaffolds, places


# --------------------------------------------------------------------------------------------------- the data set
@dataclass
class Simulation:
    """Everything drawn for one data set; :func:`write_simulation` turns it into files.

    ``blocks[i]`` is ``(tip indices of the rows, alignment matrix)`` of locus ``i``; ``places[s][i]`` where
    locus ``i`` lies in species ``s``'s genome; ``genomes[s]`` maps sequence names to codes.
    """

    preset: str
    seed: int
    tree: Tree
    traits: Traits
    plan: LocusPlan
    counts: np.ndarray
    present: np.ndarray
    chrom_of: np.ndarray
    blocks: list[tuple[np.ndarray, np.ndarray]]
    genomes: list[dict[str, np.ndarray]]
    places: list[dict[int, Placement]]
    spacers: list[tuple[str, int, int]]
    split: dict[int, int]

    @property
    def species(self) -> list[str]:
        return self.tree.tip_names

    @property
    def loci(self) -> list[str]:
        return [f"ocr_{i + 1:05d}" for i in range(len(self.plan.c_ref))]


def distance_to_reference(tree: Tree) -> np.ndarray:
    """Path length from tip 0 (the reference) to every tip, ``(n_tips,)``."""
    depth = tree.depths()
    ancestors = set()
    node = 0
    while node >= 0:
        ancestors.add(node)
        node = int(tree.parent[node])
    out = np.zeros(tree.n_tips)
    for tip in range(tree.n_tips):
        node = tip
        while node not in ancestors:
            node = int(tree.parent[node])
        out[tip] = depth[tip] + depth[0] - 2 * depth[node]
    return out


def draw_presence(n_tips: int, n_loci: int, rng: np.random.Generator) -> np.ndarray:
    """Which species keep each locus, ``(n_tips, n_loci)`` bool: about 6 % lost per species, 16-31 % in a few
    (poor assemblies); the reference keeps all."""
    rate = 0.06 + np.where(rng.random(n_tips) < 0.15, rng.uniform(0.1, 0.25, n_tips), 0.0)
    rate[0] = 0.0
    return rng.random((n_tips, n_loci)) >= rate[:, None]


def assign_chromosomes(n_loci: int) -> np.ndarray:
    """Reference chromosome index of each locus (loci in order), sizes following :data:`CHROM_WEIGHTS`."""
    weights = np.asarray(CHROM_WEIGHTS) / sum(CHROM_WEIGHTS)
    sizes = np.floor(weights * n_loci).astype(int)
    sizes[0] += n_loci - sizes.sum()
    return np.repeat(np.arange(len(CHROMS)), sizes)


def simulate(preset: str = "demo", seed: int = 1) -> Simulation:
    """Draw a whole data set (see the module docstring); deterministic given ``preset`` and ``seed``."""
    p = PRESETS[preset]
    tree = random_tree(p.n_species, rng_for(seed, "tree"))
    traits = simulate_traits(tree, rng_for(seed, "traits"))
    plan = plan_loci(p.n_loci, p.n_planted, rng_for(seed, "loci"))
    counts = motif_counts(tree, plan, traits, rng_for(seed, "activity"))
    tips = evolve_loci(tree, counts, rng_for(seed, "sequences"))
    present = draw_presence(tree.n_tips, p.n_loci, rng_for(seed, "losses"))
    indel_rate = 0.8 * distance_to_reference(tree) / (2 * TREE_HEIGHT)
    rng = rng_for(seed, "indels")
    blocks = []
    for i in range(p.n_loci):
        rows = np.flatnonzero(present[:, i])
        indels = [None] + [draw_indels(indel_rate[s], rng) for s in rows[1:]]
        blocks.append((rows, align_locus([tips[s, i] for s in rows], indels)))
    chrom_of = assign_chromosomes(p.n_loci)
    bases = [{i: m[r][m[r] != GAP] for i, (rows, m) in enumerate(blocks) for r in np.flatnonzero(rows == s)}
             for s in range(tree.n_tips)]
    ref_genome, ref_places, spacers = layout_reference([bases[0][i] for i in range(p.n_loci)], chrom_of,
                                                       rng_for(seed, "reference"))
    genomes, places = [ref_genome], [dict(enumerate(ref_places))]
    for s in range(1, tree.n_tips):
        genome, where = layout_species(bases[s], chrom_of, rng_for(seed, f"genome:{tree.names[s]}"))
        genomes.append(genome)
        places.append(where)
    rng = rng_for(seed, "split")
    split = {int(i): int(rng.integers(100, blocks[i][1].shape[1] - 100))
             for i in np.sort(rng.choice(p.n_loci, max(1, p.n_loci // 25), replace=False))}
    return Simulation(preset, seed, tree, traits, plan, counts, present, chrom_of, blocks, genomes, places,
                      spacers, split)


# ------------------------------------------------------------------------------------------------------- writers
def _text(codes: np.ndarray) -> str:
    return _LETTERS[codes].tobytes().decode()


def write_fasta_genome(genome: dict[str, np.ndarray], path: str | os.PathLike[str], width: int = 60) -> None:
    """FASTA with ``width``-column lines, soft-masked spacer in lower case (gzip when ``path`` ends in .gz)."""
    with atomic_writer(path) as out:
        for name, codes in genome.items():
            text = _text(codes)
            out.write(f">{name}\n")
            out.write("\n".join(text[k:k + width] for k in range(0, len(text), width)) + "\n")


def write_maf(sim: Simulation, path: str | os.PathLike[str]) -> None:
    """One block per locus (two for loci in ``sim.split``), reference row first, other rows in tree order.

    On ``-`` rows the text is in reference orientation and ``start`` counts from the end of the source.
    """
    names = sim.species
    sizes = [{name: len(seq) for name, seq in genome.items()} for genome in sim.genomes]
    with atomic_writer(path) as out:
        out.write(f"##maf version=1 scoring=none\n# tacit simulate --preset {sim.preset} --seed {sim.seed}\n\n")
        for i, (rows, matrix) in enumerate(sim.blocks):
            cuts = [0, sim.split[i], matrix.shape[1]] if i in sim.split else [0, matrix.shape[1]]
            for a, b in zip(cuts[:-1], cuts[1:]):
                out.write("a score=0\n")
                for r, s in enumerate(rows):
                    size = int(np.count_nonzero(matrix[r, a:b] != GAP))
                    if size == 0:
                        continue
                    place = sim.places[s][i]
                    src = sizes[s][place.chrom]
                    start = place.start if place.strand == "+" else src - place.start - place.size
                    start += int(np.count_nonzero(matrix[r, :a] != GAP))
                    out.write(f"s {names[s]}.{place.chrom} {start} {size} {place.strand} {src} "
                              f"{_text(matrix[r, a:b])}\n")
                out.write("\n")


def chain_blocks(sim: Simulation, s: int, i: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Ungapped blocks of species ``s`` against the reference in locus ``i``'s alignment.

    Returns block starts on the reference (forward) and on the species (on the strand of its placement,
    counted from the end of the sequence on ``-``, as in the MAF and in UCSC chains), and block sizes; empty
    when the species lacks the locus or has no base aligned to a reference base.
    """
    rows, matrix = sim.blocks[i]
    at = np.flatnonzero(rows == s)
    empty = np.zeros(0, dtype=np.int64)
    if s == 0 or at.size == 0:
        return empty, empty, empty
    ref, qry = matrix[0] != GAP, matrix[at[0]] != GAP
    t_off = np.cumsum(ref) - ref  # bases before each column
    q_off = np.cumsum(qry) - qry
    both = ref & qry
    tp, qp = t_off[both], q_off[both]
    if tp.size == 0:
        return empty, empty, empty
    new = np.ones(tp.size, dtype=bool)
    new[1:] = (tp[1:] - tp[:-1] != 1) | (qp[1:] - qp[:-1] != 1)
    first = np.flatnonzero(new)
    size = np.diff(first, append=tp.size)
    place, ref_place = sim.places[s][i], sim.places[0][i]
    src = len(sim.genomes[s][place.chrom])
    q0 = place.start if place.strand == "+" else src - place.start - place.size
    return ref_place.start + tp[first], q0 + qp[first], size


def chain_text(sim: Simulation, s: int) -> str:
    """UCSC chain file text of species ``s`` (query) against the reference (target).

    One chain per run of consecutive loci (in reference order, among the loci the species has) on the same
    reference chromosome, species sequence and strand with increasing species coordinates; the spacer between
    loci is a gap in both genomes. Score = aligned bases; ids 1, 2, ... in reference order. Derived from the
    alignments of :attr:`Simulation.blocks`, so the chains hold exactly the MAF's aligned base pairs.
    """
    ref_sizes = {name: len(seq) for name, seq in sim.genomes[0].items()}
    q_sizes = {name: len(seq) for name, seq in sim.genomes[s].items()}
    runs: list[tuple[tuple[str, str, str], list[tuple[np.ndarray, np.ndarray, np.ndarray]]]] = []
    for i in range(len(sim.blocks)):
        t, q, size = chain_blocks(sim, s, i)
        if size.size == 0:
            continue
        place = sim.places[s][i]
        key = (sim.places[0][i].chrom, place.chrom, place.strand)
        if runs and runs[-1][0] == key:
            last_t, last_q, last_size = runs[-1][1][-1]
            if t[0] >= last_t[-1] + last_size[-1] and q[0] >= last_q[-1] + last_size[-1]:
                runs[-1][1].append((t, q, size))
                continue
        runs.append((key, [(t, q, size)]))
    lines = []
    for number, ((t_name, q_name, strand), loci) in enumerate(runs, start=1):
        t, q, size = (np.concatenate(parts) for parts in zip(*loci))
        t_end, q_end = int(t[-1] + size[-1]), int(q[-1] + size[-1])
        lines.append(f"chain {int(size.sum())} {t_name} {ref_sizes[t_name]} + {t[0]} {t_end} {q_name} "
                     f"{q_sizes[q_name]} {strand} {q[0]} {q_end} {number}\n")
        dt, dq = t[1:] - (t[:-1] + size[:-1]), q[1:] - (q[:-1] + size[:-1])
        lines += [f"{a} {b} {c}\n" for a, b, c in zip(size[:-1].tolist(), dt.tolist(), dq.tolist())]
        lines.append(f"{size[-1]}\n\n")
    return "".join(lines)


def write_chains(sim: Simulation, out_dir: str | os.PathLike[str]) -> None:
    """``{species}.chain.gz`` for every species but the reference (see :func:`chain_text`)."""
    for s, name in enumerate(sim.species[1:], start=1):
        with atomic_writer(Path(out_dir) / f"{name}.chain.gz") as out:
            out.write(chain_text(sim, s))


def peak_rows(sim: Simulation, open_mask: np.ndarray, rng: np.random.Generator) -> list[str]:
    """narrowPeak lines of the open loci: summit at the centre +-15 bp, 100-300 bp on each side (200-600 bp)."""
    lines = []
    for i in np.flatnonzero(open_mask):
        place = sim.places[0][i]
        summit = place.start + CENTRE + int(rng.integers(-15, 16))
        start, end = summit - int(rng.integers(100, 301)), summit + int(rng.integers(100, 301))
        signal = 2.0 + 3.0 * sim.counts[i, 0] + rng.gamma(2.0, 1.0)
        pvalue = signal * 4.0
        lines.append(f"{place.chrom}\t{start}\t{end}\t{sim.loci[i]}\t{min(1000, int(signal * 50))}\t.\t"
                     f"{signal:.5f}\t{pvalue:.5f}\t{pvalue * 0.8:.5f}\t{summit - start}\n")
    return lines


def species_centre(sim: Simulation, s: int, i: int) -> int | None:
    """Forward position in species ``s``'s genome of its base at (or just after) the reference locus centre;
    ``None`` when the species lacks locus ``i``."""
    rows, matrix = sim.blocks[i]
    at = np.flatnonzero(rows == s)
    if at.size == 0:
        return None
    column = np.flatnonzero(matrix[0] != GAP)[CENTRE]
    place = sim.places[s][i]
    offset = min(int(np.count_nonzero(matrix[at[0], :column] != GAP)), place.size - 1)  # reference orientation
    return place.start + offset if place.strand == "+" else place.start + place.size - 1 - offset


def species_peak_rows(sim: Simulation, s: int, rng: np.random.Generator) -> list[str]:
    """narrowPeak lines of tissue 1's OCRs in species ``s`` (its own genome's coordinates), as a peak caller on
    that species' data would give them: a locus it keeps is open with probability :data:`P_OPEN` of its own
    motif copies; summit within 15 bp of the locus centre, 100-300 bp on each side (within the sequence).
    Named ``{species}_peak_NNNNN`` in locus order, sorted by sequence and start."""
    name = sim.species[s]
    lengths = {chrom: len(seq) for chrom, seq in sim.genomes[s].items()}
    rows = []
    for i in range(len(sim.loci)):
        centre = species_centre(sim, s, i)
        copies = sim.counts[i, s]
        if centre is None or rng.random() >= P_OPEN[copies]:
            continue
        chrom = sim.places[s][i].chrom
        summit = min(max(centre + int(rng.integers(-15, 16)), 0), lengths[chrom] - 1)
        start = max(summit - int(rng.integers(100, 301)), 0)
        end = min(summit + int(rng.integers(100, 301)), lengths[chrom])
        signal = 2.0 + 3.0 * copies + rng.gamma(2.0, 1.0)
        rows.append((int(chrom.split("_")[1]), start, f"{chrom}\t{start}\t{end}\t{name}_peak_{i + 1:05d}\t"
                     f"{min(1000, int(signal * 50))}\t.\t{signal:.5f}\t{signal * 4.0:.5f}\t{signal * 3.2:.5f}\t"
                     f"{summit - start}\n"))
    return [line for _, _, line in sorted(rows)]


def peaks_species(sim: Simulation) -> int:
    """The species whose tissue-1 OCRs the data set includes: the one nearest the reference, as the second
    species of a real study usually is (ties: tree order)."""
    return int(np.argmin(distance_to_reference(sim.tree)[1:])) + 1


def negative_rows(sim: Simulation, open_mask: np.ndarray, n_spacer: int, rng: np.random.Generator,
                  width: int = 400) -> list[str]:
    """BED lines of ``width``-bp negatives: every closed locus (centred +-15 bp) and ``n_spacer`` spacer windows."""
    rows = []
    for i in np.flatnonzero(~open_mask):
        place = sim.places[0][i]
        centre = place.start + CENTRE + int(rng.integers(-15, 16))
        rows.append((place.chrom, centre - width // 2, f"closed_{sim.loci[i][4:]}"))
    wide = [sp for sp in sim.spacers if sp[2] - sp[1] >= width + 300]  # >= 100 bp from any peak
    for k, j in enumerate(np.sort(rng.choice(len(wide), min(n_spacer, len(wide)), replace=False))):
        chrom, lo, hi = wide[j]
        centre = (lo + hi) // 2 + int(rng.integers(-50, 51))
        rows.append((chrom, centre - width // 2, f"spacer_{k + 1:05d}"))
    rows.sort(key=lambda row: (CHROMS.index(row[0]), row[1]))
    return [f"{chrom}\t{start}\t{start + width}\t{name}\n" for chrom, start, name in rows]


def write_lines(lines: list[str], path: str | os.PathLike[str], header: str = "") -> None:
    with atomic_writer(path) as out:
        out.write(header)
        out.writelines(lines)


def write_tables(sim: Simulation, out: Path) -> None:
    """``phenotypes.csv``, ``motif_counts.tsv.gz`` (true activity; empty = locus lost) and ``loci.tsv``."""
    t = sim.traits
    write_lines([f"{name},{t.brain_size[s]:.4f},{t.social[s]}\n" for s, name in enumerate(sim.species)],
                out / "phenotypes.csv", "species,brain_size,social\n")
    counts = [sim.loci[i] + "".join(f"\t{sim.counts[i, s]}" if sim.present[s, i] else "\t"
                                    for s in range(len(sim.species))) + "\n" for i in range(len(sim.loci))]
    write_lines(counts, out / "motif_counts.tsv.gz", "\t".join(["ocr", *sim.species]) + "\n")
    plan = sim.plan
    loci = [f"{sim.loci[i]}\t{sim.places[0][i].chrom}\t{sim.places[0][i].start}\t{sim.places[0][i].start + BLOCK}\t"
            f"{sim.places[0][i].start + CENTRE}\t{plan.c_ref[i]}\t{int(plan.open1[i])}\t{int(plan.open2[i])}\t"
            f"{plan.planted[i] or '.'}\t{plan.direction[i]}\n" for i in range(len(sim.loci))]
    write_lines(loci, out / "loci.tsv", "ocr\tchrom\tstart\tend\tcentre\tcopies_reference\topen\topen_tissue2\t"
                "planted_trait\tdirection\n")


def truth_rows(sim: Simulation, open_mask: np.ndarray) -> list[str]:
    """``ocr, trait, planted, direction`` for every OCR of the peaks and every trait."""
    return [f"{sim.loci[i]}\t{trait}\t{int(sim.plan.planted[i] == trait)}\t"
            f"{sim.plan.direction[i] if sim.plan.planted[i] == trait else 0}\n"
            for trait in TRAITS for i in np.flatnonzero(open_mask)]


def write_simulation(sim: Simulation, out_dir: str | os.PathLike[str]) -> dict[str, int]:
    """Write every file of the data set into ``out_dir``; returns a few counts for the log and README."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    with atomic_writer(out / "tree.nwk") as handle:
        handle.write(sim.tree.to_newick(digits=6) + "\n")
    for s, name in enumerate(sim.species):
        write_fasta_genome(sim.genomes[s], out / "genomes" / f"{name}.fa.gz")
    write_maf(sim, out / "alignment.maf.gz")
    write_tables(sim, out)
    stats: dict[str, int] = {}
    truth_header = "ocr\ttrait\tplanted\tdirection\n"
    for folder, open_mask, stream in (("", sim.plan.open1, "tissue1"), ("tissue2", sim.plan.open2, "tissue2")):
        where = out / folder
        peaks = peak_rows(sim, open_mask, rng_for(sim.seed, f"peaks:{stream}"))
        negatives = negative_rows(sim, open_mask, len(peaks) // 3, rng_for(sim.seed, f"negatives:{stream}"))
        write_lines(peaks, where / "peaks.narrowPeak")
        write_lines(negatives, where / "negatives.bed")
        write_lines(truth_rows(sim, open_mask), where / "truth.tsv", truth_header)
        stats[f"{stream}_peaks"], stats[f"{stream}_negatives"] = len(peaks), len(negatives)
    other = peaks_species(sim)
    species_peaks = species_peak_rows(sim, other, rng_for(sim.seed, f"species-peaks:{sim.species[other]}"))
    write_lines(species_peaks, out / "species_peaks" / f"{sim.species[other]}.narrowPeak")
    stats["species_peaks"] = len(species_peaks)
    write_chains(sim, out / "chains")  # last, and without random numbers: the other files do not change
    return stats


_README = """# Simulated demo data ({preset} preset, seed {seed})

Made by `tacit simulate --preset {preset} --seed {seed} --out-dir <this folder>` (`src/tacit/simulate.py`); the
same command always writes the same bytes. Nothing here is real biology: species, genomes and traits are
invented, but each workflow stage has real work to do.

## What was simulated

* **Tree** (`tree.nwk`): a Yule tree of {n_species} species, {height} substitutions per neutral site from
  root to tip (no split in the last 5 %; terminal branches jittered by +-15 %). The reference species is
  **`{reference}`** (first tip, and first row of every MAF block).
* **Loci**: {n_loci} loci on the reference chromosomes {chroms}, each a 400-bp core plus 50 bp of
  flank on each side, separated by 300-1,500 bp of random spacer (chromosomes of {chrom_kb} kb). The core has
  four slots for the motif `{motif}` starting at {slots} bp from the locus centre.
* **Activity** = motif copies in a species, `c = clip(round(latent), 0, 4)`; the first `c` slots of a per-locus
  slot order hold the exact motif, the others a decayed motif (3 mismatches) or random sequence. The latent
  activity evolves by Brownian motion along the tree, independently of the traits for most loci (sd {null_sd}
  from root to tip). `motif_counts.tsv.gz` has the true copies of every locus in every species (empty where the
  locus was lost): a perfect-CNN oracle.
* **Reference open chromatin**: a locus is open with probability {p_open} for 0..4 copies
  (tissue 2: {p_open2}). Open loci are the OCRs in `peaks.narrowPeak` (named `ocr_NNNNN` after their
  locus, summit within 15 bp of the centre, 200-600 bp). `negatives.bed` has 400-bp windows on every
  closed locus (`closed_NNNNN`) and on random spacer (`spacer_NNNNN`).
* **Traits** (`phenotypes.csv`): `brain_size` = 1.5 + 0.5 z, z a Brownian motion of unit variance;
  `social` = 1 for the top 35 % of another Brownian trait ({n_social_species} of {n_species} species, in clades).
* **Planted OCRs** (`truth.tsv`; `loci.tsv` has every locus): {n_brain} OCRs whose activity follows
  `brain_size` (latent = a +- 4 (z - mid-range) / range(z), a about 2, plus small Brownian noise, so copies span
  0..4 across species) and {n_social} that follow `social` (latent shifts by 2 copies with the state). `direction` is +1
  when activity rises with the trait.
* **Sequences**: each locus evolves along the tree (substitutions at {rate} x the neutral rate, as in a
  constrained element; a few % divergence), with 1-10 bp indels outside the motif slots in each species and
  about 6 % of loci lost per species (16-31 % in a few poor assemblies). Other species' genomes
  (`genomes/*.fa.gz`) hold their loci in reference order on `scaffold_N` sequences separated by 10-60 bp of
  their own spacer; about 30 % of scaffolds and 4 % of single loci are inverted. About 10 % of spacers are
  soft-masked (lower case).
* **Alignment** (`alignment.maf.gz`): one block per locus, reference row first, other species in tree order,
  `-` strand rows for inverted loci; {n_split} blocks are split in two.
* **Chains** (`chains/<species>.chain.gz`, every species but the reference): the same pairwise alignments as
  UCSC chain files, reference = target (`+`), species = query (`-` for inverted loci, coordinates from the end
  of the reverse-complemented sequence as UCSC defines): ungapped blocks with their gaps (`size dt dq`), one
  chain per run of consecutive loci on one reference chromosome, scaffold and strand, scored by aligned bases.
  For `tacit chain-orthologs`, or the workflow with `alignment: {{format: chain, chains:
  <this folder>/chains/{{species}}.chain.gz}}`; the orthologs equal those through the MAF.
* **Tissue 2** (`tissue2/`): the same loci with a second openness draw: {t2_peaks} OCRs, {t2_neg} negatives.
* **The tissue in a second species** (`species_peaks/{other}.narrowPeak`): tissue 1's OCRs in
  `{other}`, the species nearest the reference, in its own genome's coordinates: each locus it keeps is
  open with the same probabilities of its own motif copies; {n_species_peaks} OCRs named `{other}_peak_NNNNN` after their locus.
  For the config's `tissues.<name>.species_peaks` (TACIT's cross-species training windows).

## Counts

| | |
|---|---|
| species | {n_species} |
| loci | {n_loci} |
| OCRs (`peaks.narrowPeak`) | {t1_peaks} |
| negatives (`negatives.bed`) | {t1_neg} |
| planted OCRs, `brain_size` / `social` | {n_brain} / {n_social} |

## Workflow configuration

`reference: {reference}`; sequence window width 400 bp (the motif slots lie within 105 bp of the centre);
hold out `chr5` for validation and `chr6` for testing.
"""


def write_readme(sim: Simulation, stats: dict[str, int], out_dir: str | os.PathLike[str]) -> None:
    """``README.md`` describing the data set, its command and its counts."""
    lengths = [len(seq) // 1000 for seq in sim.genomes[0].values()]
    text = _README.format(
        preset=sim.preset, seed=sim.seed, n_species=len(sim.species), height=TREE_HEIGHT, reference=REFERENCE,
        n_loci=len(sim.loci), chroms=", ".join(f"`{c}`" for c in CHROMS), chrom_kb=f"{min(lengths)}-{max(lengths)}",
        motif=MOTIF, slots=", ".join(f"{s:+d}" for s in SLOT_OFFSETS), null_sd=NULL_SD, p_open=list(P_OPEN),
        p_open2=list(P_OPEN_TISSUE2), n_social_species=int(sim.traits.social.sum()),
        n_brain=int((sim.plan.planted == "brain_size").sum()), n_social=int((sim.plan.planted == "social").sum()),
        rate=LOCUS_RATE, n_split=len(sim.split), t2_peaks=stats["tissue2_peaks"], t2_neg=stats["tissue2_negatives"],
        t1_peaks=stats["tissue1_peaks"], t1_neg=stats["tissue1_negatives"],
        other=sim.species[peaks_species(sim)], n_species_peaks=stats["species_peaks"])
    with atomic_writer(Path(out_dir) / "README.md") as out:
        out.write(text)
