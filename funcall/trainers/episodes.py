"""Multi-turn rollouts: ``num_generations`` episodes per task, tools executed between the policy's steps.

`collect_episodes` is the multi-turn ``collect`` of an RL step (`funcall.trainers.trajectory`): it
returns the same `Trajectory`, so advantages, losses, the reference KL and the update run on it
unchanged. Each of a task's G episodes has its own environment (a `funcall.envs.worker.EnvPool`
episode: fresh instances, in a child process, so two samples of one prompt never see each
other's state and a runaway call is killed) and its own `funcall.envs.conversation.Conversation`,
BFCL's turn protocol: the policy's calls run and their results are appended as tool messages, an
answer without calls ends the turn and the next user turn is injected, until the episode is done,
``max_steps_per_turn`` steps with calls end a turn (BFCL's force-quit) or the token budget
(``max_episode_tokens`` after the prompt, and the model's context) is spent.

Token-in/token-out. A row of the trajectory is the task's prompt ids (shared by its G rows) and
then the episode: the ids of each step exactly as sampled, and between steps the ids of what the
environment and the user added, in the chat template's layout (`funcall.data.chat_continuation`).
Nothing is re-tokenised, so the update scores the very ids the policy produced, with their
rollout log-probs. ``completion_mask`` is 1 on sampled ids only: tool results, user turns and
template glue are context, outside the policy loss, the KL, the entropy terms and the
entropy-guided bonus; ``think_mask`` is the union of the steps' ``<think>`` contents.

How it differs from the obvious loop (one episode at a time, or TRL's loop that only continues
while the model calls tools): every round, all live episodes of the rank generate their next step
in one batched `RolloutEngine.generate` call (the first round with ``num_samples=G`` on the
distinct prompts, so a prompt is prefilled once), and rounds go on while any rank has a live
episode; a rank with fewer live episodes pads its call with copies whose answers are dropped,
so under ZeRO-3 every rank makes the same generation calls.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from funcall.calls.parse_stats import parse_counts, parse_shares, step_outcomes
from funcall.data.chat_continuation import continuation_ids, stop_texts
from funcall.data.prompts import PromptStyle, render_prompt
from funcall.dist import all_gather_objects
from funcall.envs.conversation import Conversation
from funcall.envs.episode import EpisodeResult
from funcall.rollout.engine import RolloutEngine
from funcall.trainers.rl_batch import span_masks
from funcall.trainers.trajectory import Trajectory, padded


@dataclass
class EpisodeTokens:
    """One episode in flight: its conversation and the token row it is building."""

    conversation: Conversation
    ground_truth: list[list[str]]
    prompt_ids: list[int]
    budget: int  # ids the episode may hold after the prompt
    ids: list[int] = field(default_factory=list)  # after the prompt: sampled steps and what was appended between them
    sampled: list[float] = field(default_factory=list)  # [len(ids)] 1 on sampled ids
    think: list[float] = field(default_factory=list)  # [len(ids)] 1 inside a step's <think> content
    logps: list[float] = field(default_factory=list)  # [len(ids)] rollout log-probs (0 on appended ids)
    entropies: list[float] = field(default_factory=list)  # [len(ids)] rollout entropies (0 on appended ids)
    steps_cut: int = 0  # steps the token budget cut before their end
    ended_by: str = ""  # set when the token budget ends the episode; else the conversation's

    @property
    def done(self) -> bool:
        return self.conversation.done or bool(self.ended_by)

    def append(self, ids: list[int], sampled: bool, think: list[float] | None = None,
               logps: list[float] | None = None, entropies: list[float] | None = None) -> None:
        self.ids += ids
        self.sampled += [float(sampled)] * len(ids)
        self.think += think if think is not None else [0.0] * len(ids)
        self.logps += logps if logps is not None else [0.0] * len(ids)
        self.entropies += entropies if entropies is not None else [0.0] * len(ids)

    def result(self) -> EpisodeResult:
        c = self.conversation
        return EpisodeResult(entry=c.entry, ground_truth=self.ground_truth, output=c.output, turns=c.log,
                             ended_by=self.ended_by or c.ended_by, final_state=c.env.state(), steps_cut=self.steps_cut)


def take_step(ep: EpisodeTokens, step: list[int], logps: list[float] | None, entropies: list[float] | None,
              tokenizer, style: PromptStyle, stops: dict[int, str], max_steps_per_turn: int) -> None:
    """Append one sampled step to ``ep``, run it through the conversation, append what follows."""
    room = ep.budget - len(ep.ids)
    ep.steps_cut += bool(step) and (len(step) > room or step[-1] not in stops)  # a budget ended it, not the model
    step = step[:room]
    text = tokenizer.decode(step, skip_special_tokens=True)
    think = span_masks(tokenizer, [step], [text], max(len(step), 1))[0, :len(step)].float().tolist()
    ep.append(step, True, think, None if logps is None else logps[:room], None if entropies is None else entropies[:room])
    before = len(ep.conversation.messages)
    ep.conversation.take(text, style.answer_format, max_steps_per_turn)
    if ep.conversation.done:
        return
    closed = stops.get(step[-1]) if step else None
    follow = continuation_ids(tokenizer, ep.conversation.messages[before + 1:], style, closed_with=closed)
    if len(ep.ids) + len(follow) >= ep.budget:  # no room for another step: the episode ends here
        ep.ended_by = "episode_tokens"
        return
    ep.append(follow, False)


def episode_prompt_ids(tokenizer, entry: dict, style: PromptStyle) -> list[int]:
    """The ids an episode starts from: the task's tools and first user turn in the chat template."""
    return tokenizer(render_prompt(tokenizer, entry["function"], entry["question"][0], style),
                     add_special_tokens=False)["input_ids"]


