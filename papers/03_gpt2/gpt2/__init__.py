"""Language Models are Unsupervised Multitask Learners (GPT-2) (Radford et al., 2019)."""
