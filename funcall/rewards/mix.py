"""Weighted sum of reward functions, with per-component values kept for logging.

A component may return None for a sample (TRL's convention for "does not apply"): that sample's
sum is then taken over the components present, with their weights rescaled so they add up to the
full weight total (a missing component neither drags the reward down nor inflates it); when every
component returns None the result is None. `last_components[name]` holds each component's values
from the latest call, for `reward/<name>` logging.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any


class MixReward:
    def __init__(
        self,
        rewards: Sequence[Callable] | Mapping[str, Callable],
        weights: Sequence[float] | Mapping[str, float] | None = None,
        name: str = "mix",
    ):
        if isinstance(rewards, Mapping):
            names, functions = list(rewards), list(rewards.values())
        else:
            functions = list(rewards)
            names = _unique([getattr(f, "__name__", type(f).__name__) for f in functions])
        if weights is None:
            weights = [1.0] * len(functions)
        elif isinstance(weights, Mapping):
            weights = [float(weights[n]) for n in names]
        if len(weights) != len(functions) or not functions:
            raise ValueError(f"MixReward needs one weight per reward: {len(functions)} rewards, {len(weights)} weights")
        self.names, self.functions, self.weights = names, functions, [float(w) for w in weights]
        self.__name__ = name
        self.last_components: dict[str, list[float | None]] = {}

    def __call__(self, prompts: list, completions: list, **columns: Any) -> list[float | None]:
        values = {name: list(function(prompts=prompts, completions=completions, **columns)) for name, function in zip(self.names, self.functions)}
        self.last_components = values
        total_weight = sum(self.weights)
        mixed: list[float | None] = []
        for i in range(len(completions)):
            present = [(w, values[n][i]) for n, w in zip(self.names, self.weights) if values[n][i] is not None]
            if not present:
                mixed.append(None)
                continue
            present_weight = sum(w for w, _ in present)
            weighted = sum(w * v for w, v in present)
            mixed.append(weighted * total_weight / present_weight if present_weight else weighted)
        return mixed


def _unique(names: list[str]) -> list[str]:
    seen: dict[str, int] = {}
    unique = []
    for name in names:
        seen[name] = seen.get(name, 0) + 1
        unique.append(name if seen[name] == 1 else f"{name}_{seen[name]}")
    return unique
