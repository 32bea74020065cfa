"""A seeded generator of multi-turn training tasks over BFCL's own environment classes.

`generate(seed, split, i)` returns ``(entry, ground_truth)`` in BFCL's multi-turn format, the
shape `funcall.envs.bfcl_data.load_multi_turn` returns and `BFCLEnvironment.reset` and
`funcall.bfcl.multi_turn.check_multi_turn` accept: ``id``, ``question`` (turns, each a list of
messages; ``[]`` for a turn that only offers a withheld function), ``initial_config``,
``involved_classes``, ``function`` (BFCL's docs of those classes), ``missed_function`` for
miss_func tasks, and ``category`` (``base`` | ``miss_param`` | ``miss_func``). Extra keys for
training: ``steps`` (turns -> assistant steps -> call strings; a step's calls are written
together, a call that needs a result comes in a later step), ``reasoning`` (turns -> one short
think text per step, or one text for a turn answered without calls), ``replies`` (turns -> the
assistant's closing text: the clarifying question of a miss_param turn, the "no tool for this"
of a miss_func turn, else ``""``). The ground truth of a turn is its steps flattened.

How it differs from the obvious version (templates with ground truth written next to them):

* The ground truth is found by running the calls. A scenario (`funcall.data.multi_turn_scenarios`,
  `funcall.data.multi_turn_apps`) drives a `funcall.data.multi_turn_writer.TaskWriter` holding a
  live `BFCLEnvironment` of the task's initial state; every call
  is executed as it is written and an error result is a generator bug (raised, never shipped), so
  calls are valid in order and values taken from results (an id looked up, a file's last line, a
  distance) are the values the environment really returns. `self_check` replays a task's
  ground truth through the checker.
* miss_param and miss_func are transformations of a finished base episode, as BFCL derives its
  own: a turn that declared a vague wording becomes "vague request, no calls, ask" followed by
  "the missing value, the calls"; for miss_func a function first used at turn t is withheld, turn
  t gets no calls and turn t+1 (no user message) offers its doc via ``missed_function``. The
  calls executed are unchanged, so the states stay consistent.
* Splits are disjoint by text, per user message: every message is drawn (wording, greeting,
  punctuation) until a hash of it falls on its split's side (as `funcall.data.synthetic` does
  for a single request), and is also redrawn if it equals a BFCL multi-turn user message; a
  drawn initial state equal to a BFCL ``initial_config`` is redrawn as well.
"""
from __future__ import annotations

import random

from funcall.data.multi_turn_scenarios import SCENARIOS, draw_scenario
from funcall.data.multi_turn_writer import HELD_OUT_PCT, Redraw, TaskWriter, Turn, bfcl_texts_and_configs, canonical
from funcall.envs.bfcl_env import BFCLEnvironment
from funcall.utils.errors import DataError

CATEGORY_WEIGHTS = {"base": 0.5, "miss_param": 0.25, "miss_func": 0.25}


def _finish(writer: TaskWriter, category: str, entry_id: str) -> tuple[dict, list[list[str]]]:
    """The episode as a BFCL entry, with the miss_* transformation of ``category`` applied."""
    turns = list(writer.turns)
    missed: dict[str, list[dict]] = {}
    docs = [dict(d) for d in writer.docs]
    questions: list[list[dict]] = [[{"role": "user", "content": t.text}] for t in turns]
    steps = [t.steps for t in turns]
    reasoning = [t.reasoning for t in turns]
    replies = ["" for _ in turns]
    if category == "miss_param":
        candidates = [k for k, t in enumerate(turns) if t.vague]
        k = writer.rng.choice(candidates)
        vague_text, follow_up, question = turns[k].vague
        questions[k:k + 1] = [[{"role": "user", "content": vague_text}], [{"role": "user", "content": follow_up}]]
        steps[k:k + 1] = [[], steps[k]]
        reasoning[k:k + 1] = [[f"The request leaves out a value I need and cannot look up: {question}"], reasoning[k]]
        replies[k:k + 1] = [question, ""]
    elif category == "miss_func":
        k, name = _withheld(turns, writer.rng)
        doc = next(d for d in docs if d["name"] == name)
        docs.remove(doc)
        missed[str(k + 1)] = [doc]
        questions[k + 1:k + 1] = [[]]
        steps[k:k + 1] = [[], steps[k]]
        reasoning[k:k + 1] = [[f"This needs a function like {name}, and none of the functions I have does it; I say so and call nothing."],
                              [f"{name} is now available. " + reasoning[k][0], *reasoning[k][1:]]]
        replies[k:k + 1] = ["I don't have a function that can do that.", ""]
    entry = {"id": entry_id, "question": questions, "initial_config": writer.config, "involved_classes": list(writer.classes),
             "function": docs, "category": category, "steps": steps, "reasoning": reasoning, "replies": replies}
    if category == "miss_func":
        entry["missed_function"] = missed
    return entry, [[c for step in turn_steps for c in step] for turn_steps in steps]


