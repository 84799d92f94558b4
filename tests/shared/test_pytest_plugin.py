"""The workspace pytest plugin: short tests share the machine one thread per worker, a claim test
takes it alone on every CPU (see shared/pytest_plugin.py)."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from shared.pytest_plugin import all_threads, machine_share

from shared import pytest_plugin

pytestmark = pytest.mark.skipif(pytest_plugin.fcntl is None, reason="advisory file locks need fcntl (POSIX)")


class Holder(threading.Thread):
    """Takes the machine (shared or exclusive) in a thread of its own and holds it until released.
    flock locks belong to each open file, so threads of one process contend like worker processes."""

    def __init__(self, lock_dir: Path, exclusive: bool):
        super().__init__(daemon=True)
        self.lock_dir, self.exclusive = lock_dir, exclusive
        self.entered, self.release = threading.Event(), threading.Event()

    def run(self):
        with machine_share(self.lock_dir, self.exclusive):
            self.entered.set()
            self.release.wait(10)


def start(lock_dir, exclusive):
    holder = Holder(lock_dir, exclusive)
    holder.start()
    return holder


def test_shared_holders_run_together(tmp_path):
    a, b = start(tmp_path, False), start(tmp_path, False)
    assert a.entered.wait(5) and b.entered.wait(5)
    a.release.set(), b.release.set()


def test_exclusive_holder_waits_for_shared_ones_and_keeps_new_ones_out(tmp_path):
    short = start(tmp_path, False)
    assert short.entered.wait(5)
    claim = start(tmp_path, True)
    assert not claim.entered.wait(0.3), "the claim test started while a short test was running"
    time.sleep(0.1)
    later = start(tmp_path, False)  # arrives while the claim test waits: it must queue behind it
    assert not later.entered.wait(0.3)
    short.release.set()
    assert claim.entered.wait(5)
    assert not later.entered.wait(0.3), "a short test ran beside the claim test"
    claim.release.set()
    assert later.entered.wait(5)
    later.release.set()


def test_all_threads_restores_the_worker_setting(monkeypatch):
    import torch

    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    before = torch.get_num_threads()
    n = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    with all_threads():
        assert os.environ["OMP_NUM_THREADS"] == str(n) and torch.get_num_threads() == n
    assert os.environ["OMP_NUM_THREADS"] == "1" and torch.get_num_threads() == before


def test_under_xdist_claim_tests_get_every_cpu_and_the_rest_one_thread(tmp_path):
    """End to end in a throwaway project: two workers, one claim test, two short ones."""
    (tmp_path / "pytest.ini").write_text("[pytest]\nmarkers =\n    claim: runs a default config\n")
    (tmp_path / "test_threads.py").write_text(
        "import os, pytest, torch\n"
        "N = len(os.sched_getaffinity(0)) if hasattr(os, 'sched_getaffinity') else os.cpu_count()\n"
        "@pytest.mark.claim\n"
        "def test_claim():\n"
        "    assert torch.get_num_threads() == N and os.environ['OMP_NUM_THREADS'] == str(N)\n"
        "    assert os.listdir(os.environ['PAPERS_PYTEST_LOCKS'])\n"
        "@pytest.mark.parametrize('i', range(2))\n"
        "def test_short(i):\n"
        "    assert torch.get_num_threads() == 1 and os.environ['OMP_NUM_THREADS'] == '1'\n"
    )
    scratch = tmp_path / "tmp"  # the run's TMPDIR, to see that its lock folder is removed afterwards
    scratch.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_NUM_THREADS", pytest_plugin.LOCK_DIR_ENV)}
    env["TMPDIR"] = str(scratch)
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "shared.pytest_plugin", "-n", "2", "-q", "-p", "no:cacheprovider",
         str(tmp_path / "test_threads.py")], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "3 passed" in done.stdout
    assert not [p for p in scratch.iterdir() if p.name.startswith("papers-pytest-")], "the lock folder was left behind"
