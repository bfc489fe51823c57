"""Snakemake adapter: predicted activity of the top OCRs and the phenotype, drawn on the tree."""

import logging

import pandas as pd

from tacit.association import TESTED
from tacit.plots import tree_heatmap
from tacit.tables import read_matrix, read_phenotypes
from tacit.tree import read_tree

logging.basicConfig(filename=snakemake.log[0], level=logging.INFO)
assoc = pd.read_csv(snakemake.input.associations, sep="\t")
ranked = assoc[assoc["status"].isin(TESTED)].sort_values(["fdr", "perm_pvalue", "pvalue"])
top = ranked["ocr"].head(snakemake.params.n_top).tolist()
matrix = read_matrix(snakemake.input.predictions, snakemake.params.species or None)
activity = pd.DataFrame(matrix.values, index=matrix.ocrs, columns=matrix.species).loc[top].T
phenotype = read_phenotypes(snakemake.input.phenotypes, snakemake.wildcards.trait).rename(snakemake.wildcards.trait)
tree = read_tree(snakemake.input.tree)
tree = tree.keep_tips([s for s in tree.tip_names if s in set(matrix.species)])
tree_heatmap(tree, activity, phenotype, snakemake.output[0], f"top {len(top)} OCRs for {snakemake.wildcards.trait}")
