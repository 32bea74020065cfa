"""Agent loops: how a run's examples become rollouts, reward columns, metrics, held-out scores and SFT targets.

Two plug-ins of one Protocol (`funcall.agents.base.AgentLoop`), chosen by the ``agent`` config
group and built once: `funcall.agents.single_turn.SingleTurn` (one prompt, one completion) and
`funcall.agents.multi_turn.MultiTurn` (episodes played on environments, token by token).
"""
