# dropout-study: the whole study as one DAG. Wiring only; the work lives in src/dropout_study.
#
#   snakemake --cores all                        # the full study -> results/full/report.html
#   snakemake --cores all --config preset=quick  # every exercise, few seeds
#   snakemake -n                                 # the plan


include: "workflow/rules/common.smk"


localrules:
    all,
    resolved_config,


rule all:
    default_target: True
    input:
        f"{RESULTS}/report.html",


include: "workflow/rules/data.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/report.smk"
