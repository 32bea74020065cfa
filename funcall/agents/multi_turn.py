"""Multi-turn rollouts: ``group`` episodes per task, tools executed between the policy's steps.

`MultiTurn` is the ``agent=multi_turn`` plug-in (`funcall.agents.base.AgentLoop`) for data whose
examples are multi-turn tasks (`funcall.data.multi_turn_source`). Its `collect` plays each task's
G episodes with the one episode driver (`funcall.rollout.episode_driver`, the same that evaluates
them), each on its own environment (a `funcall.envs.worker.EnvPool` episode: fresh instances, in
a child process for the run, so two samples of one prompt never see each other's state and a
runaway call is killed), and returns them as the same `Trajectory` single-turn rollouts make, so
advantages, losses, the reference KL and the update run on it unchanged. A row is the task's
prompt ids and then the episode: each step's ids exactly as sampled and, between steps, the ids
of what the environment and the user added; ``completion_mask`` is 1 on sampled ids only (tool
results, user turns and template glue are context, outside the policy loss, the KL, the entropy
terms and the entropy-guided bonus), ``think_mask`` the union of the steps' ``<think>`` contents,
and ``columns["episode"]`` each row's `funcall.envs.episode.EpisodeResult` for the rewards.

The episode ends as the driver says: BFCL's turn protocol (``max_steps_per_turn`` steps with calls
in a turn force-quit it), ``max_episode_tokens`` ids after the prompt, or a context that leaves
no room for another ``rollout.max_new_tokens`` step. The held-out evaluator plays held-out tasks
the same way, greedy, and judges them with BFCL's multi-turn checker
(`funcall.eval.multi_turn_heldout`); the SFT target lays a task out as a rollout builds it
(`funcall.data.multi_turn_tokenize`).
"""
from __future__ import annotations

from funcall.agents.base import Sampling
from funcall.calls.parse_stats import parse_counts, parse_shares, step_outcomes
from funcall.data.multi_turn_source import multi_turn_task
from funcall.data.multi_turn_tokenize import encode_multi_turn_sft
from funcall.data.prompts import PromptStyle
from funcall.data.schema import Example
from funcall.data.template_roles import check_template
from funcall.data.tokenize import Encoded
from funcall.dist import DistInfo
from funcall.envs.conversation import Conversation
from funcall.envs.worker import EnvPool
from funcall.eval.episode_judges import BFCLMultiTurnJudge, EpisodeJudge
from funcall.eval.multi_turn_heldout import MultiTurnHeldOutEval
from funcall.rollout.engine import RolloutEngine
from funcall.rollout.episode_driver import EpisodeTokens, SampledSteps, first_prompt_ids, open_episode, play
from funcall.rollout.trajectory import Trajectory, padded
from funcall.utils.errors import ConfigError

ENDINGS = ("completed", "force_quit", "episode_tokens", "prompt_too_long")


