"""Snakemake adapter: QQ and volcano plots of one association table."""

import logging

import pandas as pd

from tacit.plots import qq_plot, volcano_plot

logging.basicConfig(filename=snakemake.log[0], level=logging.INFO)
table = pd.read_csv(snakemake.input[0], sep="\t")
name = f"{snakemake.wildcards.tissue} / {snakemake.wildcards.trait}"
qq_plot(table, snakemake.output.qq, name)
volcano_plot(table, snakemake.output.volcano, name)
