"""Retrieval-Augmented Generation for Knowledge-Intensive NLP Tasks (Lewis et al., 2020)."""
