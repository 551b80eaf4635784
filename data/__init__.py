"""Demo dataset for Beigan street (北干街道) and its generator."""
