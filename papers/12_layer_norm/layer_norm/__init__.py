"""Layer Normalization (Ba et al., 2016)."""
