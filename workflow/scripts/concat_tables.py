"""Snakemake adapter: concatenate TSV tables that share one header (per-species QC rows) into one."""

import logging

from tacit.io import atomic_writer, open_text

logging.basicConfig(filename=snakemake.log[0], level=logging.INFO, format="%(asctime)s %(message)s")
header = None
with atomic_writer(snakemake.output[0]) as out:
    for path in snakemake.input:
        with open_text(path) as handle:
            lines = handle.read().splitlines()
        if header is None:
            header = lines[0]
            out.write(header + "\n")
        elif lines[0] != header:
            raise ValueError(f"{path}: header differs from the first table's")
        out.writelines(line + "\n" for line in lines[1:])
logging.info("concatenated %d tables", len(snakemake.input))
