# One job = a block of (condition, seed) models trained as one batched model. Every file it
# writes is an output; exercise 1's jobs also keep their final weights (exercise 4 reads them),
# exercise 7's final jobs read the tuning stage's choice: each a rule of its own below.
rule train:
    input:
        data=RESULTS + "/data/fashion-mnist.pt",
    output:
        metrics=RESULTS + "/runs/{experiment}/{job}/metrics.parquet",
        runs=RESULTS + "/runs/{experiment}/{job}/runs.parquet",
        activations=RESULTS + "/runs/{experiment}/{job}/activations.parquet",
        job=RESULTS + "/runs/{experiment}/{job}/job.json",
        spec=RESULTS + "/runs/{experiment}/{job}/spec.json",
    log:
        LOGS + "/train/{experiment}/{job}.log",
    benchmark:
        BENCHMARKS + "/train/{experiment}/{job}.tsv"
    wildcard_constraints:
        experiment="(?!noise_final/|layer_rates/)[a-z_]+",
    retries: TRAIN_ATTEMPTS - 1
    threads: STUDY.get("threads_per_job") or 1024  # capped at --cores; torch uses them all
    resources:
        mem_mb=3000,
        runtime=lambda w: runtime_minutes(
            JOB_INDEX[(w.experiment, w.job)], TRAIN_SIZE, DEVICE_KIND
        ),
        gpu=1 if STUDY["device"] == "cuda" else 0,
        attempt=lambda w, attempt: attempt,
    params:
        spec=job_spec_json,
        outdir=lambda w, output: str(Path(output.metrics).parent),
        attempts=TRAIN_ATTEMPTS,
        on_failure=ON_FAILURE,
    shell:
        "OMP_NUM_THREADS={threads} dropout-study train --spec-json {params.spec:q} "
        "--out {params.outdir} --attempt {resources.attempt} --attempts {params.attempts} "
        "--on-failure {params.on_failure} 2> {log}"


use rule train as train_keeping_weights with:
    output:
        metrics=RESULTS + "/runs/{experiment}/{job}/metrics.parquet",
        runs=RESULTS + "/runs/{experiment}/{job}/runs.parquet",
        activations=RESULTS + "/runs/{experiment}/{job}/activations.parquet",
        job=RESULTS + "/runs/{experiment}/{job}/job.json",
        spec=RESULTS + "/runs/{experiment}/{job}/spec.json",
        weights=RESULTS + "/runs/{experiment}/{job}/weights.pt",
    benchmark:
        BENCHMARKS + "/train_keeping_weights/{experiment}/{job}.tsv"
    wildcard_constraints:
        experiment="layer_rates",


# Exercise 7's final jobs: once the tuning stage has chosen their strengths. A rule of its
# own also so that a cluster groups them apart from the jobs they wait for.
use rule train as train_selected with:
    input:
        data=RESULTS + "/data/fashion-mnist.pt",
        selection=NOISE_SELECTION,
    output:
        metrics=RESULTS + "/runs/{experiment}/{job}/metrics.parquet",
        runs=RESULTS + "/runs/{experiment}/{job}/runs.parquet",
        activations=RESULTS + "/runs/{experiment}/{job}/activations.parquet",
        job=RESULTS + "/runs/{experiment}/{job}/job.json",
        spec=RESULTS + "/runs/{experiment}/{job}/spec.json",
    benchmark:
        BENCHMARKS + "/train_selected/{experiment}/{job}.tsv"
    wildcard_constraints:
        experiment="noise_final",


rule aggregate:
    input:
        all_job_outputs("metrics.parquet"),
        all_job_outputs("runs.parquet"),
        all_job_outputs("activations.parquet"),
        all_job_outputs("job.json"),
    output:
        metrics=RESULTS + "/metrics.parquet",
        runs=RESULTS + "/runs.parquet",
        activations=RESULTS + "/activations.parquet",
        jobs=RESULTS + "/jobs.json",
        failed=RESULTS + "/failed_jobs.json",
    log:
        LOGS + "/aggregate.log",
    benchmark:
        BENCHMARKS + "/aggregate.tsv"
    params:
        dirs=lambda w, input: " ".join(
            str(Path(f).parent) for f in input[: len(JOB_INDEX)]
        ),
        out=lambda w, output: str(Path(output.metrics).parent),
    shell:
        "dropout-study aggregate --out {params.out} {params.dirs} 2> {log}"


# Exercise 4: evaluation only, on the saved weights of the exercise-1 jobs that hold the model.
rule test_time:
    input:
        weights=RESULTS + "/runs/layer_rates/{job}/weights.pt",
        data=RESULTS + "/data/fashion-mnist.pt",
    output:
        mc=RESULTS + "/eval/test_time/{job}.parquet",
        models=RESULTS + "/eval/test_time/{job}_models.parquet",
    log:
        LOGS + "/test_time/{job}.log",
    benchmark:
        BENCHMARKS + "/test_time/{job}.tsv"
    threads: STUDY.get("threads_per_job") or 1024
    params:
        condition=TEST_TIME_CONDITION,
        passes=",".join(
            str(t)
            for t in STUDY["experiments"].get("test_time", {}).get("passes", [1])
        ),
        device=STUDY["device"],
    shell:
        "OMP_NUM_THREADS={threads} dropout-study test-time --weights {input.weights} "
        "--condition {params.condition:q} --data {input.data} --passes {params.passes} "
        "--device {params.device} --out {output.mc} --models-out {output.models} 2> {log}"


rule aggregate_test_time:
    input:
        mc=[f"{RESULTS}/eval/test_time/{j}.parquet" for j in TEST_TIME_JOBS],
        models=[f"{RESULTS}/eval/test_time/{j}_models.parquet" for j in TEST_TIME_JOBS],
    output:
        mc=RESULTS + "/test_time.parquet",
        models=RESULTS + "/test_time_models.parquet",
    log:
        LOGS + "/aggregate_test_time.log",
    benchmark:
        BENCHMARKS + "/aggregate_test_time.tsv"
    shell:
        "(dropout-study concat --out {output.mc} {input.mc} && "
        "dropout-study concat --out {output.models} {input.models}) 2> {log}"


# Exercise 7: the strengths chosen on validation by the tuning jobs feed the final jobs.
rule select_noise:
    input:
        metrics=[
            f"{job_dir('noise_tuning', j.job)}/metrics.parquet"
            for j in JOBS.get("noise_tuning", [])
        ],
        runs=[
            f"{job_dir('noise_tuning', j.job)}/runs.parquet"
            for j in JOBS.get("noise_tuning", [])
        ],
    output:
        NOISE_SELECTION,
    log:
        LOGS + "/select_noise.log",
    benchmark:
        BENCHMARKS + "/select_noise.tsv"
    params:
        dirs=lambda w, input: " ".join(str(Path(f).parent) for f in input.metrics),
        k=STUDY["analysis"].get("endpoint_epochs", 3),
    shell:
        "dropout-study select-noise --endpoint-epochs {params.k} --out {output} {params.dirs} "
        "2> {log}"
