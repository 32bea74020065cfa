"""The contract of a multi-turn environment: one episode's tools, calls in, results out.

An environment is reset from an entry (whatever its kind needs: BFCL's ``initial_config`` and
``involved_classes``, a synthetic task's state) and returns the tool docs the model is shown;
``execute`` takes call strings as the model wrote them (``cd(folder='document')``) and returns one
result string per call, an error being a result (``"Error during execution: ..."``), never an
exception; ``state`` returns the public state the multi-turn checker compares. Each episode gets
fresh instances: nothing is shared between episodes or between the samples of one prompt.
"""
from __future__ import annotations

from typing import Any, Protocol


class Environment(Protocol):
    def reset(self, entry: dict) -> list[dict]:
        """Start the episode of ``entry``; the tool docs offered at its first turn."""
        ...

    def tools(self, turn: int) -> list[dict]:
        """The tool docs newly offered at ``turn`` (BFCL's miss_func withholds some until then)."""
        ...

    def execute(self, calls: list[str]) -> list[str]:
        """Run ``calls`` in order on the episode's state; one result string each."""
        ...

    def state(self) -> dict[str, dict[str, Any]]:
        """The public attributes of every stateful object of the episode, by class name."""
        ...

    def close(self) -> None:
        """End the episode and free what it holds."""
        ...
