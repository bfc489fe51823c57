# Stage 1: orthologs of every reference OCR in every species, then summit-centred windows.

from tacit.workflow_config import ocr_selection_files, ocr_selection_options


rule select_ocrs:
    # Config ocr_selection (per tissue: tissues.<name>.ocr_selection): every filter off by default, and then
    # selected.narrowPeak is a copy of the peaks. Training uses all the peaks; mapping and the matrix these.
    input:
        peaks=tissue_option("peaks"),
        annotation_files=lambda wc: list(ocr_selection_files(config, wc.tissue).values()),
    output:
        peaks=f"{RESULTS}/{{tissue}}/ocrs/selected.narrowPeak",
        counts=f"{RESULTS}/{{tissue}}/ocrs/selection.tsv",
    params:
        options=lambda wc: ocr_selection_options(config, wc.tissue),
    log:
        f"logs/{{tissue}}/ocrs/select_ocrs.log",
    threads: 1
    resources:
        # Measured: a GENCODE-sized GTF (3.6 M lines, 1.6 GB of text) and 400,000 OCRs in 19 s and 370 MB.
        mem_mb=lambda wc, input: 1000 + int(input.size_mb),
        runtime=lambda wc, input: 10 + int(input.size_mb / 50),
    conda:
        "../../envs/orthologs.yaml"
    shell:
        "tacit select-ocrs --peaks {input.peaks} --out {output.peaks} --report {output.counts} {params.options}"
        " 2> {log}"


rule prepare_genome:
    # Plain and bgzip genomes are used in place: {species}.fa is a symbolic link to the source. A bgzip source
    # also gets {species}.fa.gzi, not declared (it exists for bgzip only); it is written before the .fai, which
    # readers take as the sign that the genome is fully indexed. Plain gzip is decompressed to {species}.fa.
    input:
        genome_source,
    output:
        fasta=f"{RESULTS}/genomes/{{species}}.fa",
        fai=f"{RESULTS}/genomes/{{species}}.fa.fai",
    log:
        f"logs/genomes/{{species}}.log",
    threads: 1
    resources:
        # Streaming, small memory. Time ~ genome size: gzip decompression ~1 GB/min; bgzip indexing reads
        # ~45 MB/s of FASTA text (measured), ~1 min per GB of bgzip, so the gzip bound covers both.
        mem_mb=500,
        runtime=lambda wc, input: 10 + int(input.size_mb * 4 / 1000),
    conda:
        "../../envs/orthologs.yaml"
    script:
        "../scripts/prepare_genome.py"


rule species_group:
    output:
        f"{RESULTS}/species/group{{group}}.txt",
    params:
        species=lambda wc: SPECIES_GROUPS[int(wc.group)],
    log:
        f"logs/species/group{{group}}.log",
    run:
        Path(output[0]).write_text("\n".join(params.species) + "\n")


if ALIGNMENT == "maf":
    # One streaming pass over the MAF per group of species (config orthologs.species_groups; default 1, all
    # species in one pass); rows of other species are skipped. Files and QC rows do not depend on the grouping.
    for group, members in enumerate(SPECIES_GROUPS):

        rule:
            name:
                f"map_orthologs_{group}"
            input:
                maf=config["alignment"]["maf"],
                peaks=rules.select_ocrs.output.peaks,
                species=f"{RESULTS}/species/group{group}.txt",
            output:
                orthologs=expand(f"{RESULTS}/{{{{tissue}}}}/orthologs/{{species}}.narrowPeak", species=members),
                qc=f"{RESULTS}/{{tissue}}/orthologs/qc.group{group}.tsv",
            params:
                reference=config["reference"],
                outdir=lambda wc: f"{RESULTS}/{wc.tissue}/orthologs",
                qc_name=f"qc.group{group}.tsv",
                min_len=config["orthologs"]["min_len"],
                max_len=config["orthologs"]["max_len"],
                protect_dist=config["orthologs"]["protect_dist"],
            log:
                f"logs/{{tissue}}/orthologs/map_orthologs_{group}.log",
            benchmark:
                f"{RESULTS}/benchmarks/{{tissue}}/map_orthologs_{group}.tsv"
            threads: 1
            resources:
                # One streaming pass: memory follows the peaks, not the MAF (40 MB on the demo); time ~ MAF size
                # at >= 20 MB/s of text (benchmarks/maf.py), i.e. ~5 MB/s of gzip.
                mem_mb=lambda wc, input: 1000 + int(input.size_mb),
                runtime=lambda wc, input: 30 + int(input.size_mb / 5 / 60 * 2),
            conda:
                "../../envs/orthologs.yaml"
            shell:
                "tacit maf-orthologs --maf {input.maf} --peaks {input.peaks} --reference {params.reference}"
                " --species-list {input.species} --only --out-dir {params.outdir} --qc-name {params.qc_name}"
                " --min-len {params.min_len} --max-len {params.max_len} --protect-dist {params.protect_dist}"
                " 2> {log}"

else:
    # Chain and HAL alignments map from the reference to one species at a time; the reference keeps its peaks.

    rule reference_orthologs:
        input:
            peaks=rules.select_ocrs.output.peaks,
        output:
            orthologs=f"{RESULTS}/{{tissue}}/orthologs/{config['reference']}.narrowPeak",
            qc=f"{RESULTS}/{{tissue}}/orthologs/{config['reference']}.qc.tsv",
        params:
            species=config["reference"],
        log:
            f"logs/{{tissue}}/orthologs/{config['reference']}.log",
        conda:
            "../../envs/orthologs.yaml"
        script:
            "../scripts/reference_orthologs.py"


