rule figures:
    input:
        rules.aggregate.output,
        evaluation_tables(),
        config="results/config.json",
    output:
        context="results/report/context.json",
    log:
        "logs/figures.log",
    shell:
        "dropout-study figures --results results --config {input.config} "
        "--out results/report 2> {log}"


rule report:
    input:
        context="results/report/context.json",
        config="results/config.json",
        templates=sorted(str(p) for p in Path(workflow.basedir, "report").rglob("*.j2")),
    output:
        "results/report.html",
    log:
        "logs/report.log",
    shell:
        "dropout-study report --results results --config {input.config} --out {output} 2> {log}"
