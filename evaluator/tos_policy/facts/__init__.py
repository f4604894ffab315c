"""Facts in: strict loading and validation (load), countries, JSON Lines streaming, synthetic registries."""
