# One job = a block of (condition, seed) models trained as one batched model.
rule train:
    input:
        data="results/data/fashion-mnist.pt",
    output:
        metrics="results/runs/{experiment}/{job}/metrics.parquet",
        runs="results/runs/{experiment}/{job}/runs.parquet",
    params:
        spec=job_spec_json,
        outdir=lambda w: job_dir(w.experiment, w.job),
    log:
        "logs/train/{experiment}/{job}.log",
    threads: 64  # capped at --cores: torch uses every core it is given
    resources:
        mem_mb=3000,
    shell:
        "OMP_NUM_THREADS={threads} dropout-study train --spec-json {params.spec:q} "
        "--out {params.outdir} 2> {log}"


rule aggregate:
    input:
        all_job_outputs(),
    output:
        metrics="results/metrics.parquet",
        runs="results/runs.parquet",
        activations="results/activations.parquet",
        jobs="results/jobs.json",
    params:
        dirs=lambda w, input: " ".join(str(Path(f).parent) for f in input),
    log:
        "logs/aggregate.log",
    shell:
        "dropout-study aggregate --out results {params.dirs} 2> {log}"