class MultiTurn:
    def __init__(self, max_steps_per_turn: int = 5, max_episode_tokens: int = 1536, timeout_s: float = 10.0,
                 judge: EpisodeJudge | None = None):
        for key, value in (("max_steps_per_turn", max_steps_per_turn), ("max_episode_tokens", max_episode_tokens)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(f"agent.{key}={value!r}: must be a positive integer")
        if not float(timeout_s) > 0:
            raise ConfigError(f"agent.timeout_s={timeout_s!r}: must be a positive number of seconds")
        self.max_steps_per_turn, self.max_episode_tokens = max_steps_per_turn, max_episode_tokens
        self.timeout_s = float(timeout_s)
        self.pool: EnvPool | None = None  # the run's environments, opened by the first collect
        self.judge = judge or BFCLMultiTurnJudge()  # agent.judge: how a held-out episode passes (funcall/eval/episode_judges.py)

    def check(self, train: list[Example], held_out: list[Example], tokenizer, style: PromptStyle) -> None:
        for example in [*train[:1], *held_out[:1]]:
            if multi_turn_task(example) is None:
                raise ConfigError(f"agent=multi_turn plays multi-turn tasks, but data.source gives single-turn examples "
                                  f"(example {example.id}); run them with agent=single_turn")
        check_template(tokenizer, style, multi_turn=True)

    def prompt_ids(self, tokenizer, example: Example, style: PromptStyle) -> list[int]:
        return first_prompt_ids(tokenizer, multi_turn_task(example)[0], style)

    def collect(self, engine: RolloutEngine, tokenizer, examples: list[Example], prompts: list[list[int]],
                style: PromptStyle, sampling: Sampling, context_length: int | None) -> Trajectory:
        """``sampling.group`` episodes per task (module docstring); collective over ranks."""
        if self.pool is None:
            self.pool = EnvPool(timeout_s=self.timeout_s)
        limit = None if context_length is None else context_length - sampling.max_new_tokens
        episodes: list[EpisodeTokens] = []
        for example, prompt in zip(examples, prompts):
            entry, truth = multi_turn_task(example)
            episodes += [open_episode(Conversation(entry=entry, env=self.pool.open()), tokenizer, style, limit=limit,
                                      budget=self.max_episode_tokens, ground_truth=truth, prompt_ids=prompt)
                         for _ in range(sampling.group)]
        sample = SampledSteps(engine, episodes=len(episodes), group=sampling.group,
                              max_new_tokens=sampling.max_new_tokens, temperature=sampling.temperature,
                              top_p=sampling.top_p, with_stats=sampling.with_stats,
                              filler=tokenizer.eos_token_id or 0)
        engine.sync_weights()
        try:
            play(episodes, sample, tokenizer, style, max_steps_per_turn=self.max_steps_per_turn)
        finally:
            engine.release()
            results = [ep.result() for ep in episodes]
            for ep in episodes:
                ep.conversation.env.close()
        return self.trajectory(episodes, results, tokenizer, sampling, sample.entropies_known)

    @staticmethod
    def trajectory(episodes: list[EpisodeTokens], results: list, tokenizer, sampling: Sampling,
                   entropies_known: bool) -> Trajectory:
        width = max(1, max(len(ep.ids) for ep in episodes))
        reported = padded([ep.logps for ep in episodes], width) if sampling.with_stats else None
        return Trajectory(
            prompt_ids=[ep.prompt_ids for ep in episodes], completion_ids=[ep.ids for ep in episodes],
            texts=[tokenizer.decode(ep.ids, skip_special_tokens=False) for ep in episodes],
            completion_mask=padded([ep.sampled for ep in episodes], width),
            think_mask=padded([ep.think for ep in episodes], width), old_logps=reported,
            entropies=padded([ep.entropies for ep in episodes], width) if entropies_known else None,
            group=sampling.group, rollout_logps=reported, columns={"episode": results})

    def metrics(self, trajectory: Trajectory, answer_format: str) -> dict[str, float]:
        """``episode/*`` of a multi-turn step: turns reached, calls and steps per episode, the share
        of the episodes' ids that are context (tool results, user turns, template glue), how
        episodes ended, ``completion/clipped_frac`` as the share of steps a token budget cut, and
        ``rollout/unparseable`` / ``rollout/no_call_frac`` as the shares of steps that did not parse
        / parsed to no call (the conversation's own parse of each step). All on this rank: the
        logged row averages the ranks' shares, each rank weighing alike."""
        eps = trajectory.columns["episode"]
        n = max(len(eps), 1)
        total = sum(len(ids) for ids in trajectory.completion_ids)
        steps = sum(ep.steps for ep in eps)
        out = {"episode/turns_mean": sum(len(ep.output) for ep in eps) / n,
               "episode/calls_mean": sum(ep.calls for ep in eps) / n,
               "episode/steps_mean": steps / n,
               "episode/tool_tokens_frac": 1.0 - float(trajectory.completion_mask.sum()) / max(total, 1),
               "completion/clipped_frac": sum(ep.steps_cut for ep in eps) / max(steps, 1)}
        out.update(parse_shares(parse_counts(o for ep in eps for o in step_outcomes(ep.turns)), "rollout"))
        for how in ENDINGS:
            out[f"episode/ended_{how}"] = sum(ep.ended_by == how for ep in eps) / n
        return out

    def heldout(self, examples: list[Example], tokenizer, style: PromptStyle, dist: DistInfo, *,
                max_new_tokens: int, batch_size: int, prompt_limit: int | None) -> MultiTurnHeldOutEval:
        tasks = [(e.id, e.category, *multi_turn_task(e)) for e in examples]
        return MultiTurnHeldOutEval(tasks, tokenizer, style, dist, max_new_tokens, batch_size,
                                    max_steps_per_turn=self.max_steps_per_turn, prompt_limit=prompt_limit,
                                    timeout_s=self.timeout_s, judge=self.judge)

    def encode_sft(self, tokenizer, example: Example, style: PromptStyle, max_length: int) -> Encoded:
        return encode_multi_turn_sft(tokenizer, example, style, max_length)

    def close(self) -> None:
        if self.pool is not None:
            self.pool.close()
            self.pool = None

