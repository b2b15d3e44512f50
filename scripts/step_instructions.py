"""A training step's cost in instructions, per noise scheme, from valgrind's callgrind.

Seconds measured while other work shares the cores say little (a study training beside it
slows a step 3-6x); instructions executed do not depend on what else runs. So this counts them:
each scheme's job of exercise 6 at one rate (one model, the reference batch of 256, synthetic
data) runs once with 1 training step and once with 3 under callgrind, and the difference over 2
is one step's instructions, the start-up (Python, torch's import) cancelling out; per
function too, to see where a step's work goes. Instructions are not time (a memory-bound loop
costs more per instruction than a GEMM), so read the ratios as a breakdown, and confirm a
speed-up with `dropout-study bench` or `dropout-study plan` on a quiet machine.

    PYTHONPATH=src python scripts/step_instructions.py dropout dropconnect [--rate 0.5]

Needs valgrind (Debian: `apt-get install valgrind`); a few minutes a scheme, at nice 19.
"""

from __future__ import annotations

import argparse
import collections
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

STEP = """
import dataclasses, sys
import torch
torch.set_num_threads(1)
from dropout_study import config
from dropout_study.calibration import _synthetic_data
from dropout_study.plan import all_jobs
from dropout_study.train import Trainer
noise, rate, steps = sys.argv[1], float(sys.argv[2]), int(sys.argv[3])
cfg = config.load(sys.argv[4], detect=False)
job = next(j for j in all_jobs(cfg)["weight_dropout"]
           if j.conditions[0].noise == noise and j.conditions[0].rates[0] == rate)
c = dataclasses.replace(job.conditions[0], probe=False, epochs=1, drop_last=True)
spec = dataclasses.replace(job, conditions=[c], seeds=[0], rates_from=None)
data = _synthetic_data(torch.device("cpu"), c.batch_size * steps, 256)
Trainer(spec, data, torch.device("cpu")).train_epoch(1)
"""
LINE = re.compile(r"^\s*([0-9,]+) \([^)]*\)\s+(.*?)(?: \[.*\])?$")


def functions(out: Path) -> collections.Counter:
    text = subprocess.run(["callgrind_annotate", "--threshold=100", str(out)],
                          capture_output=True, text=True, check=True).stdout
    counts: collections.Counter = collections.Counter()
    for line in text.splitlines():
        m = LINE.match(line)
        if m and "PROGRAM TOTALS" not in m.group(2):
            counts[m.group(2)[:100]] += int(m.group(1).replace(",", ""))
    return counts


def per_step(noise: str, rate: float, cfg: Path, work: Path) -> collections.Counter:
    script = work / "step.py"
    script.write_text(STEP)
    runs = {}
    for steps in (1, 3):
        out = work / f"{noise}.{steps}.out"
        subprocess.run(["nice", "-n", "19", "valgrind", "--tool=callgrind",
                        f"--callgrind-out-file={out}", sys.executable, str(script), noise,
                        str(rate), str(steps), str(cfg)],
                       check=True, capture_output=True, env=os.environ | {"OMP_NUM_THREADS": "1"})
        runs[steps] = functions(out)
    return collections.Counter({k: (runs[3][k] - runs[1][k]) / 2
                                for k in set(runs[1]) | set(runs[3])})


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("schemes", nargs="+", help="noise schemes of exercise 6 (the first is the "
                                              "baseline of the ratios)")
    p.add_argument("--rate", type=float, default=0.5)
    p.add_argument("--config", default="config.yaml")
    p.add_argument("--top", type=int, default=8, help="functions shown per scheme")
    a = p.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        steps = {s: per_step(s, a.rate, Path(a.config).resolve(), Path(tmp)) for s in a.schemes}
    base = sum(steps[a.schemes[0]].values())
    for s, counts in steps.items():
        total = sum(counts.values())
        print(f"{s} at p = {a.rate}: {total / 1e6:.1f} M instructions a step "
              f"(x{total / base:.1f} {a.schemes[0]}'s)")
        for name, n in counts.most_common(a.top):
            print(f"  {n / 1e6:9.1f} M  {100 * n / total:5.1f}%  {name}")


if __name__ == "__main__":
    main()
