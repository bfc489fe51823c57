"""TACIT: Tissue-Aware Conservation Inference Toolkit.

Orthologs of open chromatin regions across a whole-genome alignment, a tissue CNN that scores them, and
phylogenetic association of predicted activity with a phenotype, corrected by permulations.
"""

import os

__version__ = "0.1.0"

# numba's parallel loops run on the OpenMP runtime, whose threads by default spin for milliseconds after
# each parallel region. Serial work follows every region here (the exact phyloglm maximiser after each
# compiled batch), and on a small machine the spinning threads slowed it 1.5x (and tacit associate on a
# 241-species tree by 15 %). Threads that sleep at once cost nothing measurable: the regions are long.
# A default only: a value the user set wins, and it acts only if the runtime starts after this import.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
