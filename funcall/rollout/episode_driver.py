"""The one episode driver: multi-turn conversations played token by token, for training and evaluation.

Multi-turn RL rollouts (`funcall.agents.multi_turn`), the held-out multi-turn evaluation during
training (`funcall.eval.multi_turn_heldout`) and ``python -m funcall.evaluate eval=bfcl_multi_turn``
(`funcall.eval.bfcl_multi_turn`) all run `play`, so a model is evaluated in exactly the contexts it
is trained in. They differ only in how the next steps are generated (a `StepSampler`: sampled with
the rollout policy's statistics, `SampledSteps`, or greedy in batches, `funcall.eval.task.
GreedySteps`) and in their budgets.

Each conversation (`funcall.envs.conversation.Conversation`, BFCL's turn protocol) is an
`EpisodeTokens`: its ids are the first prompt's (the tools and the first user turn in the chat
template), then each step's ids exactly as generated, then only the ids of what was added (tool
results, the next user turn, the template's opening of the next answer;
`funcall.data.chat_continuation`). Nothing is re-tokenised: with a template that rewrites history
(Qwen3 drops earlier turns' ``<think>``) re-rendering would put the model in a context it never
generated in, and BPE may not give back the sampled ids. Per id it keeps whether it was sampled
(the policy's mask), whether it is inside a step's ``<think>`` content, and the rollout's
log-prob and entropy (0 on appended ids).

How an episode ends: the conversation ends (``completed``, or ``force_quit`` after
``max_steps_per_turn`` steps with calls in a turn); its context no longer leaves room for a step
(``prompt_too_long``: over ``limit``, the model's context less the step budget, as an overflow
ends it in BFCL; if that was its first prompt nothing ran at all, `never_ran`); or, in training,
its ids after the prompt reach ``budget`` (``episode_tokens``; a step is cut to what is left).

How it differs from BFCL's loop (one entry at a time, the conversation re-rendered before every
step) and TRL's (continues only while the model calls tools): every round, all live episodes of
the rank generate their next step together, and rounds go on while any rank has a live episode,
so under ZeRO-3 every rank makes the same generation calls.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from funcall.data.chat_continuation import continuation_ids, stop_texts
from funcall.data.prompts import PromptStyle, render_prompt
from funcall.data.think_mask import span_masks
from funcall.dist import all_gather_objects, all_reduce_sum
from funcall.envs.conversation import Conversation
from funcall.envs.episode import EpisodeResult
from funcall.rollout.engine import RolloutEngine, Rollouts


@dataclass
class EpisodeTokens:
    """One conversation in flight and the token row it is building."""

    conversation: Conversation
    prompt_ids: list[int]
    limit: int | None = None  # longest context a step may start from (None: no limit)
    budget: int | None = None  # ids the episode may hold after the prompt (None: no limit)
    ground_truth: list[list[str]] = field(default_factory=list)
    ids: list[int] = field(default_factory=list)  # after the prompt: sampled steps and what was appended between them
    sampled: list[float] = field(default_factory=list)  # [len(ids)] 1 on sampled ids
    think: list[float] = field(default_factory=list)  # [len(ids)] 1 inside a step's <think> content
    logps: list[float] = field(default_factory=list)  # [len(ids)] rollout log-probs (0 on appended ids)
    entropies: list[float] = field(default_factory=list)  # [len(ids)] rollout entropies (0 on appended ids)
    steps_cut: int = 0  # steps that ended without a stop token (the step or episode budget cut them)
    ended_by: str = ""  # set when a token budget ends the episode; else the conversation's

    @property
    def done(self) -> bool:
        return self.conversation.done or bool(self.ended_by)

    @property
    def context(self) -> list[int]:
        return self.prompt_ids + self.ids

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


class StepSampler(Protocol):
    """The next step of every live episode of this rank; collective over ranks (every rank calls
    it once per round, with however many contexts it has, possibly none)."""

    def __call__(self, contexts: list[list[int]]) -> Rollouts: ...


def first_prompt_ids(tokenizer, entry: dict, style: PromptStyle) -> list[int]:
    """The ids an episode starts from: the task's tools and first user turn in the chat template."""
    return tokenizer(render_prompt(tokenizer, entry["function"], entry["question"][0], style),
                     add_special_tokens=False)["input_ids"]


