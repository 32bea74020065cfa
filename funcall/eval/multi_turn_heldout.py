"""Held-out episode pass rate during training: ``eval/episode_pass`` for multi-turn data.

The multi-turn counterpart of `funcall.eval.heldout.HeldOutEval`, built by the trainers when the
data source's examples are multi-turn tasks (`funcall.data.multi_turn_source`). Every held-out
task is played to its end with greedy answers, exactly as ``python -m funcall.evaluate
eval=bfcl_multi_turn`` plays BFCL's entries and as training plays its episodes (the one episode
driver, `funcall.rollout.episode_driver`, token by token; the environments in a child process), and judged by BFCL's multi-turn checker: ``eval/episode_pass``
is the share of tasks that pass, with ``eval/episode_pass/<category>`` (multi_turn_base,
multi_turn_miss_param, multi_turn_miss_func), ``eval/episode_turns_pass`` (the share of checked
turns that pass), ``eval/unparseable`` and ``eval/no_call_frac`` (the shares of the model's steps
that did not parse / parsed to no call, read off each conversation's own parse,
`funcall.calls.parse_stats`) and ``eval/n``.
How it differs from running the evaluation app: it reuses the training weights through the
run's rollout engine and the run's prompt style, and logs into the run's metrics. As in the app, a
task whose first prompt is over ``prompt_limit`` never ran: it is not judged, counts as failed
(every checked turn too) and in ``eval/not_run``, with a warning on the ``funcall`` logger the
first time. Rank 0 shows an ``eval`` progress bar (one tick per finished task).
"""
from __future__ import annotations

import logging
from collections import defaultdict

from funcall.calls.parse_stats import NO_CALL, UNPARSEABLE, parse_counts, parse_shares, step_outcomes
from funcall.data.prompts import PromptStyle
from funcall.dist import DistInfo, all_reduce_sum, shard
from funcall.envs.conversation import Conversation
from funcall.envs.worker import EnvPool
from funcall.eval.episode_judges import BFCLMultiTurnJudge, EpisodeJudge
from funcall.eval.heldout import eval_progress
from funcall.eval.task import GreedySteps
from funcall.rollout.episode_driver import never_ran, open_episode, play


class MultiTurnHeldOutEval:
    def __init__(self, tasks: list[tuple[str, str, dict, list[list[str]]]], tokenizer, style: PromptStyle,
                 dist: DistInfo, max_new_tokens: int = 128, batch_size: int = 64, max_steps_per_turn: int = 5,
                 prompt_limit: int | None = None, timeout_s: float = 10.0, judge: EpisodeJudge | None = None):
        """``tasks``: (id, category, entry, ground truth) of every held-out task; ``judge``: how a
        played episode passes (default: BFCL's multi-turn checker)."""
        self.judge = judge or BFCLMultiTurnJudge()
        self.tokenizer, self.style, self.dist = tokenizer, style, dist
        self.max_new_tokens, self.batch_size = max_new_tokens, batch_size
        self.max_steps_per_turn, self.prompt_limit, self.timeout_s = max_steps_per_turn, prompt_limit, timeout_s
        self.categories = sorted({t[1] for t in tasks})
        self.mine = [tasks[i] for i in shard(len(tasks), dist.rank, dist.world_size)]
        self.warned = False

    def __call__(self, engine) -> tuple[dict[str, float], list[dict]]:
        """Play this rank's tasks with ``engine``; the metrics (summed over ranks) and its samples."""
        sums: dict[str, float] = defaultdict(float)
        samples = []
        progress = eval_progress(self.dist, len(self.mine))
        try:
            with EnvPool(timeout_s=self.timeout_s) as pool:
                episodes = [open_episode(Conversation(entry=entry, env=pool.open()), self.tokenizer, self.style,
                                         limit=self.prompt_limit) for _, _, entry, _ in self.mine]
                play(episodes, GreedySteps(engine, batch_size=self.batch_size, max_new_tokens=self.max_new_tokens),
                     self.tokenizer, self.style, max_steps_per_turn=self.max_steps_per_turn,
                     on_end=None if progress is None else lambda _: progress.update(1))
                for (task_id, category, entry, truth), ep in zip(self.mine, episodes):
                    c = ep.conversation
                    c.env.close()
                    skipped = never_ran(c)
                    if skipped:  # nothing ran: failed, every checked turn with it, and counted apart
                        passed, turns = False, [False for calls in truth if calls]
                    else:
                        passed, turns = self.judge(entry, truth, c.output, c.log, pool.open)
                    sums[f"ok/{category}"] += passed
                    sums[f"n/{category}"] += 1
                    sums["turns_ok"] += sum(turns)
                    sums["turns_n"] += len(turns)
                    sums["not_run"] += skipped
                    for key, count in parse_counts(step_outcomes(c.log)).items():  # no steps in a task not run
                        sums[f"steps/{key}"] += count
                    answers = [m["content"] for turn in c.log for m in turn if m.get("role") == "assistant"]
                    samples.append({"id": task_id, "category": category, "completion": " || ".join(answers)[-2000:],
                                    "reward": float(passed), "not_run": skipped})
        finally:
            if progress is not None:
                progress.close()
        return self.metrics(sums), samples

    def metrics(self, sums: dict[str, float]) -> dict[str, float]:
        """The rank sums, summed over ranks, as ``eval/*`` metrics."""
        keys = [f"{k}/{c}" for c in self.categories for k in ("ok", "n")] + ["turns_ok", "turns_n", "not_run"]
        keys += [f"steps/{k}" for k in ("n", UNPARSEABLE, NO_CALL)]
        totals = dict(zip(keys, all_reduce_sum([sums[k] for k in keys])))
        n = sum(totals[f"n/{c}"] for c in self.categories)
        not_run = int(totals["not_run"])
        metrics = {"eval/episode_pass": sum(totals[f"ok/{c}"] for c in self.categories) / max(n, 1),
                   "eval/episode_turns_pass": totals["turns_ok"] / max(totals["turns_n"], 1), "eval/n": n,
                   "eval/not_run": not_run,
                   **parse_shares({k: totals[f"steps/{k}"] for k in ("n", UNPARSEABLE, NO_CALL)}, "eval")}
        for c in self.categories:
            metrics[f"eval/episode_pass/{c}"] = totals[f"ok/{c}"] / max(totals[f"n/{c}"], 1)
        if not_run and self.dist.is_main and not self.warned:
            self.warned = True
            logging.getLogger("funcall").warning(
                f"held-out evaluation: the first prompt of {not_run} of {int(n)} tasks is longer than the prompt "
                f"limit ({self.prompt_limit} tokens: the model's context minus trainer.eval_max_new_tokens); they are "
                "not run and count as failed in eval/episode_pass (eval/not_run)")
        return metrics
