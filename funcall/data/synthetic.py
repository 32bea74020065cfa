"""A seeded synthetic function-calling task: the default data, made offline, of unbounded size.

Example ``i`` of a split is a pure function of ``(seed, split, i)``: random access, identical on
every rank and every run, so a resumed run sees exactly the data an unbroken run would, and no
file has to be written. Cases follow BFCL's single-turn categories: ``simple_python`` (one tool,
one call), ``multiple`` (choose one of several tools, some from the same domain), ``parallel``
(the same tool twice), ``parallel_multiple`` (two different tools) and ``irrelevance`` (no tool
fits: call nothing). Requests are assembled from per-tool intents and per-parameter phrases
(`funcall.data.synthetic_tools`), with optional parameters said or left out at random. The
reasoning target is structured, as in the entropy-GRPO paper: it lists each argument value
taken from the request, then says the required ones are present.

Held-out examples are disjoint from training by construction, not by luck: a request (before
its greeting and punctuation) belongs to the held-out side iff a hash of its text falls in the
first ``held_out_pct`` percent, and each split redraws until its request is on its own side.
Many short requests ("Play the song Hello") would otherwise repeat across splits.

``mix`` (category weights) shapes the training split only; the held-out split follows
``eval_mix``, by default the standard mix, so runs trained on different mixes (the call-heavy RL
warm start, its SFT control) are scored on the very same prompts.
"""
from __future__ import annotations

import hashlib
import random
from collections.abc import Sequence
from dataclasses import dataclass

from funcall.data.schema import Example
from funcall.data.synthetic_tools import CHITCHAT, POOLS, TOOLS, Param, Tool

QUOTED_POOLS = {"message", "title", "word"}
PREFIXES = ["", "", "", "Hi. ", "Hello! ", "Quick question. ", "Hey! "]
SUFFIXES = ["?", "?", ".", "", " please.", ", thanks!"]
CONNECTORS = [". Also, ", ". And ", ". Then ", "; also ", ", and also "]
DEFAULT_MIX = {"simple_python": 0.25, "multiple": 0.35, "parallel": 0.1, "parallel_multiple": 0.1,
               "irrelevance": 0.2}


@dataclass
class Draw:
    """One drawn call: the arguments and the phrases that say them."""

    tool: Tool
    arguments: dict
    request: str


def _spoken(param: Param, rng: random.Random) -> tuple[object, str]:
    """Draw a value for ``param`` and the words that say it in a request."""
    if param.type == "boolean":
        return not (param.say_false and rng.random() < 0.3), ""
    if param.enum:
        value = rng.choice(param.enum)
        return value, rng.choice(param.words[value])
    if param.type == "integer":
        value = rng.randint(int(param.lo), int(param.hi))
        return value, str(value)
    if param.type == "number":
        value = round(rng.uniform(param.lo, param.hi), rng.choice([1, 2]))
        return value, repr(value)
    if param.type == "array":
        items = rng.sample(POOLS[param.pool], rng.choice([2, 2, 3]))
        said = " and ".join(items) if len(items) == 2 else f"{items[0]}, {items[1]} and {items[2]}"
        return items, said
    value = rng.choice(POOLS[param.pool])
    return value, f'"{value}"' if param.pool in QUOTED_POOLS else value


def _phrase(param: Param, value: object, said: str, rng: random.Random) -> str:
    if param.type == "boolean":
        return rng.choice(param.say_true if value else param.say_false)
    return rng.choice(param.say).format(said)


def draw_call(tool: Tool, rng: random.Random, p_optional: float = 0.4) -> Draw:
    """Draw arguments for ``tool`` and a request saying them.

    In an intent, ``{param}`` takes the parameter's phrase ("for Paris") and ``<param>`` its bare
    spoken value ("Paris"); optional parameters not in the intent are appended as phrases.
    """
    intent = rng.choice(tool.intents)
    slots: dict[str, str] = {}
    extras: list[str] = []
    arguments: dict = {}
    for param in tool.params:
        if not param.required and rng.random() >= p_optional:
            continue
        value, said = _spoken(param, rng)
        while param.pool and value in arguments.values():  # no flight from Oslo to Oslo
            value, said = _spoken(param, rng)
        arguments[param.name] = value
        if f"<{param.name}>" in intent:
            intent = intent.replace(f"<{param.name}>", said)
        elif "{" + param.name + "}" in intent:
            slots[param.name] = _phrase(param, value, said, rng)
        else:
            extras.append(_phrase(param, value, said, rng))
    rng.shuffle(extras)
    text = intent.format(**slots)
    if extras:
        text += " " + " ".join(extras)
    # Keep the arguments in the tool's declared order so targets are canonical.
    ordered = {p.name: arguments[p.name] for p in tool.params if p.name in arguments}
    return Draw(tool, ordered, " ".join(text.split()))


def reasoning_for(calls: list[Draw]) -> str:
    """The structured reasoning target: every argument value, then the required-check."""
    if not calls:
        return "No tool fits this request, so no call."
    lines = []
    for draw in calls:
        args = ", ".join(f"{k}={v!r}" if not isinstance(v, str) else f"{k}={v}"
                         for k, v in draw.arguments.items())
        lines.append(f"{draw.tool.name}: {args}.")
    return " ".join(lines) + " All required present."