if ALIGNMENT == "chain":

    rule chain_orthologs:
        input:
            chain=lambda wc: config["alignment"]["chains"].format(species=wc.species),
            peaks=rules.select_ocrs.output.peaks,
        output:
            orthologs=f"{RESULTS}/{{tissue}}/orthologs/{{species}}.narrowPeak",
            qc=f"{RESULTS}/{{tissue}}/orthologs/{{species}}.qc.tsv",
        wildcard_constraints:
            species=OTHER_SPECIES_PATTERN,
        params:
            min_len=config["orthologs"]["min_len"],
            max_len=config["orthologs"]["max_len"],
            protect_dist=config["orthologs"]["protect_dist"],
        log:
            f"logs/{{tissue}}/orthologs/{{species}}.log",
        threads: 1
        resources:
            mem_mb=lambda wc, input: 500 + int(input.size_mb * 20),
            runtime=60,
        conda:
            "../../envs/orthologs.yaml"
        shell:
            "tacit chain-orthologs --chain {input.chain} --peaks {input.peaks} --out {output.orthologs}"
            " --qc {output.qc} --species {wildcards.species} --min-len {params.min_len}"
            " --max-len {params.max_len} --protect-dist {params.protect_dist} 2> {log}"


if ALIGNMENT == "hal":

    rule liftover_inputs:
        input:
            peaks=rules.select_ocrs.output.peaks,
        output:
            peaks=f"{RESULTS}/{{tissue}}/lifted/query.bed",
            summits=f"{RESULTS}/{{tissue}}/lifted/summits.bed",
        log:
            f"logs/{{tissue}}/lifted/liftover_inputs.log",
        conda:
            "../../envs/orthologs.yaml"
        script:
            "../scripts/liftover_inputs.py"

    rule hal_liftover:
        input:
            hal=config["alignment"].get("hal", []),
            peaks=rules.liftover_inputs.output.peaks,
            summits=rules.liftover_inputs.output.summits,
        output:
            peaks=f"{RESULTS}/{{tissue}}/lifted/{{species}}.peaks.bed",
            summits=f"{RESULTS}/{{tissue}}/lifted/{{species}}.summits.bed",
        wildcard_constraints:
            species=OTHER_SPECIES_PATTERN,
        params:
            source=hal_genome(config["reference"]),
            target=lambda wc: hal_genome(wc.species),
        log:
            f"logs/{{tissue}}/lifted/{{species}}.log",
        threads: 1
        resources:
            mem_mb=4000,
            runtime=240,
        conda:
            "../../envs/hal.yaml"
        shell:
            "(halLiftover --bedType 4 {input.hal} {params.source} {input.peaks} {params.target} {output.peaks}"
            " && halLiftover {input.hal} {params.source} {input.summits} {params.target} {output.summits}) 2> {log}"

    rule halper:
        input:
            query=rules.liftover_inputs.output.peaks,
            peaks=rules.hal_liftover.output.peaks,
            summits=rules.hal_liftover.output.summits,
        output:
            orthologs=f"{RESULTS}/{{tissue}}/orthologs/{{species}}.narrowPeak",
            qc=f"{RESULTS}/{{tissue}}/orthologs/{{species}}.qc.tsv",
        wildcard_constraints:
            species=OTHER_SPECIES_PATTERN,
        params:
            min_len=config["orthologs"]["min_len"],
            max_len=config["orthologs"]["max_len"],
            protect_dist=config["orthologs"]["protect_dist"],
        log:
            f"logs/{{tissue}}/orthologs/{{species}}.log",
        threads: 1
        resources:
            mem_mb=2000,
            runtime=60,
        conda:
            "../../envs/orthologs.yaml"
        shell:
            "tacit halper --query {input.query} --target {input.peaks} --summits {input.summits}"
            " --out {output.orthologs} --narrowpeak --qc {output.qc} --species {wildcards.species}"
            " --min-len {params.min_len} --max-len {params.max_len} --protect-dist {params.protect_dist}"
            " --mult-keepone 2> {log}"


rule ortholog_sequences:
    input:
        orthologs=f"{RESULTS}/{{tissue}}/orthologs/{{species}}.narrowPeak",
        genome=rules.prepare_genome.output.fasta,
        fai=rules.prepare_genome.output.fai,
    output:
        fasta=f"{RESULTS}/{{tissue}}/sequences/{{species}}.fa",
        qc=f"{RESULTS}/{{tissue}}/sequences/{{species}}.qc.tsv",
    params:
        width=config["sequences"]["width"],
        max_n=config["sequences"]["max_n_fraction"],
    log:
        f"logs/{{tissue}}/sequences/{{species}}.log",
    threads: 1
    resources:
        mem_mb=1000,
        runtime=30,
    conda:
        "../../envs/orthologs.yaml"
    shell:
        "tacit sequences --orthologs {input.orthologs} --genome {input.genome} --species {wildcards.species}"
        " --out {output.fasta} --qc {output.qc} --width {params.width} --max-n-fraction {params.max_n} 2> {log}"


rule sequences_qc:
    input:
        expand(f"{RESULTS}/{{{{tissue}}}}/sequences/{{species}}.qc.tsv", species=SPECIES),
    output:
        f"{RESULTS}/{{tissue}}/sequences_qc.tsv",
    log:
        f"logs/{{tissue}}/sequences_qc.log",
    conda:
        "../../envs/orthologs.yaml"
    script:
        "../scripts/concat_tables.py"


rule ortholog_qc:
    input:
        ortholog_qc_parts,
    output:
        f"{RESULTS}/{{tissue}}/orthologs/qc.tsv",
    log:
        f"logs/{{tissue}}/orthologs/qc.log",
    conda:
        "../../envs/orthologs.yaml"
    script:
        "../scripts/concat_tables.py"
