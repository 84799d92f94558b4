"""Constitutional AI: Harmlessness from AI Feedback (Bai et al., 2022)."""
