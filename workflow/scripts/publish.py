"""Snakemake adapter: assemble results/publish (see tacit.publish)."""

import logging

from tacit.publish import build_bundle

logging.basicConfig(filename=snakemake.log[0], level=logging.INFO)
p = snakemake.params
tissues = {}
for tissue, predictions in zip(p.tissues, snakemake.input.predictions):
    entry = p.config["tissues"][tissue]
    tissues[tissue] = {
        "predictions": predictions,
        "predictions_species": entry.get("predictions_species"),
        "associations": {trait: f"{p.results}/{tissue}/{trait}/associations.tsv" for trait in p.traits},
        "model_files": [m for m in snakemake.input.models if m.startswith(f"{p.results}/{tissue}/model/")],
    }
files = build_bundle(snakemake.output[0], tissues, p.config, snakemake.input.dictionary)
logging.info("bundle %s: %d files", snakemake.output[0], len(files))
