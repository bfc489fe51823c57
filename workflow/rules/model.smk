# Stage 2: the tissue CNN, trained on reference OCRs vs negatives (of the kinds the tissue asks for) with
# chromosome hold-out.

from tacit.workflow_config import other_tissue_peaks


rule train_model:
    input:
        genome=f"{RESULTS}/genomes/{config['reference']}.fa",
        fai=f"{RESULTS}/genomes/{config['reference']}.fa.fai",
        peaks=tissue_option("peaks"),
        negatives=tissue_option("negatives"),
        closed_orthologs=tissue_option("closed_orthologs", []),
        other_tissue_peaks=lambda wc: other_tissue_peaks(config, wc.tissue),
        # The tissue in other species: its OCRs, the reference OCRs' orthologs there and its genome.
        species_peaks=lambda wc: list(config["tissues"][wc.tissue].get("species_peaks", {}).values()),
        species_orthologs=lambda wc: [f"{RESULTS}/{wc.tissue}/orthologs/{s}.narrowPeak"
                                      for s in config["tissues"][wc.tissue].get("species_peaks", {})],
        species_genomes=lambda wc: [f"{RESULTS}/genomes/{s}.fa"
                                    for s in config["tissues"][wc.tissue].get("species_peaks", {})],
        spec=tissue_option("model_spec"),
    output:
        model=f"{RESULTS}/{{tissue}}/model/model.keras",
        metrics=f"{RESULTS}/{{tissue}}/model/metrics.tsv",
        history=f"{RESULTS}/{{tissue}}/model/history.tsv",
        heldout=f"{RESULTS}/{{tissue}}/model/heldout_predictions.tsv",
        card=f"{RESULTS}/{{tissue}}/model/card.md",
        windows=f"{RESULTS}/{{tissue}}/model/windows.tsv",
    params:
        outdir=lambda wc: f"{RESULTS}/{wc.tissue}/model",
        negatives=lambda wc, input: " ".join(
            [f"--negatives {n}" for n in input.negatives]
            + [f"--closed-orthologs {n}" for n in input.closed_orthologs]
            + [f"--other-tissue-peaks {p}" for p in input.other_tissue_peaks]
            + [f"--species {s} {g} {p} {o}" for s, g, p, o in zip(
                config["tissues"][wc.tissue].get("species_peaks", {}), input.species_genomes, input.species_peaks,
                input.species_orthologs)]
        ),
        gc_matched=tissue_option("gc_matched_negatives", 0),
        shuffled=tissue_option("shuffled_negatives", 0),
        val=lambda wc: " ".join(config["tissues"][wc.tissue].get("val_chroms", [])),
        test=lambda wc: " ".join(config["tissues"][wc.tissue].get("test_chroms", [])),
        seed=tissue_option("seed", 1),
        width=config["sequences"]["width"],
    log:
        f"logs/{{tissue}}/model/train_model.log",
    benchmark:
        f"{RESULTS}/benchmarks/{{tissue}}/train_model.tsv"
    threads: 2
    resources:
        # Measured 744 MB on the demo (1,415 windows): TensorFlow ~0.6 GB plus the one-hot windows in memory
        # (width x 4 x 4 bytes x 2 strands each, ~16 kB at 500 bp): ~2.5 GB per 100,000 regions, i.e. per
        # ~5 MB of peak and negative BED text (generated negatives counted as more copies of the peaks).
        mem_mb=lambda wc, input: 2000 + int(region_files_mb(wc, input) * 500),
        runtime=lambda wc, input: 60 + int(region_files_mb(wc, input) * 60),
    conda:
        "../../envs/model.yaml"
    shell:
        "tacit train --spec {input.spec} --genome {input.genome} --positives {input.peaks} {params.negatives}"
        " --gc-matched {params.gc_matched} --shuffled-positives {params.shuffled}"
        " --out-dir {params.outdir} --width {params.width} --val-chroms {params.val} --test-chroms {params.test}"
        " --seed {params.seed} --threads {threads} --tissue {wildcards.tissue} 2> {log}"
