"""BFCL v4 memory evaluation: prerequisite conversations, then the questions, BFCL's agentic checker.

`BFCLMemoryEval` is the ``eval=bfcl_memory`` task of ``python -m funcall.evaluate``. For each
memory backend (``memory_kv``, ``memory_rec_sum``; ``memory_vector`` with
``eval.memory.embedding_model``) and each scenario its first ``eval.limit`` questions need, the
scenario's prerequisite conversations are played through the model in file order, each a
multi-turn conversation on the official backend class (`funcall.envs.memory_env`, in the
environment child process, calls parsed and type-checked, never ``eval``ed), each starting from
the memory the previous one left, with BFCL's memory system prompt showing its core memory. Then
every question is asked from the memory the last prerequisite left, and judged on its last
message that is not a call by BFCL's agentic rule (`funcall.envs.memory_check`).

Ranks: the (backend, scenario) chains are dealt over ranks; stage k plays the k-th prerequisite
of every chain at once (`funcall.rollout.episode_driver.play`, collective: every rank plays every
stage, possibly with nothing), then all questions are played together.

Files: ``bfcl_scores.json`` gains the categories under bfcl-eval's names (``accuracy``, ``n``,
``not_run``, ``unparseable``; a backend not run has every entry ``not_run`` and a ``reason``);
``bfcl_memory_results.jsonl`` one row per question (its conversation, last message, verdict);
``bfcl_memory_prereq.jsonl`` one row per prerequisite conversation; ``bfcl_memory_snapshots.json``
the memory each chain ended with (what ``data=bfcl_memory`` can start questions from).
"""
from __future__ import annotations

import importlib.util
import json
import logging
from pathlib import Path
from typing import Any

from funcall.data.prompts import PromptStyle
from funcall.data.template_roles import check_template
from funcall.dist import shard
from funcall.envs.conversation import Conversation
from funcall.envs.memory_check import check_agentic
from funcall.envs.memory_data import MEMORY_CATEGORIES, SCENARIOS, MemoryCategory, load_memory, with_memory_prompt
from funcall.envs.memory_env import EMBEDDING_ENV
from funcall.envs.worker import EnvPool
from funcall.eval.bfcl_multi_turn import check_episode_options
from funcall.eval.bfcl_report import flat_metrics, jsonable, notes, write_scores
from funcall.eval.task import GreedySteps, Report
from funcall.rollout.episode_driver import never_ran, open_episode, play
from funcall.utils.atomic import write_json_atomic, write_jsonl_atomic
from funcall.utils.errors import ConfigError

FAILURE_COLUMNS = ["id", "category", "error_type", "ended_by", "last_message", "possible_answers"]
NOT_RUN_PROMPT = "not_run:prompt_too_long"
NEEDS = {"memory_kv": ("rank_bm25",), "memory_vector": ("sentence_transformers", "faiss")}


def answer_text(text: str) -> str:
    """The answer a prompting handler records for a step: the text after ``</think>`` (Qwen's handler)."""
    return text.split("</think>")[-1].lstrip("\n") if "</think>" in text else text


