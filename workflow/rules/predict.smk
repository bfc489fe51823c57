# Stage 3: score every ortholog (forward and reverse complement averaged) and gather the matrix.


rule score_orthologs:
    input:
        model=model_of,
        fasta=rules.ortholog_sequences.output.fasta,
    output:
        f"{RESULTS}/{{tissue}}/scores/{{species}}.part{{part}}.tsv",
    params:
        parts=SCORING_PARTS,
        precision=config["scoring"]["precision"],
    log:
        f"logs/{{tissue}}/scores/{{species}}.part{{part}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/{{tissue}}/scores/{{species}}.part{{part}}.tsv"
    threads: 1
    resources:
        # TensorFlow and the model: ~0.8 GB resident (benchmarks/); streaming keeps it flat in the FASTA size.
        mem_mb=1500,
        # TACIT's architecture scores ~25 windows/s per CPU core in float32 (benchmarks/scoring.py: 49/s on 2
        # cores; ~4x that in mixed_bfloat16 on AMX CPUs): 500 bp = ~0.5 kB of FASTA each.
        runtime=lambda wc, input: 10 + int(input.size_mb * 1000 / 0.5 / 25 / 60 / SCORING_PARTS),
        **SCORING_GPU,
    conda:
        "../../envs/model.yaml"
    shell:
        "tacit score --model {input.model} --fasta {input.fasta} --out {output} --threads {threads}"
        " --part {wildcards.part} --parts {params.parts} --precision {params.precision} 2> {log}"


rule prediction_matrix:
    input:
        peaks=rules.select_ocrs.output.peaks,
        scores=expand(
            f"{RESULTS}/{{{{tissue}}}}/scores/{{species}}.part{{part}}.tsv", species=SPECIES, part=range(SCORING_PARTS)
        ),
    output:
        tsv=f"{RESULTS}/{{tissue}}/predictions.tsv.gz",
        parquet=f"{RESULTS}/{{tissue}}/predictions.parquet",
    log:
        f"logs/{{tissue}}/prediction_matrix.log",
    threads: 1
    resources:
        mem_mb=2000,
        runtime=30,
    conda:
        "../../envs/associate.yaml"
    shell:
        "tacit matrix --peaks {input.peaks} --scores {input.scores} --out {output.tsv} --parquet {output.parquet} 2> {log}"
