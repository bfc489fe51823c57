"""Snakemake adapter: training curves and held-out ROC / PR curves of one tissue's model."""

import logging

import pandas as pd

from tacit.plots import roc_pr_curves, training_curves

logging.basicConfig(filename=snakemake.log[0], level=logging.INFO)
tissue = snakemake.wildcards.tissue
training_curves(pd.read_csv(snakemake.input.history, sep="\t"), snakemake.output.curves, f"{tissue} CNN training")
heldout = pd.read_csv(snakemake.input.heldout, sep="\t")
roc_pr_curves(heldout["label"], heldout["score"], heldout["split"], snakemake.output.roc_pr, f"{tissue}: held-out chromosomes")
