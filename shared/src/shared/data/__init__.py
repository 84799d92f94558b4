"""Embedded data: everything here works offline, from code or from files inside installed packages."""

from shared.data.digits import load_digits_tensors
from shared.data.sampling import EpochSeededSampler, ResumableDataLoader
from shared.data.text import CharTokenizer, load_shakespeare

__all__ = ["CharTokenizer", "EpochSeededSampler", "ResumableDataLoader", "load_digits_tensors", "load_shakespeare"]
