"""Language Models are Few-Shot Learners (Brown et al., 2020)."""
