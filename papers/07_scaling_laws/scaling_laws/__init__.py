"""Scaling Laws for Neural Language Models (Kaplan et al., 2020)."""
