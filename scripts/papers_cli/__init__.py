"""The repo command line."""
