"""Improving Language Understanding by Generative Pre-Training (GPT-1) (Radford et al., 2018)."""