def collect_episodes(engine: RolloutEngine, tokenizer, tasks: list[tuple[dict, list[list[str]]]], pool, style: PromptStyle,
                     *, group: int, max_new_tokens: int, temperature: float, top_p: float, with_stats: bool,
                     max_steps_per_turn: int, max_episode_tokens: int, context_length: int | None) -> Trajectory:
    """``group`` episodes per task (``(entry, ground_truth)``), as one `Trajectory` whose
    ``episodes`` hold their records (module docstring); collective over ranks."""
    stops = stop_texts(tokenizer)
    episodes: list[EpisodeTokens] = []
    for entry, truth in tasks:
        prompt = episode_prompt_ids(tokenizer, entry, style)
        budget = max_episode_tokens if context_length is None else min(max_episode_tokens, context_length - len(prompt))
        for _ in range(group):
            c = Conversation(entry=entry, env=pool.open())
            c.env.reset(entry)
            c.start_turn()
            episodes.append(EpisodeTokens(c, truth, prompt, max(budget, 0)))
            if budget <= 0:
                episodes[-1].ended_by = "prompt_too_long"
    engine.sync_weights()
    first, entropies_known = True, with_stats
    while True:
        live = [ep for ep in episodes if not ep.done]
        counts = all_gather_objects((len(live), len(live) == len(episodes)))
        most = max(n for n, _ in counts)
        if most == 0:
            break
        if first and all(whole for _, whole in counts):  # a task's G episodes share their prompt: sample them together
            prompts, samples, most = [episodes[i].prompt_ids for i in range(0, len(episodes), group)], group, most // group
        else:
            prompts, samples = [ep.prompt_ids + ep.ids for ep in live], 1
        filler = min(prompts, key=len) if prompts else [tokenizer.eos_token_id or 0]
        out = engine.generate(prompts + [filler] * (most - len(prompts)), num_samples=samples,
                              max_new_tokens=max_new_tokens, temperature=temperature, top_p=top_p,
                              with_stats=with_stats)
        entropies_known = entropies_known and out.entropies is not None
        for k, ep in enumerate(live):
            step = list(out.ids[k] if with_stats else out[k])
            take_step(ep, step, out.logps[k] if with_stats else None,
                      out.entropies[k] if entropies_known else None, tokenizer, style, stops, max_steps_per_turn)
        first = False
    engine.release()
    results = [ep.result() for ep in episodes]
    for ep in episodes:
        ep.conversation.env.close()
    width = max(1, max(len(ep.ids) for ep in episodes))
    reported = padded([ep.logps for ep in episodes], width) if with_stats else None
    return Trajectory(
        prompt_ids=[ep.prompt_ids for ep in episodes], completion_ids=[ep.ids for ep in episodes],
        texts=[tokenizer.decode(ep.ids, skip_special_tokens=False) for ep in episodes],
        completion_mask=padded([ep.sampled for ep in episodes], width),
        think_mask=padded([ep.think for ep in episodes], width), old_logps=reported,
        entropies=padded([ep.entropies for ep in episodes], width) if entropies_known else None,
        group=group, rollout_logps=reported, episodes=results)


def episode_metrics(trajectory: Trajectory) -> dict[str, float]:
    """``episode/*`` of a multi-turn step: turns reached, calls and steps per episode, the share of
    the episodes' ids that are context (tool results, user turns, template glue), how episodes
    ended, ``completion/clipped_frac`` as the share of steps a token budget cut, and
    ``rollout/unparseable`` / ``rollout/no_call_frac`` as the shares of steps that did not parse /
    parsed to no call (the conversation's own parse of each step, `funcall.calls.parse_stats`). All
    on this rank: the logged row averages the ranks' shares, each rank weighing alike."""
    eps = trajectory.episodes or []
    n = max(len(eps), 1)
    total = sum(len(ids) for ids in trajectory.completion_ids)
    steps = sum(ep.steps for ep in eps)
    out = {"episode/turns_mean": sum(len(ep.output) for ep in eps) / n,
           "episode/calls_mean": sum(ep.calls for ep in eps) / n,
           "episode/steps_mean": steps / n,
           "episode/tool_tokens_frac": 1.0 - float(trajectory.completion_mask.sum()) / max(total, 1),
           "completion/clipped_frac": sum(ep.steps_cut for ep in eps) / max(steps, 1)}
    out.update(parse_shares(parse_counts(o for ep in eps for o in step_outcomes(ep.turns)), "rollout"))
    for how in ("completed", "force_quit", "episode_tokens", "prompt_too_long"):
        out[f"episode/ended_{how}"] = sum(ep.ended_by == how for ep in eps) / n
    return out
