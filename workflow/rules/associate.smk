# Stage 4: per OCR, phenotype ~ predicted activity by PGLS (BM), permulation p-values, BH FDR.


rule associate:
    input:
        matrix=rules.prediction_matrix.output,
        tree=config["tree"],
        phenotypes=config["phenotypes"],
    output:
        f"{RESULTS}/{{tissue}}/{{trait}}/associations.tsv",
    params:
        trait_type=lambda wc: TRAITS[wc.trait]["type"],
        permulations=config["association"]["permulations"],
        max_permulations=config["association"]["max_permulations"],
        perm_test=config["association"]["perm_test"],
        seed=config["association"]["seed"],
        min_fraction=config["association"]["min_species_fraction"],
    log:
        f"logs/{{tissue}}/{{trait}}/associate.log",
    benchmark:
        f"{RESULTS}/benchmarks/{{tissue}}/{{trait}}/associate.tsv"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=240,
    conda:
        "../../envs/associate.yaml"
    shell:
        "tacit associate --matrix {input.matrix} --tree {input.tree} --phenotypes {input.phenotypes}"
        " --trait {wildcards.trait} --trait-type {params.trait_type} --permulations {params.permulations}"
        " --max-permulations {params.max_permulations} --perm-test {params.perm_test} --seed {params.seed}"
        " --min-species-fraction {params.min_fraction} --out {output} 2> {log}"


rule recovery:
    input:
        associations=rules.associate.output,
        truth=config.get("truth") or [],
    output:
        f"{RESULTS}/{{tissue}}/{{trait}}/recovery.tsv",
    log:
        f"logs/{{tissue}}/{{trait}}/recovery.log",
    shell:
        "tacit evaluate --associations {input.associations} --truth {input.truth} --trait {wildcards.trait}"
        " --out {output} 2> {log}"
