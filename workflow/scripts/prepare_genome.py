"""Snakemake adapter: decompress (if needed) and index one genome FASTA with pyfaidx."""

import logging

from tacit.genome import prepare_genome

logging.basicConfig(filename=snakemake.log[0], level=logging.INFO, format="%(asctime)s %(message)s")
prepare_genome(snakemake.input[0], snakemake.output.fasta)
