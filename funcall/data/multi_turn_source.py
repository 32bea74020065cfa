"""Multi-turn tasks as data sources: ``data=multi_turn_synthetic`` and ``data=bfcl_multi_turn data.path=DIR``.

Both sources yield the one `funcall.data.schema.Example` schema, so the sampler, the trainers and
the held-out split treat a multi-turn task like any other example. The example carries what the
first step needs to be prompted (``tools`` = the entry's ``function`` docs, ``messages`` = the
first turn's messages, ``calls = []``) and the whole task in ``meta["multi_turn"]``:
``{"entry": <BFCL multi-turn entry>, "ground_truth": <turns -> call strings>}``. `multi_turn_task`
reads it back; trainers dispatch on it (SFT: `funcall.data.multi_turn_tokenize`, RL: episodes on
the environments, held-out evaluation: the episode pass rate).

* `MultiTurnSyntheticSource`: the seeded generator `funcall.data.multi_turn_synthetic`, made on
  access (task ``i`` is ``generate(seed, "train", i)``); its held-out tasks are the ``heldout``
  split, disjoint from training per user message by construction.
* `BFCLMultiTurnSource`: BFCL-format files (``BFCL_v4_multi_turn_<category>.json`` and
  ``possible_answer/BFCL_v4_multi_turn_<category>.json``), BFCL's own or the user's split; the
  entries are prepared as BFCL's inference prepares them (`funcall.envs.bfcl_data.prepare_entry`),
  with the function docs of the folder's ``multi_turn_func_doc/`` or, when the folder has none,
  of the installed ``bfcl-eval``; an entry that already has ``function`` (a generated task
  written out in BFCL's format) is taken as it is. ``eval_size`` entries (at most a fifth) are held out by a
  seeded shuffle, as ``data=bfcl`` does.

An example's category is ``multi_turn_<category>`` for entries that name theirs (the synthetic
``base`` / ``miss_param`` / ``miss_func``), else BFCL's category read from the id
(``multi_turn_base_12`` -> ``multi_turn_base``), else the file's.
"""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from funcall.data.files import FileSource
from funcall.data.schema import Example
from funcall.data.synthetic import LazyExamples
from funcall.utils.errors import ConfigError, DataError

__all__ = ["BFCLMultiTurnSource", "MultiTurnSyntheticSource", "example_from_task", "multi_turn_task"]


def multi_turn_task(example: Example) -> tuple[dict, list[list[str]]] | None:
    """``(entry, ground_truth)`` of a multi-turn example, None for a single-turn one."""
    task = (example.meta or {}).get("multi_turn")
    if not task:
        return None
    return task["entry"], task["ground_truth"]


def task_category(entry: dict, fallback: str | None = None) -> str:
    """The example category of an entry (module docstring)."""
    from funcall.envs.bfcl_data import MULTI_TURN_CATEGORIES
    from funcall.envs.bfcl_env import category_of

    own = entry.get("category")
    if own:
        return own if str(own).startswith("multi_turn_") else f"multi_turn_{own}"
    from_id = category_of(str(entry.get("id", "")))
    if from_id in MULTI_TURN_CATEGORIES or fallback is None:
        return from_id
    return fallback


def example_from_task(entry: dict, ground_truth: list[list[str]], fallback_category: str | None = None) -> Example:
    if not entry.get("question") or not isinstance(entry["question"][0], list):
        raise DataError(f"multi-turn entry {entry.get('id')!r}: 'question' must be a list of turns (lists of messages)")
    return Example(id=str(entry["id"]), tools=list(entry.get("function") or []), messages=list(entry["question"][0]),
                   calls=[], category=task_category(entry, fallback_category),
                   meta={"multi_turn": {"entry": entry, "ground_truth": ground_truth}})


