import json
import os
import socket
import subprocess
import sys

from dropout_study.locks import OWNER, _start_ticks, clear_stale_locks, record_owner


def make_locks(d, mtime):
    (d / "locks").mkdir(parents=True)
    locks = [d / "locks" / f"{i}.{kind}.lock" for i, kind in enumerate(("input", "output"))]
    for lock in locks:
        lock.write_text("results/report.html\n")
        os.utime(lock, (mtime, mtime))
    return locks


def dead_owner(d, host=None):
    """The owner record of a process that has exited."""
    proc = subprocess.Popen([sys.executable, "-c", "import os; print(open("
                             "f'/proc/{os.getpid()}/stat').read())"], stdout=subprocess.PIPE,
                            text=True)
    stat = proc.communicate()[0]
    start = int(stat.rsplit(")", 1)[1].split()[19])
    (d / OWNER).write_text(json.dumps({"pid": proc.pid, "start": start,
                                       "host": host or socket.gethostname()}))
    assert _start_ticks(proc.pid) != start


def test_locks_of_a_killed_owner_are_removed(tmp_path):
    locks = make_locks(tmp_path, mtime=1_000_000)
    dead_owner(tmp_path)
    assert clear_stale_locks(tmp_path) == locks
    assert not any(lock.exists() for lock in locks)


def test_locks_of_a_running_owner_are_kept(tmp_path):
    locks = make_locks(tmp_path, mtime=1_000_000)
    record_owner(tmp_path)  # this very process: alive
    assert clear_stale_locks(tmp_path) == []
    assert all(lock.exists() for lock in locks)


def test_locks_newer_than_the_dead_owner_belong_to_another_run(tmp_path):
    dead_owner(tmp_path)
    recorded = (tmp_path / OWNER).stat().st_mtime
    locks = make_locks(tmp_path, mtime=recorded + 5)
    assert clear_stale_locks(tmp_path) == []
    assert all(lock.exists() for lock in locks)


def test_no_owner_record_or_another_host_keeps_the_locks(tmp_path):
    locks = make_locks(tmp_path, mtime=1_000_000)
    assert clear_stale_locks(tmp_path) == []
    dead_owner(tmp_path, host="some-other-node")
    assert clear_stale_locks(tmp_path) == []
    (tmp_path / OWNER).write_text("not json")
    assert clear_stale_locks(tmp_path) == []
    assert all(lock.exists() for lock in locks)
