"""Deep Residual Learning for Image Recognition (He et al., 2015)."""
