"""Token span labels shared by tokenisation and the losses: prompt, reasoning, call."""
PROMPT, THINK, CALL = 0, 1, 2
IGNORE = -100  # label of positions with no target (prompt, padding)
