# `make publish`: a bundle to deposit and download (tables, models, data dictionary, config, SHA256SUMS).


rule publish:
    input:
        predictions=[predictions_path(t) for t in TISSUES],
        associations=[f"{RESULTS}/{t}/{trait}/associations.tsv" for t in TISSUES for trait in TRAITS],
        models=[f"{RESULTS}/{t}/model/{f}" for t in TRAINED for f in ("model.keras", "card.md", "metrics.tsv")],
        dictionary=workflow.source_path("../../docs/tables.md"),
    output:
        directory(f"{RESULTS}/publish"),
    params:
        tissues=TISSUES,
        traits=list(TRAITS),
        trained=TRAINED,
        config=config,
    log:
        "logs/publish.log",
    conda:
        "../../envs/associate.yaml"
    script:
        "../scripts/publish.py"
