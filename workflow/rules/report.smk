# The report: numbers and figures from the aggregated results (rule figures), then the HTML
# (rule report). Both are marked for Snakemake's own report (`snakemake --report report.zip`):
# the study's HTML report and every figure, with their captions.
REPORT_DIR = Path(workflow.basedir, "report")  # templates, style.css, captions


rule figures:
    input:
        rules.aggregate.output,
        evaluation_tables(),
        config=f"{RESULTS}/config.json",
        benchmarks=benchmark_files,
        precision=lambda w: precision_decisions(),
    output:
        context=f"{RESULTS}/report/context.json",
        figures=report(
            directory(f"{RESULTS}/report/figures"),
            patterns=["{name}.png"],
            caption="../../report/workflow-captions/figures.rst",
            category="Figures",
        ),
    log:
        f"{LOGS}/figures.log",
    benchmark:
        f"{BENCHMARKS}/figures.tsv"
    params:
        results=lambda w, input: Path(input.config).parent,
        out=lambda w, output: Path(output.context).parent,
    shell:
        "dropout-study figures --results {params.results} --config {input.config} "
        "--out {params.out} --benchmarks {input.benchmarks} 2> {log}"


rule report:
    input:
        context=f"{RESULTS}/report/context.json",
        figures=f"{RESULTS}/report/figures",
        config=f"{RESULTS}/config.json",
        templates=sorted(
            str(p) for p in REPORT_DIR.rglob("*") if p.suffix in (".j2", ".css")
        ),
        benchmarks=[f"{BENCHMARKS}/figures.tsv"],
    output:
        report(
            f"{RESULTS}/report.html",
            caption="../../report/workflow-captions/report.rst",
            category="Report",
        ),
    log:
        f"{LOGS}/report.log",
    benchmark:
        f"{BENCHMARKS}/report.tsv"
    params:
        templates=REPORT_DIR,
    shell:
        "dropout-study report --context {input.context} --config {input.config} "
        "--templates {params.templates:q} --benchmarks {input.benchmarks} --out {output} 2> {log}"
