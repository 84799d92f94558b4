"""Zero-Shot Text-to-Image Generation (DALL-E) (Ramesh et al., 2021)."""
