"""Snakemake adapter: the reference species' own orthologs (its peaks) and QC row, for chain and HAL runs."""

import logging

from tacit.orthologs import write_self_orthologs
from tacit.peaks import read_narrowpeak

logging.basicConfig(filename=snakemake.log[0], level=logging.INFO)
peaks = read_narrowpeak(snakemake.input.peaks)
write_self_orthologs(peaks, snakemake.params.species, snakemake.output.orthologs, snakemake.output.qc)
logging.info("%d reference peaks are their own orthologs", len(peaks))
