# Stage 4: per OCR, phenotype ~ predicted activity by PGLS (BM) or phyloglm, permulation p-values, BH FDR.
# OCRs are scattered into association.chunks slices and gathered with FDR over all of them; the table is
# byte-identical whatever the chunk count. Each chunk checkpoints its finished OCR blocks and permulation
# rounds in chunks/{chunk}.checkpoint/ (not an output, so a killed or timed-out job's rerun resumes from it).


rule associate_chunk:
    input:
        matrix=predictions_of,
        tree=config["tree"],
        phenotypes=config["phenotypes"],
    output:
        f"{RESULTS}/{{tissue}}/{{trait}}/chunks/{{chunk}}.tsv",
    params:
        trait_type=lambda wc: TRAITS[wc.trait]["type"],
        permulations=lambda wc: TRAITS[wc.trait].get("permulations", config["association"]["permulations"]),
        max_permulations=lambda wc: TRAITS[wc.trait].get(
            "max_permulations", config["association"]["max_permulations"]
        ),
        covariates=lambda wc: "".join(f" --covariate {c}" for c in TRAITS[wc.trait].get("covariates", [])),
        perm_test=config["association"]["perm_test"],
        seed=config["association"]["seed"],
        max_draws=config["association"]["max_draws_per_permulation"],
        min_fraction=config["association"]["min_species_fraction"],
        species=predictions_species_option,
        chunks=ASSOCIATION_CHUNKS,
        checkpoint=lambda wc: f"{RESULTS}/{wc.tissue}/{wc.trait}/chunks/{wc.chunk}.checkpoint",
    log:
        f"logs/{{tissue}}/{{trait}}/associate_{{chunk}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/{{tissue}}/{{trait}}/associate_{{chunk}}.tsv"
    threads: 2
    resources:
        # The matrix is read 20,000 OCRs at a time: memory does not grow with it (measured: 161 MB on the
        # demo; see benchmarks/association_memory.py for 400,000 OCRs x 241 species).
        mem_mb=1500,
        runtime=lambda wc, input: 60 + int(60 * input.size_mb / ASSOCIATION_CHUNKS),
    conda:
        "../../envs/associate.yaml"
    shell:
        "tacit associate --matrix {input.matrix} {params.species} --tree {input.tree} --phenotypes {input.phenotypes}"
        " --trait {wildcards.trait} --trait-type {params.trait_type}{params.covariates} --permulations {params.permulations}"
        " --max-permulations {params.max_permulations} --perm-test {params.perm_test} --seed {params.seed}"
        " --max-draws-per-permulation {params.max_draws}"
        " --min-species-fraction {params.min_fraction} --chunk {wildcards.chunk} --chunks {params.chunks}"
        " --checkpoint {params.checkpoint} --threads {threads} --out {output} 2> {log}"


rule associate:
    input:
        expand(f"{RESULTS}/{{{{tissue}}}}/{{{{trait}}}}/chunks/{{chunk}}.tsv", chunk=range(ASSOCIATION_CHUNKS)),
    output:
        tsv=f"{RESULTS}/{{tissue}}/{{trait}}/associations.tsv",
        parquet=f"{RESULTS}/{{tissue}}/{{trait}}/associations.parquet",
    log:
        f"logs/{{tissue}}/{{trait}}/associate.log",
    threads: 1
    resources:
        mem_mb=lambda wc, input: 500 + int(10 * input.size_mb),
        runtime=30,
    conda:
        "../../envs/associate.yaml"
    shell:
        "tacit gather --parts {input} --out {output.tsv} --parquet {output.parquet} 2> {log}"


rule species_report:
    input:
        matrix=predictions_of,
        tree=config["tree"],
        phenotypes=config["phenotypes"],
    output:
        report(
            f"{RESULTS}/{{tissue}}/{{trait}}/species.tsv",
            caption="../report/species.rst",
            category="{tissue}",
            subcategory="{trait}",
        ),
    params:
        trait_type=lambda wc: TRAITS[wc.trait]["type"],
        covariates=lambda wc: "".join(f" --covariate {c}" for c in TRAITS[wc.trait].get("covariates", [])),
        species=predictions_species_option,
    log:
        f"logs/{{tissue}}/{{trait}}/species_report.log",
    resources:
        mem_mb=500,
        runtime=10,
    conda:
        "../../envs/associate.yaml"
    shell:
        "tacit species-report --matrix {input.matrix} {params.species} --tree {input.tree}"
        " --phenotypes {input.phenotypes} --trait {wildcards.trait} --trait-type {params.trait_type}{params.covariates}"
        " --out {output} 2> {log}"


rule recovery:
    input:
        associations=rules.associate.output.tsv,
        truth=config.get("truth") or [],
    output:
        f"{RESULTS}/{{tissue}}/{{trait}}/recovery.tsv",
    log:
        f"logs/{{tissue}}/{{trait}}/recovery.log",
    conda:
        "../../envs/associate.yaml"
    shell:
        "tacit evaluate --associations {input.associations} --truth {input.truth} --trait {wildcards.trait}"
        " --out {output} 2> {log}"
