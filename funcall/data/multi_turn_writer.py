"""The building block of the multi-turn synthetic task: a `TaskWriter` writes one task, running each call as it is written.

A scenario (`funcall.data.multi_turn_scenarios`, `funcall.data.multi_turn_apps`) opens user
turns (`TaskWriter.user`) and writes assistant steps (`TaskWriter.step`); each step's calls run at once
on a live `BFCLEnvironment` of the task's initial state, and an error result is a generator bug
(raised, never shipped). So the ground truth is what executing it gives, not what a template
claims, and a value a later call takes from a result (an id looked up, a file's last line) is the
value the environment really returned. How it differs from plain template filling: every user
message is drawn (wording, greeting, punctuation) until a hash of its text falls on its split's
side and it equals no BFCL multi-turn user message (`TaskWriter.say`), so splits are disjoint per
message and no BFCL request text is reproduced. The assembly into entries is
`funcall.data.multi_turn_synthetic`.
"""
from __future__ import annotations

import hashlib
import json
import random
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from funcall.envs.bfcl_data import MULTI_TURN_CATEGORIES, installed_bfcl_data, read_jsonl, tool_docs
from funcall.envs.bfcl_env import ERROR, BFCLEnvironment
from funcall.utils.errors import DataError

PREFIXES = ["", "", "", "Hi, ", "Hey, ", "Okay, ", "Right, ", "Next: ", "Now ", "Also, "]
SUFFIXES = [".", ".", "", " please.", ", thanks.", " for me.", "!"]
HELD_OUT_PCT = 10


class Redraw(Exception):
    """The draw cannot be finished as it is (no wording on its split's side): draw again."""


def in_held_out_bucket(text: str, pct: int = HELD_OUT_PCT) -> bool:
    digest = hashlib.blake2b(" ".join(text.lower().split()).encode(), digest_size=2).digest()
    return int.from_bytes(digest, "big") % 100 < pct


def render_call(function: str, /, **kwargs: Any) -> str:
    """``render_call("cd", folder="a")`` -> ``"cd(folder='a')"`` (Python literals, parseable by
    `funcall.envs.calls.parse_env_call`)."""
    return f"{function}({', '.join(f'{k}={v!r}' for k, v in kwargs.items())})"


def describe(call: str) -> str:
    name, _, rest = call.partition("(")
    rest = rest[:-1]
    return f"{name} with {rest}" if rest else f"{name} with no arguments"


@cache
def data_dir() -> str:
    found = installed_bfcl_data()
    if found is None:
        raise DataError("the multi-turn synthetic task needs bfcl-eval's data (pip install --no-deps bfcl-eval)")
    return found


@cache
def bfcl_texts_and_configs() -> tuple[frozenset[str], frozenset[str]]:
    """Every user message text and every ``initial_config`` (as canonical JSON) of BFCL's
    multi-turn categories: the generator never reproduces one."""
    texts, configs = set(), set()
    for category in MULTI_TURN_CATEGORIES:
        for entry in read_jsonl(Path(data_dir()) / f"BFCL_v4_{category}.json"):
            texts.update(m["content"].strip() for turn in entry["question"] for m in turn if isinstance(m.get("content"), str))
            configs.add(canonical(entry.get("initial_config") or {}))
    return frozenset(texts), frozenset(configs)


def canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=str)


@dataclass
class Turn:
    """One user turn as the episode built it (before the miss_* transformations)."""

    text: str
    steps: list[list[str]] = field(default_factory=list)
    reasoning: list[str] = field(default_factory=list)
    vague: tuple[str, str, str] | None = None  # (request without a value, the follow-up giving it, the question)


class TaskWriter:
    """A live environment plus the turns written so far; scenarios call `user`, `say` and `step`."""

    def __init__(self, rng: random.Random, classes: list[str], config: dict, held_out: bool,
                 pct: int = HELD_OUT_PCT):
        self.rng, self.classes, self.config, self.held_out, self.pct = rng, classes, config, held_out, pct
        self.docs = tool_docs(data_dir(), classes)
        self.env = BFCLEnvironment()
        self.env.reset({"id": "synthetic_build_0", "initial_config": config, "involved_classes": classes,
                        "function": self.docs})
        self.turns: list[Turn] = []
        self.world: dict[str, Any] = {}  # what scenarios track about the state (cwd, logins, ids, ...)

    def say(self, options: list[str]) -> str:
        """A wording of one of ``options`` (with greeting and punctuation) on this split's side of
        the hash partition and equal to no BFCL user message; `Redraw` when none is found."""
        bfcl_texts = bfcl_texts_and_configs()[0]
        for _ in range(80):
            core = self.rng.choice(options).strip()
            prefix = self.rng.choice(PREFIXES)
            text = prefix + (core[0].lower() + core[1:] if prefix and not core.startswith(("I ", "I'")) else core)
            text = text.rstrip(".?!") + ("?" if core.endswith("?") else self.rng.choice(SUFFIXES))
            if in_held_out_bucket(text, self.pct) == self.held_out and text.strip() not in bfcl_texts:
                return text
        raise Redraw("no wording on this split's side")

    def user(self, options: list[str], vague: tuple[list[str], list[str], str] | None = None) -> Turn:
        """Open a turn with a wording of ``options``. ``vague`` = (wordings that leave out one value,
        follow-ups that give it, the question to ask) makes the turn a miss_param candidate."""
        said_vague = (self.say(vague[0]), self.say(vague[1]), vague[2]) if vague else None
        turn = Turn(self.say(options), vague=said_vague)
        self.turns.append(turn)
        return turn

    def step(self, why: str, *calls: str) -> list[Any]:
        """Run ``calls`` as one assistant step of the current turn; their results (JSON parsed
        where they are JSON). ``why`` opens the step's reasoning; the calls are named after it."""
        if not self.turns:
            raise RuntimeError("step() before user()")
        results = self.env.execute(list(calls))
        for call, result in zip(calls, results):
            if result.startswith(ERROR) or '"error":' in result or "'error':" in result:
                raise RuntimeError(f"generator bug: {call} -> {result}")
        turn = self.turns[-1]
        turn.steps.append(list(calls))
        turn.reasoning.append(f"{why} So: {'; '.join(describe(c) for c in calls)}.")
        return [_parsed(r) for r in results]


def _parsed(result: str) -> Any:
    try:
        return json.loads(result)
    except ValueError:
        return result


