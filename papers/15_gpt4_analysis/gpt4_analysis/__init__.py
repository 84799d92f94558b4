"""GPT-4 Technical Report (evaluation methodology) (OpenAI, 2023)."""
