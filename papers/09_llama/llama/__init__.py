"""LLaMA: Open and Efficient Foundation Language Models (Touvron et al., 2023)."""
