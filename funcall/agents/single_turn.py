"""Single-turn rollouts: one prompt, ``group`` sampled completions, no environment.

`SingleTurn` is the ``agent=single_turn`` plug-in (`funcall.agents.base.AgentLoop`): the prompt is
the example's tools and messages in the chat template (`funcall.data.prompts.PromptStyle.prompt_ids`);
`collect` samples every prompt's completions in one engine call, with the rollout policy's
log-probs and entropies read off generation when the engine reports them; the held-out
evaluator is AST accuracy (`funcall.eval.heldout.HeldOutEval`) and the SFT target the example's
reasoning and calls (`funcall.data.prompts.PromptStyle.encode_sft`).

Prompts, SFT targets and how an answer is read are the style's (``data.prompt``,
`funcall.data.prompts.PromptStyle`): one format for all examples, unless the data config's style
renders each example in its own format (``data=bfcl_format_sensitivity``). Every row carries its
example's ``meta`` and its parse ``outcome`` as columns, so a reward can read what the example
says of itself (``reward=format_sensitivity`` its configuration).
"""
from __future__ import annotations

from funcall.agents.base import Sampling
from funcall.calls.parse_stats import parse_counts, parse_shares, text_outcome
from funcall.data.multi_turn_source import multi_turn_task
from funcall.data.prompts import PromptStyle
from funcall.data.schema import Example
from funcall.data.template_roles import check_template
from funcall.data.think_mask import span_masks
from funcall.data.tokenize import Encoded
from funcall.dist import DistInfo
from funcall.eval.heldout import HeldOutEval
from funcall.rollout.engine import RolloutEngine
from funcall.rollout.trajectory import Trajectory, padded
from funcall.utils.errors import ConfigError


class SingleTurn:
    def check(self, train: list[Example], held_out: list[Example], tokenizer, style: PromptStyle) -> None:
        for example in [*train[:1], *held_out[:1]]:
            if multi_turn_task(example) is not None:
                raise ConfigError(f"data.source gives multi-turn tasks (example {example.id}); run them with "
                                  "agent=multi_turn")
        check_template(tokenizer, style, multi_turn=False)

    def prompt_ids(self, tokenizer, example: Example, style: PromptStyle) -> list[int]:
        return style.prompt_ids(tokenizer, example)

    def collect(self, engine: RolloutEngine, tokenizer, examples: list[Example], prompts: list[list[int]],
                style: PromptStyle, sampling: Sampling, context_length: int | None) -> Trajectory:
        """Sample ``group`` completions per prompt; old log-probs/entropies from generation when
        ``sampling.with_stats`` (else None: the trainer recomputes them with a forward pass)."""
        group = sampling.group
        engine.sync_weights()
        out = engine.generate(prompts, num_samples=group, max_new_tokens=sampling.max_new_tokens,
                              temperature=sampling.temperature, top_p=sampling.top_p, with_stats=sampling.with_stats)
        engine.release()
        completions = [list(c) for c in out.ids]
        width = max(1, max(len(c) for c in completions))
        texts = tokenizer.batch_decode(completions, skip_special_tokens=True)
        metas = [e.meta for e in examples for _ in range(group)]
        reported = padded(out.logps, width) if out.logps is not None else None
        return Trajectory(
            prompt_ids=[p for p in prompts for _ in range(group)], completion_ids=completions, texts=texts,
            completion_mask=padded([[1.0] * len(c) for c in completions], width),
            think_mask=span_masks(tokenizer, completions, texts, width).float(), old_logps=reported,
            entropies=padded(out.entropies, width) if out.entropies is not None else None,
            group=group, rollout_logps=reported,
            columns={"meta": metas, "outcome": [style.outcome(t, m) for t, m in zip(texts, metas)]})

    def metrics(self, trajectory: Trajectory, answer_format: str) -> dict[str, float]:
        """The shares of completions that did not parse / parsed to no call: in their example's
        format, as `collect` read them (its ``outcome`` column), else in ``answer_format``."""
        outcomes = trajectory.columns.get("outcome") or [text_outcome(t, answer_format) for t in trajectory.texts]
        return parse_shares(parse_counts(outcomes), "rollout")

    def heldout(self, examples: list[Example], tokenizer, style: PromptStyle, dist: DistInfo, *,
                max_new_tokens: int, batch_size: int, prompt_limit: int | None) -> HeldOutEval:
        return HeldOutEval(examples, tokenizer, style, dist, max_new_tokens, batch_size, prompt_limit=prompt_limit)

    def encode_sft(self, tokenizer, example: Example, style: PromptStyle, max_length: int) -> Encoded:
        return style.encode_sft(tokenizer, example, max_length)

    def close(self) -> None:
        return None
