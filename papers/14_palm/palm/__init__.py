"""PaLM: Scaling Language Modeling with Pathways (Chowdhery et al., 2022)."""
