"""Models: load any Hugging Face causal LM, or build the offline tiny default."""
