"""Snakemake adapter: per-species ortholog mapping and extraction QC as stacked bars."""

import logging

import pandas as pd

from tacit.plots import ortholog_qc

logging.basicConfig(filename=snakemake.log[0], level=logging.INFO)
mapping = pd.read_csv(snakemake.input.mapping, sep="\t")
sequences = pd.read_csv(snakemake.input.sequences, sep="\t")
ortholog_qc(mapping, sequences, snakemake.output[0], f"{snakemake.wildcards.tissue}: orthologs per species")
