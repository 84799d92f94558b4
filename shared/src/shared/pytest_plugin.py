"""A pytest plugin for the whole workspace (the root pyproject's addopts load it with `-p`).

Under pytest-xdist each worker is a process training its own models. PyTorch would give every
worker a thread per core, so two workers on two cores run four threads that wait on each other
(measured in CONTRIBUTING.md: several times slower). Each worker therefore uses one thread, and so
do the subprocesses its tests start (`python -m <paper>.train`) through OMP_NUM_THREADS.

That suits the many short tests, whose cost is Python and small tensors. A claim test is different:
it trains the paper's default config, whose large matrix products run nearly twice as fast on two
threads, while two such runs side by side on one thread each slow each other down (they share
caches and memory bandwidth). So a claim test takes the machine for itself: before it starts, the
other workers finish the test they are in and wait; it runs on every CPU; then they go on. The
workers coordinate through two lock files (a reader-writer lock with a turnstile, so a waiting
claim test is not starved by a stream of short tests). Without xdist, or where `fcntl` does not
exist (Windows), nothing is locked and every test keeps the thread count it has.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

try:
    import fcntl
except ImportError:  # Windows: no advisory locks; claim tests then run on one thread like the rest
    fcntl = None

LOCK_DIR_ENV = "PAPERS_PYTEST_LOCKS"  # the controller's lock folder, inherited by the workers it starts


def pytest_configure(config) -> None:
    if hasattr(config, "workerinput"):  # this process is an xdist worker
        os.environ["OMP_NUM_THREADS"] = "1"
        import torch

        torch.set_num_threads(1)
    elif fcntl is not None and config.getoption("numprocesses", default=None):
        # The controller, before it starts its workers: a fresh folder for this run's lock files.
        config._papers_lock_dir = tempfile.mkdtemp(prefix="papers-pytest-")
        os.environ[LOCK_DIR_ENV] = config._papers_lock_dir


def pytest_unconfigure(config) -> None:
    lock_dir = getattr(config, "_papers_lock_dir", None)
    if lock_dir is not None:
        os.environ.pop(LOCK_DIR_ENV, None)
        shutil.rmtree(lock_dir, ignore_errors=True)


@contextmanager
def machine_share(lock_dir: Path, exclusive: bool) -> Iterator[None]:
    """Hold the machine shared (any number of workers at once) or exclusive (this worker alone).

    The turnstile is taken by everyone on the way in: an exclusive holder keeps it while it waits for
    the room to empty, so no new shared holder slips in meanwhile."""
    with open(lock_dir / "turnstile", "a") as gate, open(lock_dir / "room", "a") as room:
        fcntl.flock(gate, fcntl.LOCK_EX)
        try:
            fcntl.flock(room, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
        finally:
            fcntl.flock(gate, fcntl.LOCK_UN)
        try:
            yield
        finally:
            fcntl.flock(room, fcntl.LOCK_UN)


@contextmanager
def all_threads() -> Iterator[None]:
    """Run the block on every CPU this process may use (for PyTorch and for subprocesses), then restore."""
    import torch

    before_env, before_torch = os.environ.get("OMP_NUM_THREADS"), torch.get_num_threads()
    n = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    os.environ["OMP_NUM_THREADS"] = str(n)
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before_torch)
        if before_env is None:
            os.environ.pop("OMP_NUM_THREADS", None)
        else:
            os.environ["OMP_NUM_THREADS"] = before_env


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item, nextitem):
    lock_dir = os.environ.get(LOCK_DIR_ENV)
    if fcntl is None or lock_dir is None or not hasattr(item.config, "workerinput"):
        return (yield)
    is_claim = item.get_closest_marker("claim") is not None
    with machine_share(Path(lock_dir), exclusive=is_claim):
        if not is_claim:
            return (yield)
        with all_threads():
            return (yield)
