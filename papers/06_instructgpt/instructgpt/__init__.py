"""Training Language Models to Follow Instructions with Human Feedback (Ouyang et al., 2022)."""