def plain_text(value: Any) -> Any:
    """JSON-safe and UTF-8-safe (lone surrogates escaped) copy of ``jsonable(value)``."""
    value = jsonable(value)
    if isinstance(value, str):
        return value.encode("utf-8", "backslashreplace").decode("utf-8")
    if isinstance(value, dict):
        return {plain_text(k): plain_text(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain_text(v) for v in value]
    return value


def memory_table(scores: dict, categories: list[str]) -> str:
    """Category, n, not_run, accuracy (%), unparseable (% of its steps) of the memory categories."""
    lines = [f"{'category':<16}  {'n':>6}  {'not_run':>7}  {'accuracy %':>10}  {'unparseable %':>13}"]
    for name in categories:
        v = scores["categories"][name]
        unparseable = "n/a" if v.get("unparseable") is None else f"{100 * v['unparseable']:.2f}"
        lines.append(f"{name:<16}  {v['n']:>6}  {v['not_run']:>7}  {100 * v['accuracy']:>10.2f}  {unparseable:>13}")
    return "\n".join(lines)


class BFCLMemoryEval:
    name = "bfcl_memory"

    def __init__(self, data_dir: str | None = None, categories: list[str] | tuple[str, ...] = MEMORY_CATEGORIES,
                 scenarios: list[str] | tuple[str, ...] = SCENARIOS, limit: int | None = None,
                 embedding_model: str | None = None, batch_size: int = 16, max_new_tokens: int = 256,
                 max_steps_per_turn: int = 20, max_prompt_tokens: int | None = None, prompt: PromptStyle | None = None,
                 timeout_s: float = 10.0, table_rows: int = 100):
        self.data_dir, self.limit = data_dir, limit
        self.categories = list(dict.fromkeys(categories or []))
        self.scenarios = list(dict.fromkeys(scenarios or []))
        self.embedding_model = embedding_model
        self.batch_size, self.max_new_tokens = int(batch_size), int(max_new_tokens)
        self.max_steps_per_turn, self.max_prompt_tokens = int(max_steps_per_turn), max_prompt_tokens
        self.style = prompt or PromptStyle(answer_format="python", tool_style="json")
        self.timeout_s, self.table_rows = float(timeout_s), table_rows
        self.work: list[MemoryCategory] = []
        self.skipped: dict[str, tuple[MemoryCategory, str]] = {}  # category -> (its entries, why not run)

    def _validate(self) -> None:
        key = "eval.memory"
        if self.data_dir in (None, "") or not Path(self.data_dir).is_dir():
            raise ConfigError(f"eval.data_dir={self.data_dir}: no such directory (pip install --no-deps "
                              "bfcl-eval==2026.3.23, or pass eval.data_dir=DIR)")
        for option, given, known in (("categories", self.categories, MEMORY_CATEGORIES), ("scenarios", self.scenarios, SCENARIOS)):
            unknown = [c for c in given if c not in known]
            if unknown or not given:
                raise ConfigError(f"{key}.{option}: {'unknown ' + repr(unknown[0]) if unknown else 'none given'}; "
                                  f"choose from {', '.join(known)}")
        check_episode_options(key, self.limit, self.batch_size, self.max_new_tokens, self.max_steps_per_turn,
                              self.timeout_s, self.style.answer_format)
        if self.embedding_model and not Path(self.embedding_model).is_dir():
            raise ConfigError(f"eval.memory.embedding_model={self.embedding_model}: no such directory "
                              "(a local copy of sentence-transformers' all-MiniLM-L6-v2)")

    def why_not_run(self, category: str) -> str | None:
        if category == "memory_vector" and not self.embedding_model:
            return ("memory_vector needs its embedding model (all-MiniLM-L6-v2) as a local folder: "
                    "eval.memory.embedding_model=PATH; none was given")
        missing = [m for m in NEEDS.get(category, ()) if importlib.util.find_spec(m) is None]
        if missing:
            return f"{category}'s backend needs the Python packages {', '.join(missing)}, which are not installed"
        return None

    def load(self) -> int:
        self._validate()
        limit = None if self.limit is None else int(self.limit)
        self.work, self.skipped = [], {}
        for category in self.categories:
            loaded = load_memory(self.data_dir, category, limit, tuple(self.scenarios))
            reason = self.why_not_run(category)
            if reason:
                self.skipped[category] = (loaded, reason)
            else:
                self.work.append(loaded)
        return sum(len(m.questions) for m in self.work)

    def chains(self) -> list[tuple[MemoryCategory, str]]:
        """Every (backend, scenario) chain, in a fixed order (the same on every rank)."""
        return [(m, scenario) for m in self.work for scenario in m.chains]

    def run(self, engine, tokenizer, dist, context_length: int | None = None, progress=None) -> list[dict]:
        check_template(tokenizer, self.style, multi_turn=True, option="eval.prompt")
        chains = self.chains()
        mine = shard(len(chains), dist.rank, dist.world_size)
        limit = (int(self.max_prompt_tokens) if self.max_prompt_tokens is not None
                 else context_length - self.max_new_tokens if context_length else None)
        sampler = GreedySteps(engine, batch_size=self.batch_size, max_new_tokens=self.max_new_tokens)
        env = {EMBEDDING_ENV: str(Path(self.embedding_model).resolve())} if self.embedding_model else {}
        memory = {i: None for i in mine}  # chain -> the snapshot its next entry starts from
        rows: list[dict] = []
        with EnvPool(timeout_s=self.timeout_s, memory_mb=16384 if env else 4096, env=env) as pool:
            stages = max((len(m.chains[s]) for m, s in chains), default=0)
            for stage in range(stages):
                todo = [(i, chains[i][0].chains[chains[i][1]][stage]) for i in mine if stage < len(chains[i][0].chains[chains[i][1]])]
                done = self._play(pool, [(entry, memory[i]) for i, entry in todo], tokenizer, sampler, limit)
                for (i, _), (c, snapshot) in zip(todo, done):
                    memory[i] = snapshot
                    rows.append(self._prereq_row(c, snapshot))
            asked = [(index, i, entry, truth) for index, (i, entry, truth) in enumerate(self._questions(chains)) if i in mine]
            done = self._play(pool, [(entry, memory[i]) for _, i, entry, _ in asked], tokenizer, sampler, limit,
                              on_end=None if progress is None else lambda _: progress.update(1))
            rows += [self._question_row(index, entry, truth, c) for (index, _, entry, truth), (c, _) in zip(asked, done)]
        return rows

    def _questions(self, chains) -> list[tuple[int, dict, list[str]]]:
        where = {(m.category, s): i for i, (m, s) in enumerate(chains)}
        return [(where[(m.category, e["scenario"])], e, truth) for m in self.work for e, truth in m.questions]

    def _play(self, pool: EnvPool, starts: list[tuple[dict, dict | None]], tokenizer, sampler, limit,
              on_end=None) -> list[tuple[Conversation, dict | None]]:
        """Play each entry from its memory snapshot; (conversation, the snapshot it ended with)."""
        episodes = []
        for entry, snapshot in starts:
            entry = {**entry, "memory_snapshot": snapshot}
            env = pool.open()
            env.reset(entry)
            context = env.state()[entry["involved_classes"][0]]["context"]
            conversation = Conversation(entry=with_memory_prompt(entry, context), env=env)
            episodes.append(open_episode(conversation, tokenizer, self.style, limit=limit))
        play(episodes, sampler, tokenizer, self.style, max_steps_per_turn=self.max_steps_per_turn, on_end=on_end)
        out = []
        for ep in episodes:
            c = ep.conversation
            out.append((c, next(iter(c.env.state().values()))["snapshot"]))
            c.env.close()
        return out

    @staticmethod
    def _prereq_row(c: Conversation, snapshot: dict | None) -> dict:
        return plain_text({"kind": "prereq", "id": c.entry["id"], "scenario": c.entry["scenario"], "ended_by": c.ended_by,
                           "turns": c.log, "memory_after": snapshot})

    @staticmethod
    def _question_row(index: int, entry: dict, truth: list[str], c: Conversation) -> dict:
        skipped = never_ran(c)
        steps = [[answer_text(m["content"]) for m in turn if m.get("role") == "assistant"] for turn in c.log]
        result = ({"valid": False, "error_type": NOT_RUN_PROMPT, "last_message": None,
                   "error_message": "the first prompt is over the prompt limit: nothing was generated"}
                  if skipped else check_agentic(steps, truth))
        return plain_text({"kind": "question", "index": index, "id": entry["id"], "category": entry["id"].rsplit("_", 1)[0],
                           "scenario": entry["scenario"], "valid": bool(result["valid"]), "error_type": result["error_type"],
                           "error_message": result["error_message"], "last_message": result["last_message"],
                           "possible_answers": truth, "ended_by": c.ended_by, "turns": c.log, "not_run": skipped,
                           "prompt_too_long": c.ended_by == "prompt_too_long"})

    def not_run_rows(self) -> list[dict]:
        rows = []
        for category, (loaded, reason) in self.skipped.items():
            rows += [{"kind": "question", "index": -1, "id": e["id"], "category": category, "scenario": e["scenario"],
                      "valid": False, "error_type": "not_run:backend_unavailable", "error_message": reason,
                      "not_run_reason": reason,
                      "last_message": None, "possible_answers": truth, "ended_by": "not_run", "turns": [],
                      "not_run": True, "prompt_too_long": False} for e, truth in loaded.questions]
        return rows

    def report(self, rows: list[dict], run_dir: Path, meta: dict[str, Any]) -> Report:
        run_dir = Path(run_dir)
        prereq = [r for r in rows if r["kind"] == "prereq"]
        questions = sorted((r for r in rows if r["kind"] == "question"), key=lambda r: r["index"]) + self.not_run_rows()
        meta = {"answer_format": self.style.answer_format, "limit": self.limit, "scenarios": self.scenarios,
                "max_new_tokens": self.max_new_tokens, "max_steps_per_turn": self.max_steps_per_turn,
                "data_dir": str(self.data_dir), "embedding_model": self.embedding_model, **meta}
        # the rows not run carry their reason, which write_scores puts on the category (and the
        # leaderboard block, recomputed there, names as not run)
        scores = write_scores(run_dir, questions, self.categories, {"bfcl_memory": meta})
        reasons = {category: reason for category, (_, reason) in self.skipped.items()}
        write_jsonl_atomic(run_dir / "bfcl_memory_results.jsonl", [{k: v for k, v in r.items() if k not in ("index", "kind")}
                                                                   for r in questions])
        write_jsonl_atomic(run_dir / "bfcl_memory_prereq.jsonl", prereq)
        snapshots: dict[str, dict] = {}
        for r in prereq:  # rows of one chain come in order: the last one's memory is the chain's
            snapshots.setdefault(r["id"].split("_prereq")[0], {})[r["scenario"]] = r["memory_after"]
        write_json_atomic(run_dir / "bfcl_memory_snapshots.json", snapshots)
        return self._report(scores, questions, prereq, reasons)

    def _report(self, scores: dict, questions: list[dict], prereq: list[dict], reasons: dict[str, str]) -> Report:
        failures = [[r["id"], r["category"], r["error_type"], r["ended_by"], (r["last_message"] or "")[-500:],
                     json.dumps(r["possible_answers"], ensure_ascii=False)] for r in questions if not r["valid"]]
        ended: dict[str, int] = {}
        for r in prereq:
            ended[r["ended_by"]] = ended.get(r["ended_by"], 0) + 1
        lines = [memory_table(scores, self.categories), *notes(scores),
                 f"prerequisite conversations: {len(prereq)} (ended: "
                 + ", ".join(f"{k} {v}" for k, v in sorted(ended.items())) + ")"]
        lines += [f"not run: {category}: {reason}" for category, reason in reasons.items()]
        for line in lines[-len(reasons):] if reasons else []:
            logging.getLogger("funcall").warning(line)
        too_long = sum(bool(r.get("prompt_too_long")) for r in questions)
        if too_long:
            logging.getLogger("funcall").warning(f"{too_long} memory questions hit the prompt limit ({NOT_RUN_PROMPT} when "
                                                 "nothing was generated; they count as wrong)")
        metrics = flat_metrics(scores)
        return Report(metrics=metrics, table="\n".join(lines), failure_columns=FAILURE_COLUMNS,
                      failure_rows=failures[: self.table_rows])

