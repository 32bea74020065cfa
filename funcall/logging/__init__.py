"""Where metrics go: the run directory's metrics.jsonl and summary.json, and W&B."""
