"""The typed data one RL step passes between its phases, and the phase that makes it.

An RL step is four functions in a line (`funcall.trainers.rl`):

    collect(engine, prompts, ...)            -> Trajectory   (this module)
    score(trajectory, reward, examples)      -> Rewards      (this module)
    advantage(rewards, entropy, masks)       -> [N] or [N, C] (funcall.advantages)
    update(engine, trajectory, adv, loss)    -> metrics      (funcall.trainers.rl_update)

Shapes, on one rank: N = prompts x G rows (the G samples of a prompt are consecutive rows, so
``view(-1, G)`` groups them), C = the longest completion of the step. Tensors are on the CPU,
float32, 0 beyond each completion's length. A multi-turn row's "completion" is the whole episode
after the prompt (`funcall.trainers.episodes`): the steps as sampled and the tool results and
user turns between them, with ``completion_mask`` 1 on the sampled ids only.

How it differs from the obvious version: the "old" log-probs and entropies come straight from
generation when the engine reports them (no extra forward pass), and the token ids are kept
exactly as sampled (never re-tokenised from text), so the update trains on the sequence the
policy produced.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import torch

from funcall.envs.episode import EpisodeResult
from funcall.rollout.engine import RolloutEngine
from funcall.trainers.rl_batch import span_masks


@dataclass
class Trajectory:
    """One rank's rollouts of one step (see the module docstring for N, C, G)."""

    prompt_ids: list[list[int]]  # [N] each row's prompt (a prompt repeated for its G rows)
    completion_ids: list[list[int]]  # [N] as sampled, ending with EOS when the policy stopped
    texts: list[str]  # [N] the completions decoded (special tokens dropped)
    completion_mask: torch.Tensor  # [N, C] 1 on sampled tokens
    think_mask: torch.Tensor  # [N, C] 1 on tokens inside the <think> content
    old_logps: torch.Tensor | None  # [N, C] log-probs of the sampled tokens under the policy that sampled them (the ratio's denominator)
    entropies: torch.Tensor | None  # [N, C] that policy's entropy at each token
    group: int  # G, samples per prompt
    ref_logps: torch.Tensor | None = None  # [N, C] under the frozen reference (filled when the loss has a KL term)
    rollout_logps: torch.Tensor | None = None  # [N, C] as the engine reported them (None if it cannot); = old_logps unless recomputed
    episodes: list[EpisodeResult] | None = None  # [N] multi-turn rollouts (funcall.trainers.episodes): each row's episode

    @property
    def rows(self) -> int:
        return len(self.completion_ids)

    @property
    def width(self) -> int:
        return self.completion_mask.shape[1]


@dataclass
class Rewards:
    """What the reward said of each row of a `Trajectory`."""

    total: torch.Tensor  # [N] the reward trained on (None from the reward counts as 0)
    raw: list[float | None]  # [N] as the reward function returned them
    components: dict[str, list[float | None]] = field(default_factory=dict)  # [N] per component of a mix


def padded(rows: list[list[float]], width: int) -> torch.Tensor:
    """``[len(rows), width]``, each row left-aligned and zero-filled."""
    out = torch.zeros((len(rows), width))
    for i, values in enumerate(rows):
        if values:
            out[i, : len(values)] = torch.tensor(values, dtype=torch.float32)
    return out


def collect(engine: RolloutEngine, tokenizer, prompts: list[list[int]], *, group: int, max_new_tokens: int,
            temperature: float, top_p: float, with_stats: bool) -> Trajectory:
    """Sample ``group`` completions per prompt; old log-probs/entropies from generation when
    ``with_stats`` (else None: the caller recomputes them with a forward pass)."""
    engine.sync_weights()
    out = engine.generate(prompts, num_samples=group, max_new_tokens=max_new_tokens, temperature=temperature,
                          top_p=top_p, with_stats=with_stats)
    engine.release()
    stats = out if with_stats else None
    completions = [list(c) for c in (stats.ids if stats is not None else out)]
    width = max(1, max(len(c) for c in completions))
    texts = tokenizer.batch_decode(completions, skip_special_tokens=True)
    mask = padded([[1.0] * len(c) for c in completions], width)
    reported = padded(stats.logps, width) if stats is not None else None
    return Trajectory(
        prompt_ids=[p for p in prompts for _ in range(group)], completion_ids=completions, texts=texts,
        completion_mask=mask, think_mask=span_masks(tokenizer, completions, texts, width).float(),
        old_logps=reported, entropies=padded(stats.entropies, width) if stats and stats.entropies is not None else None,
        group=group, rollout_logps=reported)


def logprob_gap(a: torch.Tensor, b: torch.Tensor, mask: torch.Tensor) -> float:
    """Mean absolute difference of two ``[N, C]`` log-prob tensors over the ``mask``ed tokens
    (``logprob/gen_vs_train_abs``: the engine's log-probs against the trainer's)."""
    m = mask.float()
    return float(((a - b).abs() * m).sum() / m.sum().clamp(min=1))


def score(trajectory: Trajectory, reward, examples: list, prompt_texts: list[str]) -> Rewards:
    """Apply a reward (TRL's signature) to every row; ``examples`` are the step's prompts' examples.
    Multi-turn rows also pass the column ``episode`` (`funcall.envs.episode.EpisodeResult`).

    A mix of rewards reports its components through ``components()`` (`funcall.rewards.mix`)."""
    g = trajectory.group
    per = lambda values: [v for v in values for _ in range(g)]  # noqa: E731
    columns = dict(tools=per([e.tools for e in examples]), possible_answer=per([e.ground_truth() for e in examples]),
                   category=per([e.category for e in examples]))
    if trajectory.episodes is not None:  # multi-turn: rewards see each row's episode (funcall.rewards.multi_turn)
        columns["episode"] = trajectory.episodes
    raw = list(reward(per(prompt_texts), trajectory.texts, **columns))
    total = torch.tensor([0.0 if r is None else float(r) for r in raw])
    return Rewards(total=total, raw=raw, components=reward_components(reward))


def reward_components(reward) -> dict[str, list[float | None]]:
    """The latest per-component values of a mix reward; {} for a single reward."""
    from funcall.rewards.mix import MixReward

    return dict(reward.last_components) if isinstance(reward, MixReward) else {}
