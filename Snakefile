# TACIT as a Snakemake workflow: OCR orthologs -> tissue CNN -> predicted activity -> phylogenetic association.
#
# Results path convention (under config["results"], default "results/"):
#   genomes/{species}.fa(.fai, .gzi)           indexed genomes, links to plain/bgzip sources (built once)
#   {tissue}/ocrs/selected.narrowPeak          the OCRs that pass config ocr_selection (+ selection.tsv)
#   {tissue}/orthologs/{species}.narrowPeak    ortholog of every OCR in every species (+ qc.tsv)
#   {tissue}/sequences/{species}.fa            summit-centred windows (+ sequences_qc.tsv)
#   {tissue}/model/                            model.keras, metrics.tsv, history.tsv, card.md
#   {tissue}/predictions.tsv.gz                OCR x species predicted activity (empty = no ortholog)
#   {tissue}/{trait}/associations.tsv          PGLS + permulations + FDR per OCR
#   {tissue}/plots/, {tissue}/{trait}/plots/   report figures (make report -> results/report.html)
# Logs mirror these paths under logs/.

from snakemake.utils import min_version

min_version("8.0")


configfile: "config/config.yaml"


report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"
include: "workflow/rules/orthologs.smk"
include: "workflow/rules/model.smk"
include: "workflow/rules/predict.smk"
include: "workflow/rules/associate.smk"
include: "workflow/rules/report.smk"
include: "workflow/rules/publish.smk"


rule all:
    input:
        all_outputs(),
    default_target: True
