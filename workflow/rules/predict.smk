# Stage 3: score every ortholog (forward and reverse complement averaged) and gather the matrix.


rule score_orthologs:
    input:
        model=model_of,
        fasta=rules.ortholog_sequences.output.fasta,
    output:
        f"{RESULTS}/{{tissue}}/scores/{{species}}.tsv",
    log:
        f"logs/{{tissue}}/scores/{{species}}.log",
    threads: 1
    resources:
        mem_mb=2000,
        runtime=60,
    conda:
        "../../envs/model.yaml"
    shell:
        "tacit score --model {input.model} --fasta {input.fasta} --out {output} --threads {threads} 2> {log}"


rule prediction_matrix:
    input:
        peaks=tissue_option("peaks"),
        scores=expand(f"{RESULTS}/{{{{tissue}}}}/scores/{{species}}.tsv", species=SPECIES),
    output:
        f"{RESULTS}/{{tissue}}/predictions.tsv.gz",
    log:
        f"logs/{{tissue}}/prediction_matrix.log",
    threads: 1
    resources:
        mem_mb=2000,
        runtime=30,
    conda:
        "../../envs/associate.yaml"
    shell:
        "tacit matrix --peaks {input.peaks} --scores {input.scores} --out {output} 2> {log}"