def open_episode(conversation: Conversation, tokenizer, style: PromptStyle, *, limit: int | None = None,
                 budget: int | None = None, ground_truth: list[list[str]] | None = None,
                 prompt_ids: list[int] | None = None) -> EpisodeTokens:
    """Reset the conversation's environment, start its first turn, and lay out its first prompt
    (``prompt_ids`` when the caller has them: `first_prompt_ids` of the entry)."""
    conversation.env.reset(conversation.entry)
    conversation.start_turn()
    prompt = list(prompt_ids) if prompt_ids is not None else first_prompt_ids(tokenizer, conversation.entry, style)
    return EpisodeTokens(conversation, prompt, limit=limit, budget=budget, ground_truth=ground_truth or [])


def never_ran(c: Conversation) -> bool:
    """The conversation ended on its first prompt (over the limit): the model answered nothing."""
    return c.ended_by == "prompt_too_long" and not any(c.output)


def take_step(ep: EpisodeTokens, step: list[int], logps: list[float] | None, entropies: list[float] | None,
              tokenizer, style: PromptStyle, stops: dict[int, str], max_steps_per_turn: int) -> None:
    """Append one generated step to ``ep``, run it through the conversation, append what follows."""
    room = len(step) if ep.budget is None else ep.budget - len(ep.ids)
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
    if ep.budget is not None and len(ep.ids) + len(follow) >= ep.budget:  # no room for another step
        ep.ended_by = "episode_tokens"
        return
    ep.append(follow, False)


def play(episodes: list[EpisodeTokens], sample: StepSampler, tokenizer, style: PromptStyle, *,
         max_steps_per_turn: int, on_end: Callable[[EpisodeTokens], None] | None = None) -> None:
    """Run every episode to its end (module docstring); collective over ranks. ``on_end`` is
    called once per episode when it ends, however it ends (a progress bar)."""
    stops = stop_texts(tokenizer)
    ended: set[int] = set()

    def note_ends() -> None:
        for ep in episodes:
            if ep.done and id(ep) not in ended:
                ended.add(id(ep))
                if on_end is not None:
                    on_end(ep)

    while True:
        for ep in episodes:
            if not ep.done and ep.limit is not None and len(ep.prompt_ids) + len(ep.ids) > ep.limit:
                ep.conversation.done, ep.conversation.ended_by = True, "prompt_too_long"
        note_ends()
        live = [ep for ep in episodes if not ep.done]
        if all_reduce_sum([float(len(live))])[0] == 0:
            return
        out = sample([ep.context for ep in live])
        for k, ep in enumerate(live):
            take_step(ep, list(out.ids[k]), None if out.logps is None else out.logps[k],
                      None if out.entropies is None else out.entropies[k], tokenizer, style, stops, max_steps_per_turn)
        note_ends()


class SampledSteps:
    """Training's `StepSampler`: every round one ``engine.generate`` call with the rollout's
    sampling settings, the rank's call padded to the largest live count of any rank (copies of its
    shortest context, their answers dropped); in the first round, when every rank still has all
    its episodes, a task's ``group`` episodes share their prompt and are sampled together
    (``num_samples=group``, the prompt prefilled once). Records whether the engine reported
    entropies in every round (``entropies_known``)."""

    def __init__(self, engine: RolloutEngine, *, episodes: int, group: int, max_new_tokens: int, temperature: float,
                 top_p: float, with_stats: bool, filler: int = 0):
        self.engine, self.episodes, self.group = engine, episodes, group
        self.sampling = dict(max_new_tokens=max_new_tokens, temperature=temperature, top_p=top_p, with_stats=with_stats)
        self.filler, self.first, self.entropies_known = filler, True, with_stats

    def __call__(self, contexts: list[list[int]]) -> Rollouts:
        counts = all_gather_objects((len(contexts), len(contexts) == self.episodes))
        most = max(n for n, _ in counts)
        samples = 1
        if self.first and all(whole for _, whole in counts):
            contexts, samples, most = contexts[::self.group], self.group, most // self.group
        self.first = False
        filler = min(contexts, key=len) if contexts else [self.filler]
        out = self.engine.generate(contexts + [filler] * (most - len(contexts)), num_samples=samples, **self.sampling)
        self.entropies_known = self.entropies_known and out.entropies is not None
        return out