class MultiTurnSyntheticSource:
    """The seeded multi-turn generator as a data source. ``weights``: the training split's
    category weights (``{base: .5, miss_param: .25, miss_func: .25}`` by default); the held-out
    split keeps the default weights, so runs trained on different mixes are scored alike."""

    def __init__(self, seed: int = 0, train_size: int = 100_000, eval_size: int = 64,
                 weights: dict[str, float] | None = None):
        self.seed, self.train_size, self.eval_size = int(seed), int(train_size), int(eval_size)
        self.weights = dict(weights) if weights else None
        if self.weights is not None:
            unknown = set(self.weights) - {"base", "miss_param", "miss_func"}
            if unknown:
                raise ConfigError(f"data.source.weights: unknown categories {sorted(unknown)} "
                                  "(choose from base, miss_param, miss_func)")

    def example(self, split: str, index: int) -> Example:
        """Task ``index`` of ``split`` as an `Example` (the training weights apply to "train" only)."""
        from funcall.data.multi_turn_synthetic import generate

        return example_from_task(*generate(self.seed, split, index, weights=self.weights if split == "train" else None))

    def train(self) -> LazyExamples:
        return LazyExamples(self, "train", self.train_size)

    def held_out(self) -> list[Example]:
        return list(LazyExamples(self, "heldout", self.eval_size))


def _docs_dir(data_dir: Path) -> str:
    """Where the class function docs are: the folder's own ``multi_turn_func_doc/``, else bfcl-eval's."""
    from funcall.envs.bfcl_data import installed_bfcl_data

    if (data_dir / "multi_turn_func_doc").is_dir():
        return str(data_dir)
    found = installed_bfcl_data()
    if found is None:
        raise DataError(f"data.path={data_dir}: no multi_turn_func_doc/ folder and no installed bfcl-eval "
                        "to take the function docs from (pip install --no-deps bfcl-eval)")
    return found


def load_bfcl_multi_turn(data_dir: str | Path, categories: Sequence[str]) -> list[tuple[dict, list, str]]:
    """``(entry, ground_truth, category)`` of every entry of ``categories`` in ``data_dir``."""
    from funcall.envs.bfcl_data import MULTI_TURN_CATEGORIES, prepare_entry, read_jsonl

    folder = Path(str(data_dir))
    if not folder.is_dir():
        raise ConfigError(f"data.path={data_dir}: no such directory (a folder of BFCL_v4_multi_turn_*.json "
                          "files and possible_answer/)")
    out = []
    docs = None
    for category in categories:
        if category not in MULTI_TURN_CATEGORIES:
            raise ConfigError(f"data.source.categories: unknown multi-turn category {category!r} "
                              f"(choose from {', '.join(MULTI_TURN_CATEGORIES)})")
        entries_file = folder / f"BFCL_v4_{category}.json"
        answers_file = folder / "possible_answer" / f"BFCL_v4_{category}.json"
        for f in (entries_file, answers_file):
            if not f.is_file():
                raise DataError(f"data.path={data_dir}: no {f.relative_to(folder)} (drop {category} from "
                                "data.source.categories, or add the file)")
        answers = {a.get("id"): a.get("ground_truth") for a in read_jsonl(answers_file)}
        for entry in read_jsonl(entries_file):
            if "function" not in entry:
                docs = docs or _docs_dir(folder)
            if entry.get("id") not in answers:
                raise DataError(f"{answers_file}: no ground truth for {entry.get('id')!r}")
            # an entry that already holds its docs (a generated task written out) is kept as it is
            out.append((entry if "function" in entry else prepare_entry(entry, docs), answers[entry["id"]], category))
    return out


class BFCLMultiTurnSource(FileSource):
    """BFCL-format multi-turn files as a data source (module docstring)."""

    def __init__(self, data_dir: str, categories: Sequence[str], eval_size: int = 50, seed: int = 0):
        tasks = load_bfcl_multi_turn(data_dir, list(categories))
        if not tasks:
            raise DataError(f"data.path={data_dir}: no entries in {', '.join(categories)}")
        examples = [example_from_task(entry, truth, category) for entry, truth, category in tasks]
        super().__init__(examples, eval_size=int(eval_size), seed=int(seed))

