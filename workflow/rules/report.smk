# The report: numbers and figures from the aggregated results (rule figures), then the HTML
# (rule report). Both are marked for Snakemake's own report (`snakemake --report report.zip`):
# the study's HTML report and every figure, with their captions.
REPORT_DIR = Path(workflow.basedir, "report")  # templates, style.css, captions


rule figures:
    input:
        rules.aggregate.output,
        evaluation_tables(),
        config=RESULTS + "/config.json",
        benchmarks=benchmark_files,
        precision=lambda w: precision_decisions(),
    output:
        context=RESULTS + "/report/context.json",
        figures=report(
            directory(RESULTS + "/report/figures"),
            patterns=["{name}.png"],
            caption="../../report/workflow-captions/figures.rst",
            category="Figures",
        ),
    log:
        LOGS + "/figures.log",
    benchmark:
        BENCHMARKS + "/figures.tsv"
    params:
        results=lambda w, input: Path(input.config).parent,
        out=lambda w, output: Path(output.context).parent,
    shell:
        "dropout-study figures --results {params.results} --config {input.config} "
        "--out {params.out} --benchmarks {input.benchmarks} 2> {log}"


rule report:
    input:
        context=RESULTS + "/report/context.json",
        figures=RESULTS + "/report/figures",
        config=RESULTS + "/config.json",
        templates=sorted(
            str(p) for p in REPORT_DIR.rglob("*") if p.suffix in (".j2", ".css")
        ),
        benchmarks=[BENCHMARKS + "/figures.tsv"],
    output:
        report(
            RESULTS + "/report.html",
            caption="../../report/workflow-captions/report.rst",
            category="Report",
        ),
    log:
        LOGS + "/report.log",
    benchmark:
        BENCHMARKS + "/report.tsv"
    params:
        templates=REPORT_DIR,
    shell:
        "dropout-study report --context {input.context} --config {input.config} "
        "--templates {params.templates:q} --benchmarks {input.benchmarks} --out {output} 2> {log}"