def in_held_out_bucket(request: str, pct: int) -> bool:
    digest = hashlib.blake2b(" ".join(request.lower().split()).encode(), digest_size=2).digest()
    return int.from_bytes(digest, "big") % 100 < pct


class SyntheticTask:
    """Data source of the synthetic task. ``train`` is a lazy sequence; ``held_out`` a list."""

    def __init__(self, seed: int = 0, train_size: int = 1_000_000, eval_size: int = 400,
                 mix: dict[str, float] | None = None, max_distractors: int = 3, p_optional: float = 0.4,
                 held_out_pct: int = 10, tools: Sequence[Tool] = TOOLS, eval_mix: dict[str, float] | None = None):
        self.seed = seed
        self.train_size = train_size
        self.eval_size = eval_size
        self.mix = dict(mix or DEFAULT_MIX)
        self.eval_mix = dict(eval_mix or DEFAULT_MIX)
        self.max_distractors = max_distractors
        self.p_optional = p_optional
        self.held_out_pct = held_out_pct
        self.tools = list(tools)

    def example(self, split: str, index: int) -> Example:
        rng = random.Random(f"funcall-synthetic:{self.seed}:{split}:{index}")
        mix = self.eval_mix if split == "heldout" else self.mix
        category = rng.choices(list(mix), weights=list(mix.values()))[0]
        return self._make(category, rng, f"synthetic-{split}-{self.seed}-{index}", split == "heldout")

    def train(self) -> LazyExamples:
        return LazyExamples(self, "train", self.train_size)

    def held_out(self) -> list[Example]:
        """``eval_size`` examples whose requests training never contains (see `_make`)."""
        return [self.example("heldout", i) for i in range(self.eval_size)]

    # -- assembling one example --------------------------------------------------------------
    def _distractors(self, chosen: list[Tool], rng: random.Random, k: int) -> list[Tool]:
        names = {t.name for t in chosen}
        same = [t for t in self.tools if t.domain in {c.domain for c in chosen} and t.name not in names]
        other = [t for t in self.tools if t.name not in names and t not in same]
        picks: list[Tool] = []
        if same and rng.random() < 0.5:
            picks.append(rng.choice(same))
        while len(picks) < k:
            pool = [t for t in other if t not in picks]
            picks.append(rng.choice(pool))
        return picks

    def _draw(self, category: str, rng: random.Random) -> tuple[str, list[Tool], list[Draw]]:
        if category == "irrelevance":
            target = rng.choice(self.tools)
            offered = rng.sample([t for t in self.tools if t.domain != target.domain], rng.randint(1, 3))
            request = rng.choice(CHITCHAT) if rng.random() < 0.2 else draw_call(target, rng, self.p_optional).request
            draws: list[Draw] = []
        elif category in ("simple_python", "multiple"):
            target = rng.choice(self.tools)
            draws = [draw_call(target, rng, self.p_optional)]
            offered = [target]
            if category == "multiple":
                offered += self._distractors([target], rng, rng.randint(1, self.max_distractors))
            request = draws[0].request
        else:
            first = rng.choice(self.tools)
            second = first if category == "parallel" else rng.choice([t for t in self.tools if t is not first])
            draws = [draw_call(first, rng, self.p_optional), draw_call(second, rng, self.p_optional)]
            while category == "parallel" and draws[1].arguments == draws[0].arguments:
                draws[1] = draw_call(second, rng, self.p_optional)
            offered = list({t.name: t for t in (first, second)}.values())
            if rng.random() < 0.5:
                offered += self._distractors(offered, rng, 1)
            second_text = draws[1].request
            if not second_text.startswith("I "):
                second_text = second_text[0].lower() + second_text[1:]
            request = draws[0].request + rng.choice(CONNECTORS) + second_text
        rng.shuffle(offered)
        return request, offered, draws

    def _make(self, category: str, rng: random.Random, ex_id: str, held_out: bool) -> Example:
        # Redraw until the request lands in its split's side of the hash partition, so no held-out
        # request is ever a training request (up to prefix and punctuation).
        while True:
            request, offered, draws = self._draw(category, rng)
            if in_held_out_bucket(request, self.held_out_pct) == held_out:
                break
        text = rng.choice(PREFIXES) + request + rng.choice(SUFFIXES)
        return Example(
            id=ex_id,
            tools=[t.doc() for t in offered],
            messages=[{"role": "user", "content": text}],
            calls=[{"name": d.tool.name, "arguments": d.arguments} for d in draws],
            reasoning=reasoning_for(draws),
            category=category,
        )


class LazyExamples(Sequence):
    """A sequence of generated examples made on access (nothing is stored): ``task.example(split, i)``
    (a `SyntheticTask`, or the multi-turn `funcall.data.multi_turn_source.MultiTurnSyntheticSource`)."""

    def __init__(self, task, split: str, size: int):
        self.task, self.split, self.size = task, split, size

    def __len__(self) -> int:
        return self.size

    def __getitem__(self, index):  # type: ignore[override]
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(self.size))]
        if not 0 <= index < self.size:
            raise IndexError(index)
        return self.task.example(self.split, index)
