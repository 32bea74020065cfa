"""Multi-turn environments: what a model's calls act on, executed safely (never with ``eval``)."""
