"""Thin infrastructure shared by every paper: seeding, run folders, loggers, trainer and CLI
defaults, embedded data and figure helpers. No paper's model lives here."""

from shared.runs import read_results, write_results
from shared.seed import seed_everything

__all__ = ["read_results", "seed_everything", "write_results"]
