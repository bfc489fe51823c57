"""Snakemake adapter: BED4 of the peaks and of their 1-bp summits, the inputs of halLiftover and HALPER."""

import logging

from tacit.orthologs import write_liftover_inputs
from tacit.peaks import read_narrowpeak

logging.basicConfig(filename=snakemake.log[0], level=logging.INFO)
peaks = read_narrowpeak(snakemake.input.peaks)
write_liftover_inputs(peaks, snakemake.output.peaks, snakemake.output.summits)
logging.info("%d peaks and summits written for halLiftover", len(peaks))
