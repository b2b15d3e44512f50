import hashlib


rule prepare_data:
    output:
        f"{RESULTS}/data/fashion-mnist.pt",
    log:
        f"{LOGS}/prepare_data.log",
    benchmark:
        f"{BENCHMARKS}/prepare_data.tsv"
    params:
        data_dir=f"--data-dir {STUDY['data_dir']}" if STUDY.get("data_dir") else "",
        train_size=(
            f"--train-size {STUDY['data']['train_size']}"
            if STUDY["data"].get("train_size")
            else ""
        ),
        validation_size=STUDY["data"]["validation_size"],
        split_seed=STUDY["data"]["split_seed"],
        probe_size=STUDY["data"].get("probe_size", 1000),
    shell:
        "dropout-study prepare-data {params.data_dir} {params.train_size} "
        "--validation-size {params.validation_size} --split-seed {params.split_seed} "
        "--probe-size {params.probe_size} --out {output} 2> {log}"


rule resolved_config:
    output:
        f"{RESULTS}/config.json",
    log:
        f"{LOGS}/resolved_config.log",
    benchmark:
        f"{BENCHMARKS}/resolved_config.tsv"
    params:
        # a changed config reruns this rule; the reason Snakemake prints is then this short
        # digest, before and now, not the whole config twice
        config="sha256 "
        + hashlib.sha256(json.dumps(STUDY, sort_keys=True).encode()).hexdigest()[:12],
    run:
        Path(output[0]).write_text(json.dumps(STUDY, indent=1, sort_keys=True))