def _withheld(turns: list[Turn], rng: random.Random) -> tuple[int, str]:
    """A (turn, function) where the function is first used at that turn (so withholding it until
    the next turn breaks no earlier turn)."""
    seen: set[str] = set()
    options = []
    for k, turn in enumerate(turns):
        names = [c.partition("(")[0] for step in turn.steps for c in step]
        options += [(k, n) for n in dict.fromkeys(names) if n not in seen]
        seen.update(names)
    if not options:
        raise Redraw("no function to withhold")
    return rng.choice(options)


def generate(seed: int, split: str, i: int, pct: int = HELD_OUT_PCT,
             weights: dict[str, float] | None = None) -> tuple[dict, list[list[str]]]:
    """Task ``i`` of ``split`` (``train`` or ``heldout``): a pure function of its arguments."""
    weights = weights or CATEGORY_WEIGHTS
    rng = random.Random(f"funcall-multi-turn:{seed}:{split}:{i}")
    configs = bfcl_texts_and_configs()[1]
    for _ in range(50):
        category = rng.choices(list(weights), weights=list(weights.values()))[0]
        name = draw_scenario(rng)
        classes, config, world = SCENARIOS[name].setup(rng)
        if canonical(config) in configs:
            continue
        writer = TaskWriter(rng, classes, config, held_out=split == "heldout", pct=pct)
        writer.world = world
        try:
            SCENARIOS[name].play(writer, rng)
            if category == "miss_param" and not any(t.vague for t in writer.turns):
                category = "base"
            return _finish(writer, category, f"synthetic_multi_turn_{category}_{name}_{split}_{seed}_{i}")
        except Redraw:
            continue
    raise DataError(f"multi-turn synthetic task {split}/{i} (seed {seed}): no draw succeeded")


def held_out(seed: int = 0, n: int = 200, pct: int = HELD_OUT_PCT) -> list[tuple[dict, list[list[str]]]]:
    """``n`` held-out tasks: no user message of theirs is a training message (module docstring)."""
    return [generate(seed, "heldout", i, pct) for i in range(n)]


class MultiTurnTasks:
    """Tasks of one split as a lazy sequence: ``tasks[i] == generate(seed, split, i)``."""

    def __init__(self, seed: int = 0, split: str = "train", size: int = 100_000, pct: int = HELD_OUT_PCT):
        self.seed, self.split, self.size, self.pct = seed, split, size, pct

    def __len__(self) -> int:
        return self.size

    def __getitem__(self, i: int) -> tuple[dict, list[list[str]]]:
        if not 0 <= i < self.size:
            raise IndexError(i)
        return generate(self.seed, self.split, i, self.pct)


def self_check(entry: dict, ground_truth: list[list[str]]) -> dict:
    """The checker's verdict on the ground truth itself, replayed step by step as model output."""
    from funcall.bfcl.multi_turn import check_multi_turn

    output = [list(turn_steps) for turn_steps in entry["steps"]]
    return check_multi_turn(entry, ground_truth, output, BFCLEnvironment)
