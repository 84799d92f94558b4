"""A pytest plugin for the whole workspace (the root pyproject's addopts load it with `-p`).

Under pytest-xdist each worker is a process training its own models. PyTorch would give every
worker a thread per core, so two workers on two cores run four threads that wait on each other
(measured in CONTRIBUTING.md: several times slower). Each worker therefore uses one thread, and so
do the subprocesses its tests start (`python -m <paper>.train`) through OMP_NUM_THREADS.
"""

from __future__ import annotations

import os


def pytest_configure(config) -> None:
    if hasattr(config, "workerinput"):  # this process is an xdist worker
        os.environ["OMP_NUM_THREADS"] = "1"
        import torch

        torch.set_num_threads(1)
