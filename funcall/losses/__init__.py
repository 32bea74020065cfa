"""Losses. Each takes plain tensors and returns ``(loss, metrics)``."""
