# Figures for the Snakemake report (`make report`); each is also a file under results/.


rule plot_association:
    input:
        f"{RESULTS}/{{tissue}}/{{trait}}/associations.tsv",
    output:
        qq=report(
            f"{RESULTS}/{{tissue}}/{{trait}}/plots/qq.png",
            caption="../report/qq.rst",
            category="{tissue}",
            subcategory="{trait}",
        ),
        volcano=report(
            f"{RESULTS}/{{tissue}}/{{trait}}/plots/volcano.png",
            caption="../report/volcano.rst",
            category="{tissue}",
            subcategory="{trait}",
        ),
    log:
        f"logs/{{tissue}}/{{trait}}/plot_association.log",
    resources:
        mem_mb=1000,
        runtime=10,
    conda:
        "../../envs/associate.yaml"
    script:
        "../scripts/plot_association.py"


rule plot_top_ocrs:
    input:
        associations=f"{RESULTS}/{{tissue}}/{{trait}}/associations.tsv",
        predictions=predictions_of,
        tree=config["tree"],
        phenotypes=config["phenotypes"],
    output:
        report(
            f"{RESULTS}/{{tissue}}/{{trait}}/plots/top_ocrs.png",
            caption="../report/top_ocrs.rst",
            category="{tissue}",
            subcategory="{trait}",
        ),
    params:
        n_top=12,
        species=lambda wc: config["tissues"][wc.tissue].get("predictions_species", ""),
    log:
        f"logs/{{tissue}}/{{trait}}/plot_top_ocrs.log",
    resources:
        mem_mb=1000,
        runtime=10,
    conda:
        "../../envs/associate.yaml"
    script:
        "../scripts/plot_top_ocrs.py"


rule plot_model:
    input:
        history=f"{RESULTS}/{{tissue}}/model/history.tsv",
        heldout=f"{RESULTS}/{{tissue}}/model/heldout_predictions.tsv",
    output:
        curves=report(
            f"{RESULTS}/{{tissue}}/plots/training.png",
            caption="../report/training.rst",
            category="{tissue}",
            subcategory="model",
        ),
        roc_pr=report(
            f"{RESULTS}/{{tissue}}/plots/roc_pr.png",
            caption="../report/roc_pr.rst",
            category="{tissue}",
            subcategory="model",
        ),
    log:
        f"logs/{{tissue}}/plot_model.log",
    resources:
        mem_mb=1000,
        runtime=10,
    conda:
        "../../envs/associate.yaml"
    script:
        "../scripts/plot_model.py"


rule plot_ortholog_qc:
    input:
        mapping=f"{RESULTS}/{{tissue}}/orthologs/qc.tsv",
        sequences=f"{RESULTS}/{{tissue}}/sequences_qc.tsv",
    output:
        report(
            f"{RESULTS}/{{tissue}}/plots/ortholog_qc.png",
            caption="../report/ortholog_qc.rst",
            category="{tissue}",
            subcategory="orthologs",
        ),
    log:
        f"logs/{{tissue}}/plot_ortholog_qc.log",
    resources:
        mem_mb=1000,
        runtime=10,
    conda:
        "../../envs/associate.yaml"
    script:
        "../scripts/plot_ortholog_qc.py"
