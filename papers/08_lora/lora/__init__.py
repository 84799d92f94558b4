"""LoRA: Low-Rank Adaptation of Large Language Models (Hu et al., 2021)."""
