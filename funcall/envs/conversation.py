"""One multi-turn conversation in flight: BFCL's turn protocol, the model's steps executed on its environment.

`Conversation` is BFCL's ``inference_multi_turn_prompting`` for one entry, as a state machine the
caller feeds the model's answers to: the first turn's user messages start it; each answer's calls
(decoded in the run's answer format) run on the entry's environment and every result is appended
as a ``tool`` message; an answer with no call (or one that does not decode) ends the turn, and the
next turn's user messages are appended (on a miss_func turn, BFCL's fixed text offering the
withheld functions' docs). More than ``max_steps_per_turn`` steps with calls in one turn end the
conversation (BFCL's force-quit). Each answer's record in ``log`` keeps its decoded calls and its
``parse_error`` (None when it parsed), which the ``*/unparseable`` metrics read, so no step is
parsed twice. Evaluation and multi-turn rollouts (both through the one episode driver,
`funcall.rollout.episode_driver`) and multi-turn SFT targets (`funcall.data.multi_turn_tokenize`)
all drive this one class, so the three see the same conversations.
How it differs from BFCL's loop: it generates nothing itself (the caller batches generation over
many conversations) and it never ``eval``s a call (`funcall.envs.bfcl_env`).
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from funcall.calls.formats import parse_completion
from funcall.envs.base import Environment

ADDITIONAL_FUNCTIONS = "I have updated some more functions you can choose from. What about now?"  # BFCL's text


def call_strings(calls: list[dict]) -> list[str]:
    """Canonical calls as the executable strings BFCL's ``decode_execute`` writes: ``f(a=1, b='x')``."""
    return [f"{c['name']}({', '.join(f'{k}={v!r}' for k, v in (c.get('arguments') or {}).items())})" for c in calls]


@dataclass
class Conversation:
    """One entry in flight."""

    entry: dict
    env: Environment
    messages: list[dict] = field(default_factory=list)
    turn: int = 0
    steps: int = 0  # steps with calls in the current turn
    output: list[list[list[str]]] = field(default_factory=list)  # turns -> steps -> call strings (BFCL's decoded result)
    log: list[list[dict]] = field(default_factory=list)  # turns -> the messages added in that turn
    done: bool = False
    ended_by: str = "completed"  # completed | force_quit | prompt_too_long

    def start_turn(self) -> None:
        question = self.entry["question"][self.turn]
        offered = self.env.tools(self.turn)
        if offered:  # a miss_func turn: its user message is BFCL's, with the withheld docs
            question = [{"role": "user", "content": "\n".join(json.dumps(d) for d in offered) + "\n" + ADDITIONAL_FUNCTIONS}]
        self.messages.extend(question)
        self.output.append([])
        self.log.append(list(question))
        self.steps = 0

    def end_turn(self) -> None:
        self.turn += 1
        if self.turn >= len(self.entry["question"]):
            self.done = True
        else:
            self.start_turn()

    def take(self, text: str, answer_format: str, max_steps_per_turn: int) -> None:
        """The model's answer for this step: execute its calls, or end the turn."""
        self.messages.append({"role": "assistant", "content": text})
        parsed = parse_completion(text, answer_format)
        calls = call_strings(parsed.calls) if parsed.calls else []
        self.output[-1].append(calls)
        # parse_error (None when the answer parsed): the step's outcome for */unparseable (funcall.calls.parse_stats)
        record: dict[str, Any] = {"role": "assistant", "content": text, "calls": calls, "parse_error": parsed.error}
        self.log[-1].append(record)
        if not calls:
            self.end_turn()
            return
        results = self.env.execute(calls)
        record["results"] = results
        self.messages.extend({"role": "tool", "content": r} for r in results)
        self.steps += 1
        if self.steps > max_steps_per_turn:
            self.done, self.ended_by = True, "force_quit"
