# `make publish`: a bundle to deposit and download (tables, models, data dictionary, config, SHA256SUMS).


PUBLISHED_TRAIT_FILES = ("associations.tsv", "species.tsv")
PUBLISHED_MODEL_FILES = ("model.keras", "card.md", "metrics.tsv", "windows.tsv")


rule publish:
    input:
        predictions=[predictions_path(t) for t in TISSUES],
        trait_files=[f"{RESULTS}/{t}/{trait}/{f}" for t in TISSUES for trait in TRAITS for f in PUBLISHED_TRAIT_FILES],
        models=[f"{RESULTS}/{t}/model/{f}" for t in TRAINED for f in PUBLISHED_MODEL_FILES],
        dictionary=workflow.source_path("../../docs/tables.md"),
    output:
        directory(f"{RESULTS}/publish"),
    params:
        tissues=TISSUES,
        traits=list(TRAITS),
        trained=TRAINED,
        trait_files=PUBLISHED_TRAIT_FILES,
        model_files=PUBLISHED_MODEL_FILES,
        config=config,
    log:
        "logs/publish.log",
    conda:
        "../../envs/associate.yaml"
    script:
        "../scripts/publish.py"
