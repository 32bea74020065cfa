"""BFCL's memory questions as a data source: ``data=bfcl_memory`` (RL episodes on the memory backends).

Each example is one question of ``BFCL_v4_memory.json`` on one backend (``data.source.categories``),
prepared as ``eval=bfcl_memory`` prepares it (`funcall.envs.memory_data`): the agentic answer format,
the backend's function docs, and the memory system prompt showing the memory it starts from. The
memory is the snapshot an ``eval=bfcl_memory`` run left (``data.source.snapshots``: its
``bfcl_memory_snapshots.json``, the memory each backend's prerequisite chain of each scenario
ended with), or empty without one. The task travels in ``meta["multi_turn"]`` as the multi-turn
sources' does (entry with ``memory_snapshot``; ``ground_truth`` = the possible answers), so the
multi-turn agent loop plays it on `funcall.envs.memory_env` (the environment process picks the
memory backend from ``involved_classes``), and ``meta["memory"]`` marks it for the reward
`funcall.rewards.memory_answer.MemoryAnswerReward` (BFCL's agentic rule on the episode's last message).

Held-in / held-out: by question, a seeded shuffle of the question ids, the same for every backend
(a question held out is held out on all of them), ``eval_size`` questions (at most a fifth).
How it departs from the benchmark: the prerequisite conversations are not replayed per episode
(a question starts from a fixed snapshot), which is what makes a question a short episode.
"""
from __future__ import annotations

import json
import random
from pathlib import Path

from funcall.data.files import FileSource
from funcall.data.schema import Example
from funcall.utils.errors import ConfigError, DataError

__all__ = ["BFCLMemorySource", "memory_context"]


def memory_context(category: str, snapshot: dict | None) -> str:
    """What the backend's ``_dump_core_memory_to_context`` shows for ``snapshot`` (kv and rec_sum)."""
    if category == "memory_rec_sum":
        text = (snapshot or {}).get("memory") or ""
        return str(text) if text else "There is no content in the memory at this point."
    core = (snapshot or {}).get("core_memory") or {}
    return json.dumps(core, indent=4) if core else "There is no content in the core memory at this point."


class BFCLMemorySource(FileSource):
    """BFCL memory questions as examples (module docstring)."""

    def __init__(self, data_dir: str, categories: list[str] | tuple[str, ...] = ("memory_kv", "memory_rec_sum"),
                 snapshots: str | None = None, eval_size: int = 30, seed: int = 0):
        from funcall.envs.memory_data import load_memory, with_memory_prompt

        if not data_dir or not Path(str(data_dir)).is_dir():
            raise ConfigError(f"data.path={data_dir}: no such directory (bfcl-eval's data folder)")
        bad = [c for c in categories if c not in ("memory_kv", "memory_rec_sum")]
        if bad or not categories:
            raise ConfigError(f"data.source.categories: {bad[0] if bad else 'none given'!r}; choose from memory_kv, "
                              "memory_rec_sum (memory_vector needs its embedding model in the environment process)")
        memory = self._snapshots(snapshots)
        ids = sorted({e["id"][len(categories[0]) + 1:] for e, _ in load_memory(data_dir, categories[0]).questions})
        order = list(ids)
        random.Random(int(seed)).shuffle(order)
        held = set(order[: min(int(eval_size), len(ids) // 5)])
        train, heldout = [], []
        for category in categories:
            for entry, truth in load_memory(data_dir, category).questions:
                snapshot = (memory.get(category) or {}).get(entry["scenario"])
                entry = with_memory_prompt({**entry, "memory_snapshot": snapshot}, memory_context(category, snapshot))
                example = Example(id=entry["id"], tools=list(entry["function"]), messages=list(entry["question"][0]),
                                  calls=[], category=category,
                                  meta={"multi_turn": {"entry": entry, "ground_truth": [list(truth)]}, "memory": True})
                (heldout if entry["id"][len(category) + 1:] in held else train).append(example)
        super().__init__(train, eval_examples=heldout, seed=int(seed))

    @staticmethod
    def _snapshots(path: str | None) -> dict:
        if not path:
            return {}
        try:
            return json.loads(Path(path).read_text(encoding="utf-8"))
        except OSError as exc:
            raise DataError(f"data.source.snapshots={path}: cannot read ({exc.strerror or exc})") from None
        except json.JSONDecodeError as exc:
            raise DataError(f"data.source.snapshots={path}:{exc.lineno}: not JSON ({exc.msg})") from None
