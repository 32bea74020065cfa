"""Generation engines: how prompts become completions (rollouts, evaluation)."""
