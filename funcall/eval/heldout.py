"""Held-out AST accuracy during training: ``eval/ast_accuracy`` every N steps and at the end.

Greedy completions for the data source's held-out examples are parsed and graded by the same
``ast_match`` rule the RL reward uses (required format present and the calls pass the BFCL
checker for the example's category), so SFT and RL runs report one comparable number, plus
``eval/ast_accuracy/<category>`` and ``eval/format_ok``. Examples are split across ranks (each
rank gets the same count, padding with repeats that are not scored, because generation under
ZeRO-3 is collective) and the counts are summed.
"""
from __future__ import annotations

from collections import defaultdict

from funcall.data.prompts import PromptStyle
from funcall.data.schema import Example
from funcall.data.tokenize import encode_prompt
from funcall.dist import DistInfo, all_reduce_sum, shard
from funcall.eval.task import generate_in_step
from funcall.rewards.ast_match import AstMatchReward
from funcall.rewards.format import FormatReward


class HeldOutEval:
    def __init__(self, examples: list[Example], tokenizer, style: PromptStyle, dist: DistInfo,
                 max_new_tokens: int = 128, batch_size: int = 64):
        self.examples = examples
        self.tokenizer = tokenizer
        self.style = style
        self.dist = dist
        self.max_new_tokens = max_new_tokens
        self.batch_size = batch_size
        self.reward = AstMatchReward(answer_format=style.answer_format)
        self.format = FormatReward(answer_format=style.answer_format)
        self.categories = sorted({e.category for e in examples})
        per_rank = -(-len(examples) // dist.world_size)
        mine = shard(len(examples), dist.rank, dist.world_size)
        self.scored = len(mine)
        mine += [mine[0] if mine else 0] * (per_rank - len(mine))
        self.mine = [examples[i] for i in mine]
        self.prompts = [encode_prompt(tokenizer, e, style) for e in self.mine]

    def __call__(self, engine) -> tuple[dict[str, float], list[dict]]:
        """Run the evaluation with a `RolloutEngine`; returns metrics and this rank's samples."""
        outs = generate_in_step(engine, self.prompts, batch_size=self.batch_size, max_new_tokens=self.max_new_tokens,
                                sent_per_rank=len(self.prompts))
        texts = self.tokenizer.batch_decode(outs, skip_special_tokens=True)
        ex = self.mine[: self.scored]
        texts = texts[: self.scored]
        cols = dict(tools=[e.tools for e in ex], possible_answer=[e.ground_truth() for e in ex],
                    category=[e.category for e in ex])
        correct = self.reward([None] * len(ex), texts, **cols)
        fmt = self.format([None] * len(ex), texts, **cols)
        sums: dict[str, float] = defaultdict(float)
        for e, r, f in zip(ex, correct, fmt):
            sums[f"ok/{e.category}"] += float(r or 0.0)
            sums[f"n/{e.category}"] += 1
            sums["format"] += float(f or 0.0)
        keys = [f"{k}/{c}" for c in self.categories for k in ("ok", "n")] + ["format"]
        totals = dict(zip(keys, all_reduce_sum([sums[k] for k in keys])))
        n = sum(totals[f"n/{c}"] for c in self.categories)
        metrics = {"eval/ast_accuracy": sum(totals[f"ok/{c}"] for c in self.categories) / max(n, 1),
                   "eval/format_ok": totals["format"] / max(n, 1), "eval/n": n}
        for c in self.categories:
            metrics[f"eval/ast_accuracy/{c}"] = totals[f"ok/{c}"] / max(totals[f"n/{c}"], 1)
        samples = [{"id": e.id, "category": e.category, "completion": t, "reward": r}
                   for e, t, r in zip(ex, texts, correct)]
        return metrics, samples
