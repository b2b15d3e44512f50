# One job = a block of (condition, seed) models trained as one batched model.
rule train:
    input:
        data="results/data/fashion-mnist.pt",
    output:
        metrics="results/runs/{experiment,(?!noise_final)[a-z_]+}/{job}/metrics.parquet",
        runs="results/runs/{experiment,(?!noise_final)[a-z_]+}/{job}/runs.parquet",
    params:
        spec=job_spec_json,
        outdir=lambda w: job_dir(w.experiment, w.job),
        on_failure=on_failure,
    log:
        "logs/train/{experiment}/{job}.log",
    benchmark:
        "benchmarks/train/{experiment}/{job}.tsv"
    threads: STUDY.get("threads_per_job") or 1024  # capped at --cores; torch uses them all
    resources:
        mem_mb=3000,
        runtime=lambda w: runtime_minutes(
            JOB_INDEX[(w.experiment, w.job)], TRAIN_SIZE, DEVICE_KIND
        ),
        gpu=1 if STUDY["device"] == "cuda" else 0,
    shell:
        "OMP_NUM_THREADS={threads} dropout-study train --spec-json {params.spec:q} "
        "--out {params.outdir} --on-failure {params.on_failure} 2> {log}"


# Exercise 7's final jobs: the same, once the tuning stage has chosen their strengths. A rule
# of its own, so that a cluster groups them apart from the jobs they wait for.
use rule train as train_selected with:
    input:
        data="results/data/fashion-mnist.pt",
        selection=NOISE_SELECTION,
    output:
        metrics="results/runs/{experiment,noise_final}/{job}/metrics.parquet",
        runs="results/runs/{experiment,noise_final}/{job}/runs.parquet",
    benchmark:
        "benchmarks/train_selected/{experiment}/{job}.tsv"


rule aggregate:
    input:
        all_job_outputs(),
    output:
        metrics="results/metrics.parquet",
        runs="results/runs.parquet",
        activations="results/activations.parquet",
        jobs="results/jobs.json",
        failed="results/failed_jobs.json",
    params:
        dirs=lambda w, input: " ".join(str(Path(f).parent) for f in input),
    log:
        "logs/aggregate.log",
    benchmark:
        "benchmarks/aggregate.tsv"
    shell:
        "dropout-study aggregate --out results {params.dirs} 2> {log}"


# Exercise 4: evaluation only, on the saved weights of the exercise-1 jobs that hold the model.
rule test_time:
    input:
        metrics="results/runs/layer_rates/{job}/metrics.parquet",
        data="results/data/fashion-mnist.pt",
    output:
        "results/eval/test_time/{job}.parquet",
        "results/eval/test_time/{job}_models.parquet",
    params:
        weights="results/runs/layer_rates/{job}/weights.pt",
        condition=TEST_TIME_CONDITION,
        passes=",".join(str(t) for t in STUDY["experiments"].get("test_time", {}).get("passes", [1])),
        device=STUDY["device"],
    log:
        "logs/test_time/{job}.log",
    benchmark:
        "benchmarks/test_time/{job}.tsv"
    threads: STUDY.get("threads_per_job") or 1024
    shell:
        "OMP_NUM_THREADS={threads} dropout-study test-time --weights {params.weights} "
        "--condition {params.condition:q} --data {input.data} --passes {params.passes} "
        "--device {params.device} --out {output[0]} 2> {log}"


rule aggregate_test_time:
    input:
        mc=[f"results/eval/test_time/{j}.parquet" for j in TEST_TIME_JOBS],
        models=[f"results/eval/test_time/{j}_models.parquet" for j in TEST_TIME_JOBS],
    output:
        mc="results/test_time.parquet",
        models="results/test_time_models.parquet",
    log:
        "logs/aggregate_test_time.log",
    benchmark:
        "benchmarks/aggregate_test_time.tsv"
    shell:
        "(dropout-study concat --out {output.mc} {input.mc} && "
        "dropout-study concat --out {output.models} {input.models}) 2> {log}"


# Exercise 7: the strengths chosen on validation by the tuning jobs feed the final jobs.
rule select_noise:
    input:
        [f"{job_dir('noise_tuning', j.job)}/metrics.parquet" for j in JOBS.get("noise_tuning", [])],
    output:
        NOISE_SELECTION,
    params:
        dirs=lambda w, input: " ".join(str(Path(f).parent) for f in input),
        k=STUDY["analysis"].get("endpoint_epochs", 3),
    log:
        "logs/select_noise.log",
    benchmark:
        "benchmarks/select_noise.tsv"
    shell:
        "dropout-study select-noise --endpoint-epochs {params.k} --out {output} {params.dirs} 2> {log}"
