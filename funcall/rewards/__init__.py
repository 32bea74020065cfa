"""Rewards with TRL's signature `(prompts, completions, **columns) -> list[float | None]`.

`AstMatchReward` (strict BFCL check), `FormatReward`, `PartialReward` (ToolRL partial credit),
`MixReward` (weighted sum). Each is a small class built from keyword options (Hydra `_target_`)
with a `__name__` for logging; `RewardFunction` is their Protocol.
"""

from funcall.rewards.ast_match import AstMatchReward
from funcall.rewards.base import RewardFunction, completion_text
from funcall.rewards.format import FormatReward
from funcall.rewards.mix import MixReward
from funcall.rewards.partial import PartialReward

__all__ = ["AstMatchReward", "FormatReward", "MixReward", "PartialReward", "RewardFunction", "completion_text"]
