"""A one-node SLURM cluster on this machine, from Debian's munge/slurmctld/slurmd packages.

Used by the SLURM test (and runnable by hand: ``python -m tests.slurm_cluster DIR``). It
starts only what is not already running and stops only what it started.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

SLURM_CONF = """\
ClusterName=dropoutstudy
SlurmctldHost={host}
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
MpiDefault=none
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
# finished jobs stay visible to squeue (the executor's status command) for an hour
MinJobAge=3600
ReturnToService=2
SchedulerType=sched/backfill
StateSaveLocation={d}/state
SlurmdSpoolDir={d}/spool
SlurmctldPidFile={d}/slurmctld.pid
SlurmdPidFile={d}/slurmd.pid
SlurmctldLogFile={d}/slurmctld.log
SlurmdLogFile={d}/slurmd.log
SlurmctldPort=6817
SlurmdPort=6818
NodeName={host} CPUs={cpus} RealMemory={mem} State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
"""


def _memory_mb() -> int:
    with open("/proc/meminfo") as fh:
        total_kb = int(fh.readline().split()[1])
    return max(1024, total_kb // 1024 - 2048)


def _running(name: str) -> bool:
    return subprocess.run(["pgrep", "-x", name], capture_output=True).returncode == 0


# The executor's job step (snakemake-executor-plugin-slurm-jobstep) drops every SLURM_*
# variable but the job's identity before its nested srun, SLURM_CONF included, so srun inside
# a job only finds a configuration at the default path, as on a real cluster.
DEFAULT_CONF = Path("/etc/slurm/slurm.conf")


class Cluster:
    def __init__(self, directory: Path):
        self.dir = Path(directory)
        self.conf = self.dir / "slurm.conf"
        self.started: list[str] = []
        self._saved_default: bytes | None = None
        self._wrote_default = False

    def env(self) -> dict[str, str]:
        return {**os.environ, "SLURM_CONF": str(self.conf)}

    def start(self, timeout: float = 60) -> None:
        for tool in ("munged", "slurmctld", "slurmd", "sbatch"):
            if shutil.which(tool) is None and not Path(f"/usr/sbin/{tool}").exists():
                raise RuntimeError(f"{tool} not installed (apt-get install munge slurmctld "
                                   "slurmd slurm-client)")
        (self.dir / "state").mkdir(parents=True, exist_ok=True)
        (self.dir / "spool").mkdir(exist_ok=True)
        host = socket.gethostname().split(".")[0]
        self.conf.write_text(SLURM_CONF.format(host=host, d=self.dir, cpus=os.cpu_count(),
                                               mem=_memory_mb()))
        if DEFAULT_CONF.exists():
            self._saved_default = DEFAULT_CONF.read_bytes()
        DEFAULT_CONF.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(self.conf, DEFAULT_CONF)
        self._wrote_default = True
        self._start_munge()
        for daemon in ("slurmctld", "slurmd"):
            if not _running(daemon):
                subprocess.run([f"/usr/sbin/{daemon}", "-f", str(self.conf)], check=True,
                               env=self.env())
                self.started.append(daemon)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            out = subprocess.run(["sinfo", "-h", "-o", "%T"], capture_output=True, text=True,
                                 env=self.env())
            if out.returncode == 0 and out.stdout.strip() in ("idle", "mixed", "allocated"):
                return
            time.sleep(1)
        raise RuntimeError("SLURM node did not become idle: "
                           + (self.dir / "slurmctld.log").read_text()[-2000:])

    def _start_munge(self) -> None:
        if _running("munged") and Path("/run/munge/munge.socket.2").exists():
            return
        key = Path("/etc/munge/munge.key")
        if not key.exists():
            subprocess.run(["/usr/sbin/mungekey", "--create", "--force"], check=True)
        shutil.chown(key, "munge", "munge")
        key.chmod(0o400)
        for d in ("/run/munge", "/var/log/munge", "/var/lib/munge"):
            Path(d).mkdir(parents=True, exist_ok=True)
            shutil.chown(d, "munge", "munge")
        subprocess.run(["runuser", "-u", "munge", "--", "/usr/sbin/munged"], check=True)
        self.started.append("munged")

    def jobs(self) -> list[str]:
        """Every job the controller has seen (finished ones included, for MinJobAge)."""
        out = subprocess.run(["squeue", "-h", "-t", "all", "-o", "%i|%j|%T|%k"],
                             capture_output=True, text=True, env=self.env(), check=True)
        return [line for line in out.stdout.splitlines() if line.strip()]

    def stop(self) -> None:
        if "slurmctld" in self.started:
            subprocess.run(["scontrol", "shutdown"], env=self.env(), capture_output=True)
        for name in ("slurmd", "slurmctld", "munged"):
            if name in self.started:
                subprocess.run(["pkill", "-x", name], capture_output=True)
        self.started.clear()
        if self._wrote_default:  # put back what was there before
            if self._saved_default is None:
                DEFAULT_CONF.unlink(missing_ok=True)
            else:
                DEFAULT_CONF.write_bytes(self._saved_default)
            self._wrote_default = False


if __name__ == "__main__":  # pragma: no cover - a manual helper
    import sys

    c = Cluster(Path(sys.argv[1] if len(sys.argv) > 1 else "/tmp/slurm"))
    c.start()
    print(f"export SLURM_CONF={c.conf}")
