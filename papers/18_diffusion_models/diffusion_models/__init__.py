"""Denoising Diffusion Probabilistic Models; Diffusion Models Beat GANs (Ho et al.; Dhariwal and Nichol, 2021)."""
