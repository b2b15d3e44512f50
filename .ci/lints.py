"""Read `snakemake --lint` (text) on stdin; fail on any lint but the per-rule advice to name a
conda environment or container (the rules run in the installed environment: see README)."""

import re
import sys

ALLOWED = {"Specify a conda environment or container for each rule."}

text = sys.stdin.read()
lints: list[tuple[str, str]] = []
rule = "<workflow>"
for line in text.splitlines():
    if m := re.match(r"Lints for (.+?) \(line", line):
        rule = m.group(1)
    elif m := re.match(r"\s{4}\* (.+?):?$", line):
        lints.append((rule, m.group(1).rstrip(":")))
if not lints and "Congratulations" not in text:  # the linter did not run: say why
    print(text[-3000:])
    sys.exit("snakemake --lint did not lint the workflow")
others = [(r, t) for r, t in lints if t not in ALLOWED]
for r, t in others:
    print(f"lint: {r}: {t}")
print(f"snakemake --lint: {len(lints)} lint(s), {len(others)} not allowed")
sys.exit(1 if others else 0)
