# One job = a block of (condition, seed) models trained as one batched model. Every file it
# writes is an output; exercise 1's jobs also keep their final weights (exercise 4 reads them),
# exercise 7's final jobs read the tuning stage's choice: each a rule of its own below.
rule train:
    input:
        data=f"{RESULTS}/data/fashion-mnist.pt",
    output:
        metrics=f"{RESULTS}/runs/{{experiment}}/{{job}}/metrics.parquet",
        runs=f"{RESULTS}/runs/{{experiment}}/{{job}}/runs.parquet",
        activations=f"{RESULTS}/runs/{{experiment}}/{{job}}/activations.parquet",
        job=f"{RESULTS}/runs/{{experiment}}/{{job}}/job.json",
        spec=f"{RESULTS}/runs/{{experiment}}/{{job}}/spec.json",
    log:
        f"{LOGS}/train/{{experiment}}/{{job}}.log",
    benchmark:
        f"{BENCHMARKS}/train/{{experiment}}/{{job}}.tsv"
    wildcard_constraints:
        experiment="(?!noise_final/|layer_rates/)[a-z_]+",
    retries: TRAIN_ATTEMPTS - 1
    threads: TRAIN_THREADS  # capped at --cores; torch uses them all
    resources:
        mem_mb=3000,
        runtime=lambda w: runtime_minutes(
            job_spec(w.experiment, w.job), TRAIN_SIZE, DEVICE_KIND
        ),
        # one GPU per training job on CUDA: --resources gpu=N runs N at a time (the job
        # claims a free GPU itself, train/job.py), and a cluster gives each job one
        gpu=1 if DEVICE_KIND == "cuda" else 0,
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
        metrics=f"{RESULTS}/runs/{{experiment}}/{{job}}/metrics.parquet",
        runs=f"{RESULTS}/runs/{{experiment}}/{{job}}/runs.parquet",
        activations=f"{RESULTS}/runs/{{experiment}}/{{job}}/activations.parquet",
        job=f"{RESULTS}/runs/{{experiment}}/{{job}}/job.json",
        spec=f"{RESULTS}/runs/{{experiment}}/{{job}}/spec.json",
        weights=f"{RESULTS}/runs/{{experiment}}/{{job}}/weights.pt",
    benchmark:
        f"{BENCHMARKS}/train_keeping_weights/{{experiment}}/{{job}}.tsv"
    wildcard_constraints:
        experiment="layer_rates",


# Exercise 7's final jobs: once the tuning stage has chosen their strengths. A rule of its
# own also so that a cluster groups them apart from the jobs they wait for.
use rule train as train_selected with:
    input:
        data=f"{RESULTS}/data/fashion-mnist.pt",
        selection=NOISE_SELECTION,
    output:
        metrics=f"{RESULTS}/runs/{{experiment}}/{{job}}/metrics.parquet",
        runs=f"{RESULTS}/runs/{{experiment}}/{{job}}/runs.parquet",
        activations=f"{RESULTS}/runs/{{experiment}}/{{job}}/activations.parquet",
        job=f"{RESULTS}/runs/{{experiment}}/{{job}}/job.json",
        spec=f"{RESULTS}/runs/{{experiment}}/{{job}}/spec.json",
    benchmark:
        f"{BENCHMARKS}/train_selected/{{experiment}}/{{job}}.tsv"
    wildcard_constraints:
        experiment="noise_final",


rule aggregate:
    input:
        jobs=lambda w: job_outputs(final_jobs(), "job.json"),
        tables=lambda w: [
            f
            for name in ("metrics", "runs", "activations")
            for f in job_outputs(final_jobs(), f"{name}.parquet")
        ],
    output:
        metrics=f"{RESULTS}/metrics.parquet",
        runs=f"{RESULTS}/runs.parquet",
        activations=f"{RESULTS}/activations.parquet",
        jobs=f"{RESULTS}/jobs.json",
        failed=f"{RESULTS}/failed_jobs.json",
        # what the jobs recorded of where they ran: every package (pip-freeze lines), the machine
        lock=f"{RESULTS}/environment.lock",
        machine=f"{RESULTS}/machine.json",
    log:
        f"{LOGS}/aggregate.log",
    benchmark:
        f"{BENCHMARKS}/aggregate.tsv"
    params:
        dirs=lambda w, input: " ".join(str(Path(f).parent) for f in input.jobs),
        out=lambda w, output: str(Path(output.metrics).parent),
    shell:
        "dropout-study aggregate --out {params.out} {params.dirs} 2> {log}"


# Exercise 4: evaluation only, on the saved weights of the exercise-1 jobs that hold the model.
rule test_time:
    input:
        weights=f"{RESULTS}/runs/layer_rates/{{job}}/weights.pt",
        data=f"{RESULTS}/data/fashion-mnist.pt",
    output:
        mc=f"{RESULTS}/eval/test_time/{{job}}.parquet",
        models=f"{RESULTS}/eval/test_time/{{job}}_models.parquet",
    log:
        f"{LOGS}/test_time/{{job}}.log",
    benchmark:
        f"{BENCHMARKS}/test_time/{{job}}.tsv"
    threads: TRAIN_THREADS
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
        mc=lambda w: test_time_outputs(final_jobs()),
        models=lambda w: test_time_outputs(final_jobs(), "_models"),
    output:
        mc=f"{RESULTS}/test_time.parquet",
        models=f"{RESULTS}/test_time_models.parquet",
    log:
        f"{LOGS}/aggregate_test_time.log",
    benchmark:
        f"{BENCHMARKS}/aggregate_test_time.tsv"
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
        f"{LOGS}/select_noise.log",
    benchmark:
        f"{BENCHMARKS}/select_noise.tsv"
    params:
        dirs=lambda w, input: " ".join(str(Path(f).parent) for f in input.metrics),
        k=STUDY["analysis"].get("endpoint_epochs", 3),
    shell:
        "dropout-study select-noise --endpoint-epochs {params.k} --out {output} {params.dirs} "
        "2> {log}"


# A precision target: after round r, every headline's interval width decides which exercises
# get another block of seeds (round r+1), until the target or the cap (precision.py).
checkpoint precision_round:
    input:
        jobs=lambda w: job_outputs(round_jobs(int(w.round)), "job.json"),
        tables=lambda w: job_outputs(round_jobs(int(w.round)), "metrics.parquet"),
        test_time=lambda w: test_time_outputs(round_jobs(int(w.round))),
        test_time_models=lambda w: test_time_outputs(
            round_jobs(int(w.round)), "_models"
        ),
        previous=lambda w: (
            [round_decision(int(w.round) - 1)] if int(w.round) > 1 else []
        ),
        config=f"{RESULTS}/config.json",
    output:
        f"{RESULTS}/rounds/{{round}}/precision.json",
    log:
        f"{LOGS}/precision_round/{{round}}.log",
    wildcard_constraints:
        round=r"\d+",
    params:
        dirs=lambda w, input: " ".join(str(Path(f).parent) for f in input.jobs),
        previous=lambda w, input: (
            f"--previous {input.previous}" if input.previous else ""
        ),
    shell:
        "dropout-study precision-round {params.dirs} --config {input.config} "
        "--round {wildcards.round} {params.previous} --out {output} "
        "--test-time {input.test_time} --test-time-models {input.test_time_models} 2> {log}"
