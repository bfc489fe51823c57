"""Snakemake adapter: concatenate TSV tables that share one header (per-species QC rows) into one."""

import logging

from tacit.io import atomic_writer, open_text

logging.basicConfig(filename=snakemake.log[0], level=logging.INFO, format="%(asctime)s %(message)s")
header, rows = None, []
for path in snakemake.input:
    with open_text(path) as handle:
        lines = handle.read().splitlines()
    if header is None:
        header = lines[0]
    elif lines[0] != header:
        raise ValueError(f"{path}: header differs from the first table's")
    rows += lines[1:]
with atomic_writer(snakemake.output[0]) as out:
    # Rows sorted by their first column (species), whatever the order of the inputs.
    out.write(header + "\n" + "".join(row + "\n" for row in sorted(rows, key=lambda r: r.split("\t", 1)[0])))
logging.info("concatenated %d tables", len(snakemake.input))
