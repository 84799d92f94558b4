"""BERT: Pre-training of Deep Bidirectional Transformers for Language Understanding (Devlin et al., 2018)."""
