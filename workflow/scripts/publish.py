"""Snakemake adapter: assemble results/publish (see tacit.publish)."""

import logging

from tacit.publish import build_bundle

logging.basicConfig(filename=snakemake.log[0], level=logging.INFO)
p = snakemake.params
tissues = {}
trait_files = iter(snakemake.input.trait_files)  # tissue-major, traits in config order, len(p.trait_files) each
models = iter(snakemake.input.models)  # p.model_files per trained tissue
for tissue, predictions in zip(p.tissues, snakemake.input.predictions):
    entry = p.config["tissues"][tissue]
    tissues[tissue] = {
        "predictions": predictions,
        "predictions_species": entry.get("predictions_species"),
        "trait_files": {trait: [next(trait_files) for _ in p.trait_files] for trait in p.traits},
        "model_files": [next(models) for _ in p.model_files] if tissue in p.trained else [],
    }
files = build_bundle(snakemake.output[0], tissues, p.config, snakemake.input.dictionary)
logging.info("bundle %s: %d files", snakemake.output[0], len(files))
