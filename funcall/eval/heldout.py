"""Held-out AST accuracy during training: ``eval/ast_accuracy`` every N steps and at the end.

Greedy completions for the data source's held-out examples are parsed and graded by the same
``ast_match`` rule the RL reward uses (required format present and the calls pass the BFCL
checker for the example's category), so SFT and RL runs report one comparable number, plus
``eval/ast_accuracy/<category>``, ``eval/n``, ``eval/not_run`` and, over the answers generated,
``eval/format_ok`` (in the format), ``eval/unparseable`` (did not parse) and ``eval/no_call_frac``
(parsed to no call; both as `funcall.calls.parse_stats` defines them). Examples are split across
ranks and the counts are summed; generation is in step over ranks
(`funcall.eval.task.generate_in_step`: one all-gather of the prompt counts, then the same calls
on every rank, as ZeRO-3 needs).

How it differs from the obvious loop: a prompt longer than ``prompt_limit`` (the caller passes the
model's context minus the answer budget) is not generated and not graded; it counts as wrong in
every accuracy and in ``eval/not_run``, with a warning on the ``funcall`` logger the first time,
so an accuracy made of unrun prompts cannot pass for a measured one. Rank 0 shows an ``eval``
progress bar while it runs (an evaluation of hundreds of prompts takes minutes).

Prompts, the parse outcome and the grading rule come from the style (`funcall.data.prompts.PromptStyle`;
a plain one: one format for all, graded by ``ast_match`` and ``format``): a data config whose
examples each have their own format brings a style with its own ``reward`` and ``format_reward``
(``data=bfcl_format_sensitivity``: ``reward=format_sensitivity``'s rule), which read each
example's ``meta`` column; ``eval/ast_accuracy`` is then that rule's accuracy.
"""
from __future__ import annotations

import logging
from collections import defaultdict

from funcall.calls.parse_stats import NO_CALL, UNPARSEABLE, parse_counts, parse_shares
from funcall.data.prompts import PromptStyle
from funcall.data.schema import Example
from funcall.dist import DistInfo, all_reduce_sum, shard
from funcall.eval.task import generate_in_step
from funcall.rewards.ast_match import AstMatchReward
from funcall.rewards.format import FormatReward


def eval_progress(dist: DistInfo, total: int):
    """The ``eval`` progress bar on rank 0 (None elsewhere); the caller closes it."""
    if not dist.is_main:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, desc="eval", dynamic_ncols=True, leave=False)


class HeldOutEval:
    def __init__(self, examples: list[Example], tokenizer, style: PromptStyle, dist: DistInfo,
                 max_new_tokens: int = 128, batch_size: int = 64, prompt_limit: int | None = None):
        self.tokenizer = tokenizer
        self.style = style
        self.dist = dist
        self.max_new_tokens = max_new_tokens
        self.batch_size = batch_size
        self.prompt_limit = prompt_limit
        self.reward = style.reward or AstMatchReward(answer_format=style.answer_format)
        self.format = style.format_reward or FormatReward(answer_format=style.answer_format)
        self.categories = sorted({e.category for e in examples})
        self.mine = [examples[i] for i in shard(len(examples), dist.rank, dist.world_size)]
        self.prompts = [style.prompt_ids(tokenizer, e) for e in self.mine]
        self.fits = [k for k, p in enumerate(self.prompts) if prompt_limit is None or len(p) <= prompt_limit]
        self.warned = False

    def generate(self, engine) -> list[str | None]:
        """This rank's completion texts; None for a prompt over the limit (not generated)."""
        progress = eval_progress(self.dist, len(self.prompts))
        try:
            outs = generate_in_step(engine, [self.prompts[k] for k in self.fits], batch_size=self.batch_size,
                                    max_new_tokens=self.max_new_tokens, progress=progress)
            if progress is not None:
                progress.update(len(self.prompts) - len(self.fits))
        finally:
            if progress is not None:
                progress.close()
        texts: list[str | None] = [None] * len(self.prompts)
        for k, text in zip(self.fits, self.tokenizer.batch_decode(outs, skip_special_tokens=True)):
            texts[k] = text
        return texts

    def __call__(self, engine) -> tuple[dict[str, float], list[dict]]:
        """Run the evaluation with a `RolloutEngine`; returns metrics and this rank's samples."""
        texts = self.generate(engine)
        ran = [k for k, t in enumerate(texts) if t is not None]
        ex = [self.mine[k] for k in ran]
        cols = dict(tools=[e.tools for e in ex], possible_answer=[e.ground_truth() for e in ex],
                    category=[e.category for e in ex], meta=[e.meta for e in ex])
        graded = [texts[k] for k in ran]
        rewards = dict(zip(ran, self.reward([None] * len(ex), graded, **cols))) if ex else {}
        fmt = self.format([None] * len(ex), graded, **cols) if ex else []
        sums: dict[str, float] = defaultdict(float)
        for k, e in enumerate(self.mine):
            sums[f"ok/{e.category}"] += float(rewards.get(k) or 0.0)  # not run: wrong
            sums[f"n/{e.category}"] += 1
        sums["format"] = sum(float(f or 0.0) for f in fmt)
        counts = parse_counts(self.style.outcome(t, e.meta) for t, e in zip(graded, ex))
        sums[UNPARSEABLE], sums[NO_CALL] = counts[UNPARSEABLE], counts[NO_CALL]
        sums["not_run"] = len(self.mine) - len(ran)
        samples = [{"id": e.id, "category": e.category, "completion": texts[k] if texts[k] is not None else "",
                    "reward": rewards.get(k, 0.0), "not_run": texts[k] is None} for k, e in enumerate(self.mine)]
        return self.metrics(sums), samples

    def metrics(self, sums: dict[str, float]) -> dict[str, float]:
        """The rank sums, summed over ranks, as ``eval/*`` metrics."""
        keys = [f"{k}/{c}" for c in self.categories for k in ("ok", "n")] + ["format", "not_run", UNPARSEABLE, NO_CALL]
        totals = dict(zip(keys, all_reduce_sum([sums[k] for k in keys])))
        n = sum(totals[f"n/{c}"] for c in self.categories)
        not_run = int(totals["not_run"])
        metrics = {"eval/ast_accuracy": sum(totals[f"ok/{c}"] for c in self.categories) / max(n, 1),
                   "eval/format_ok": totals["format"] / max(n - not_run, 1), "eval/n": n, "eval/not_run": not_run,
                   **parse_shares({"n": n - not_run, UNPARSEABLE: totals[UNPARSEABLE], NO_CALL: totals[NO_CALL]}, "eval")}
        for c in self.categories:
            metrics[f"eval/ast_accuracy/{c}"] = totals[f"ok/{c}"] / max(totals[f"n/{c}"], 1)
        if not_run and self.dist.is_main and not self.warned:
            self.warned = True
            logging.getLogger("funcall").warning(
                f"held-out evaluation: {not_run} of {int(n)} prompts are longer than the prompt limit "
                f"({self.prompt_limit} tokens: the model's context minus trainer.eval_max_new_tokens); they are not "
                "run and count as wrong in eval/ast_accuracy (eval/not_run)")
        return metrics
