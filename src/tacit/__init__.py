"""TACIT: Tissue-Aware Conservation Inference Toolkit.

Orthologs of open chromatin regions across a whole-genome alignment, a tissue CNN that scores them, and
phylogenetic association of predicted activity with a phenotype, corrected by permulations.
"""

__version__ = "0.1.0"
