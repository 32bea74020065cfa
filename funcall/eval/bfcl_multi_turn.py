"""BFCL v4 multi-turn evaluation: conversations with the official environments, BFCL's checker, scores.

`BFCLMultiTurnEval` is the ``eval=bfcl_multi_turn`` task of ``python -m funcall.evaluate`` (also in
``eval=[bfcl,bfcl_multi_turn]``). For the categories ``multi_turn_base``, ``_miss_func``,
``_miss_param`` and ``_long_context`` (``eval.limit`` entries each), every rank converses with its
share of the entries token by token, as training plays its episodes (the one episode driver,
`funcall.rollout.episode_driver`), the calls running on `funcall.envs` in a
child process, and each finished conversation is judged by `funcall.bfcl.multi_turn` (the
release's rules). Files: ``bfcl_scores.json`` gains the four categories and ``multi_turn`` (their
unweighted mean, as BFCL reports it) next to whatever single-turn categories this run scored, and
``bfcl_multi_turn_results.jsonl`` holds one row per entry: its turns (every message, call and
result), the decoded output the checker saw, the verdict and how the conversation ended.
An entry whose first prompt is over the prompt limit (``max_prompt_tokens``, or the model's
context minus ``max_new_tokens``) never ran: its row is ``not_run`` (``error_type``
``not_run:prompt_too_long``), it is not handed to the checker and counts as wrong, and the count
is reported as in the single-turn task (`funcall.eval.bfcl_report`). A conversation that
overflows later did run, and is judged on what it did, as BFCL judges it.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from funcall.bfcl.multi_turn import check_multi_turn
from funcall.bfcl.scores import MULTI_TURN
from funcall.calls.formats import FORMATS
from funcall.data.prompts import PromptStyle
from funcall.data.template_roles import check_template
from funcall.dist import shard
from funcall.envs.bfcl_data import load_multi_turn
from funcall.envs.conversation import Conversation
from funcall.envs.worker import EnvPool
from funcall.eval.bfcl_report import NOT_RUN, flat_metrics, format_table, jsonable, warn_not_run, write_scores
from funcall.eval.task import GreedySteps, Report
from funcall.rollout.episode_driver import never_ran, open_episode, play
from funcall.utils.atomic import write_jsonl_atomic
from funcall.utils.errors import ConfigError

FAILURE_COLUMNS = ["id", "category", "error_type", "ended_by", "last_answer"]


class BFCLMultiTurnEval:
    name = "bfcl_multi_turn"

    def __init__(self, data_dir: str | None = None, categories: list[str] | tuple[str, ...] = MULTI_TURN,
                 limit: int | None = None, batch_size: int = 16, max_new_tokens: int = 256,
                 max_steps_per_turn: int = 20, max_prompt_tokens: int | None = None, prompt: PromptStyle | None = None,
                 timeout_s: float = 10.0, table_rows: int = 100):
        self.data_dir = data_dir
        self.categories = list(dict.fromkeys(categories or []))
        self.limit = limit
        self.batch_size = int(batch_size)
        self.max_new_tokens = int(max_new_tokens)
        self.max_steps_per_turn = int(max_steps_per_turn)
        self.max_prompt_tokens = max_prompt_tokens
        self.style = prompt or PromptStyle(answer_format="python", tool_style="json")
        self.timeout_s = float(timeout_s)
        self.table_rows = table_rows
        self.pairs: list[tuple[dict, list]] = []

    def load(self) -> int:
        key = "eval.bfcl_multi_turn"
        if self.data_dir in (None, ""):
            raise ConfigError("eval.data_dir is not set and no installed bfcl_eval package holds the data: pip install "
                              "--no-deps bfcl-eval==2026.3.23 (make install), or pass eval.data_dir=DIR")
        if not Path(self.data_dir).is_dir():
            raise ConfigError(f"eval.data_dir={self.data_dir}: no such directory")
        unknown = [c for c in self.categories if c not in MULTI_TURN]
        if unknown or not self.categories:
            raise ConfigError(f"{key}.categories: {'unknown ' + repr(unknown[0]) if unknown else 'none given'}; "
                              f"choose from {', '.join(MULTI_TURN)}")
        check_episode_options(key, self.limit, self.batch_size, self.max_new_tokens, self.max_steps_per_turn,
                              self.timeout_s, self.style.answer_format)
        limit = None if self.limit is None else int(self.limit)
        self.pairs = [pair for c in self.categories for pair in load_multi_turn(self.data_dir, c, limit)]
        return len(self.pairs)

    def prompt_limit(self, context_length: int | None) -> int | None:
        if self.max_prompt_tokens is not None:
            return int(self.max_prompt_tokens)
        return context_length - self.max_new_tokens if context_length else None

    def run(self, engine, tokenizer, dist, context_length: int | None = None, progress=None) -> list[dict]:
        check_template(tokenizer, self.style, multi_turn=True, option="eval.prompt")  # a refused role: one line, not a Jinja traceback
        indices = shard(len(self.pairs), dist.rank, dist.world_size)
        with EnvPool(timeout_s=self.timeout_s) as pool:
            limit = self.prompt_limit(context_length)
            episodes = [open_episode(Conversation(entry=self.pairs[i][0], env=pool.open()), tokenizer, self.style,
                                     limit=limit) for i in indices]
            play(episodes, GreedySteps(engine, batch_size=self.batch_size, max_new_tokens=self.max_new_tokens),
                 tokenizer, self.style, max_steps_per_turn=self.max_steps_per_turn,
                 on_end=None if progress is None else lambda _: progress.update(1))
            rows = []
            for i, c in zip(indices, (ep.conversation for ep in episodes)):
                entry, truth = self.pairs[i]
                skipped = never_ran(c)
                result = ({"valid": False, "error_type": NOT_RUN, "error_message": "the first prompt is over the "
                           "prompt limit: nothing was generated"} if skipped
                          else check_multi_turn(entry, truth, c.output, pool.open))
                rows.append({"index": i, "id": entry["id"], "category": entry["id"].rsplit("_", 1)[0],
                             "valid": bool(result["valid"]), "error_type": result["error_type"],
                             "error_message": result["error_message"], "ended_by": c.ended_by,
                             "model_output": c.output, "turns": jsonable(c.log),
                             "prompt_too_long": c.ended_by == "prompt_too_long", "not_run": skipped})
                c.env.close()
        return rows

    def report(self, rows: list[dict], run_dir: Path, meta: dict[str, Any]) -> Report:
        rows = sorted(rows, key=lambda r: r["index"])
        meta = {"answer_format": self.style.answer_format, "limit": self.limit, "max_new_tokens": self.max_new_tokens,
                "max_steps_per_turn": self.max_steps_per_turn, "data_dir": str(self.data_dir), **meta}
        scores = write_scores(run_dir, rows, self.categories, {"bfcl_multi_turn": meta})
        write_jsonl_atomic(Path(run_dir) / "bfcl_multi_turn_results.jsonl",
                           [{k: v for k, v in r.items() if k != "index"} for r in rows])
        failures = [[r["id"], r["category"], r["error_type"], r["ended_by"], _last_answer(r["turns"])]
                    for r in rows if not r["valid"]][: self.table_rows]
        ended = {}
        for r in rows:
            ended[r["ended_by"]] = ended.get(r["ended_by"], 0) + 1
        table = format_table(scores) + "\nconversations ended: " + ", ".join(f"{k} {v}" for k, v in sorted(ended.items()))
        warn_not_run(scores)
        return Report(metrics=flat_metrics(scores), table=table, failure_columns=FAILURE_COLUMNS, failure_rows=failures)


def _last_answer(turns: list[list[dict]]) -> str:
    answers = [m.get("content", "") for turn in turns for m in turn if m.get("role") == "assistant"]
    return answers[-1][-500:] if answers else ""


def check_episode_options(key: str, limit, batch_size: int, max_new_tokens: int, max_steps_per_turn: int,
                          timeout_s: float, answer_format: str) -> None:
    """The options every episode-playing BFCL task shares (multi-turn, memory): one line naming the bad one."""
    if limit is not None and int(limit) < 1:
        raise ConfigError(f"eval.limit must be a positive number of entries per category or null, got {limit}")
    if min(batch_size, max_new_tokens, max_steps_per_turn) < 1 or timeout_s <= 0:
        raise ConfigError(f"{key}: batch_size, max_new_tokens, max_steps_per_turn and timeout_s must be positive")
    if answer_format not in FORMATS:
        raise ConfigError(f"eval.prompt.answer_format must be one of {', '.join(FORMATS)}, got {answer_format!r}")
