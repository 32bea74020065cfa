"""One RL run as one object: built once from the config, then ``step(n)`` for each step.

`RLRun` is what `funcall.trainers.rl.RLTrainer.fit` builds from its settings (torchtune's recipe object): it holds
the parts a step uses (the policy under DeepSpeed, the frozen reference, the rollout engine, the
agent loop that collects rollouts, the reward, the advantage, the loss, and the `Session` that
evaluates, checkpoints and logs), the typed settings read once from the config (`Sampling`, the
prompt `LengthBudget`, the per-rank batch shape), and nothing else. A step is a straight line of
typed phases (`funcall.rollout.trajectory`):

1. ``collect``: ``rollout.num_generations`` rollouts per prompt through the rollout engine (a
   `funcall.rollout.engine.RolloutEngine`), by the run's agent loop (`funcall.agents`: completions
   of single-turn prompts, or episodes played on environments; the same `Trajectory`), scored by
   the reward (TRL signature; `funcall.trainers.scoring`) into `Rewards`; with dynamic sampling,
   in collective rounds until every rank has its informative groups;
2. ``logprobs``: the trainer's own log-probs and entropies when the engine gives none
   (``trainer.recompute_logprobs=true``) or the loss corrects the engine's, and the frozen
   reference's when the loss has a KL term, in no-grad passes;
3. the ``advantage`` estimator on rewards grouped by prompt (all of a prompt's samples are on one
   rank, so groups need no communication), given the entropies and both span masks;
4. ``update`` (`funcall.trainers.rl_update`): ``trainer.ppo_epochs`` passes in
   ``trainer.mini_batches`` optimizer steps each, the loss of each mini-batch exact over its
   micro-batches and ranks.

The step's row says how many completions (multi-turn: steps) did not parse in the run's answer
format (``rollout/unparseable``: the agent loop's metrics), and ``trainer.unparseable_alarm``
warns when that share stays high (`funcall.trainers.parse_alarm`).

How it differs from the obvious loop: the reference model is sharded with the policy's ZeRO
stage and not built at all when the loss has no KL term (nor with ``model.lora``: the reference
is then the policy with its adapters disabled); the rollout is laid out so one slice gives every
completion's logits (`funcall.trainers.rollout_layout`); every rank makes the same collective calls
whatever its completions do (generation runs with ZeRO-3's hooks off, see `funcall.rollout.hf`).
"""
from __future__ import annotations

import json
import logging
import time
from pathlib import Path

import torch
from omegaconf import DictConfig

from funcall.agents.base import Sampling
from funcall.data.length_budget import draw_fitting
from funcall.dist import all_gather_objects, all_reduce_sum
from funcall.models.lora import is_lora, without_adapters
from funcall.rollout.trajectory import Rewards, Trajectory
from funcall.trainers.build import Shape, build, load_model
from funcall.trainers.ds_config import deepspeed_config
from funcall.trainers.dynamic_sampling import informative_groups, select_groups
from funcall.trainers.parse_alarm import UnparseableAlarm
from funcall.trainers.policy_forward import PolicyModule, no_grad_logps
from funcall.trainers.rl_settings import RLSettings
from funcall.trainers.rl_update import update
from funcall.trainers.run_context import RunContext
from funcall.trainers.scoring import logprob_gap, score
from funcall.trainers.session import Session
from funcall.utils.instantiate import instantiate


class RLRun:
    """The parts of one RL run, built once (module docstring); `train` runs ``step(n)`` to the end."""

    def __init__(self, settings: RLSettings, cfg: DictConfig, run: RunContext):
        self.settings, self.run, self.dist = settings, run, run.dist
        rollout_cfg = cfg.rollout
        self.sampling = Sampling(group=int(rollout_cfg.num_generations), max_new_tokens=int(rollout_cfg.max_new_tokens),
                                 temperature=float(rollout_cfg.temperature), top_p=float(rollout_cfg.top_p),
                                 with_stats=not settings.recompute_logprobs)
        self.prompts_per_rank, self.micro, accum = settings.shape(self.sampling.group, self.dist.world_size)
        self.rounds_max = 1 + (settings.max_resample if settings.dynamic_sampling else 0)
        self.warm_start_path = None
        if settings.warm_start and cfg.model.path is None:
            from funcall.trainers.warm_start import ensure_warm_start

            self.warm_start_path = str(ensure_warm_start(cfg, self.dist))
        self.reward = instantiate(cfg.reward, _key="reward")
        self.advantage = instantiate(cfg.advantage, _key="advantage")
        self.loss = instantiate(cfg.loss, _key="loss")
        temperature = self.sampling.temperature
        shape = Shape(self.micro, accum, total_steps=settings.max_steps * settings.ppo_epochs * settings.mini_batches)
        built = build(cfg, run, settings, module=lambda model: PolicyModule(model, temperature, settings.logit_chunk),
                      shape=shape, model_path=self.warm_start_path)
        self.policy, self.data, self.agent, self.rollout, evaluators, self.start_step = built
        self.budget = settings.prompt_budget(self.policy.context, self.sampling.max_new_tokens)
        self.reference = self.build_reference(cfg)
        self.session = Session(run, settings, self.policy, self.rollout, evaluators)
        self.alarm = UnparseableAlarm.from_config(settings.unparseable_alarm, self.data.style.answer_format)

    def build_reference(self, cfg: DictConfig):
        """The frozen reference policy, sharded like the policy; None when the loss has no KL. A LoRA
        policy's reference is itself with its adapters disabled: its base, no second model."""
        if not self.loss.uses_reference:
            return None
        if is_lora(self.policy.model):
            return without_adapters(self.policy.engine, self.policy.model)
        import deepspeed

        ds = deepspeed_config(cfg.deepspeed, precision=self.settings.precision, inference=True)
        model, _ = load_model(cfg, ds, self.warm_start_path)
        module = PolicyModule(model, self.sampling.temperature, self.settings.logit_chunk)
        engine, *_ = deepspeed.initialize(model=module, config=ds)
        engine.eval()
        return engine

    # -- the run ------------------------------------------------------------------------------
    def train(self) -> dict:
        """Every step from the start (or the resumed checkpoint) to ``trainer.max_steps``; the summary."""
        settings, session, n = self.settings, self.session, self.start_step
        first_ids = None
        try:
            # the first step's prompts against the budget before anything is evaluated or logged: data
            # that does not fit the model (trainer.overlong=error) stops here, the run folder unwritten
            if n < settings.max_steps:
                self.draw(n, 0)
            if settings.eval_at_start and n == 0:
                session.evaluate(0)
            while n < settings.max_steps:
                row, ids = self.step(n)
                first_ids = first_ids or ids
                n += 1
                session.log_step(row, n)
                self.watch_parsing(row, n)
                session.after_step(n)
                if session.out_of_time():
                    break
        finally:
            self.agent.close()  # multi-turn: the environments' child process
        notes = {"first_step_ids_per_rank": all_gather_objects(first_ids),
                 "reference": None if self.reference is None else "base" if is_lora(self.policy.model) else "model"}
        if self.warm_start_path:
            notes.update({"warm_start/path": self.warm_start_path, **warm_start_eval(self.warm_start_path)})
        return session.finish(n, notes)

    # -- one step -----------------------------------------------------------------------------
    def step(self, n: int) -> tuple[dict, list[str]]:
        """Step ``n`` (0-based): collect, log-probs, advantages, update; its metrics and the ids of
        this rank's prompts."""
        settings, memory, group = self.settings, self.session.memory, self.sampling.group
        t0 = time.time()
        with memory.phase("rollout"):
            traj, rewards, examples, row = self.collect(n)
        t1 = time.time()
        last = n + 1 == settings.max_steps
        table_step = bool(settings.table_every) and ((n + 1) % settings.table_every == 0 or last)
        with memory.phase("logprob"):
            row.update(self.logprobs(traj, table_step))
        t_logprob = time.time() - t1
        adv, adv_metrics = self.advantage(rewards.total.view(-1, group), token_entropy=traj.entropies,
                                          span_mask=traj.think_mask, completion_mask=traj.completion_mask)
        t2 = time.time()
        with memory.phase("update"):
            row.update(update(self.policy.engine, traj, adv, self.loss, self.dist, micro_batch_size=self.micro,
                              mini_batches=settings.mini_batches, ppo_epochs=settings.ppo_epochs, step=n,
                              pad_id=self.policy.tokenizer.pad_token_id,
                              on_diverged=f"Last good checkpoint: {self.session.last_checkpoint() or 'none'}"))
        t_update = time.time() - t2
        row.update({k: v for k, v in adv_metrics.items()
                    if not (settings.dynamic_sampling and k == "frac_zero_std_groups")})
        prompts = [traj.prompt_ids[g * group] for g in range(traj.rows // group)]
        row.update(rollout_metrics(traj, rewards, prompts, self.sampling.max_new_tokens))
        row.update(self.agent.metrics(traj, self.data.style.answer_format))  # rollout/unparseable; episode/* (multi-turn)
        row.update({"lr": self.session.lr(), "time/step_s": time.time() - t0, "time/logprob_s": t_logprob,
                    "time/update_s": t_update})
        if table_step:
            self.log_samples(traj, rewards, prompts, n + 1)
        return row, [e.id for e in examples]

    def draw(self, n: int, round_: int) -> tuple[list, list[list[int]], int]:
        """This rank's examples of a round, their prompt ids, and how many drawn prompts were over
        the prompt budget (skipped and replaced, `funcall.data.length_budget`; never cut)."""
        data, tok, rank = self.data, self.policy.tokenizer, self.dist.rank

        def encode(i: int) -> tuple:
            example = data.train[i]
            return example, self.agent.prompt_ids(tok, example, data.style)

        idx = data.sampler.micro_batch(n, round_, rank, self.dist.world_size, self.prompts_per_rank, self.rounds_max)
        pairs, skipped = draw_fitting(idx, encode, lambda pair: len(pair[1]), self.budget,
                                      lambda slot, attempt: data.sampler.stand_in(n, round_, rank, slot, attempt),
                                      lambda i: data.train[i].id)
        return [e for e, _ in pairs], [p for _, p in pairs], skipped

    def collect(self, n: int) -> tuple[Trajectory, Rewards, list, dict]:
        """Prompts -> `Trajectory` and `Rewards` (with dynamic sampling, in collective rounds until
        every rank has its informative groups or ``trainer.max_resample`` is spent); returns them,
        the examples of their groups, and the phase's metrics. The run's agent loop collects."""
        tok, dynamic = self.policy.tokenizer, self.settings.dynamic_sampling
        rounds, t_rollout, t_reward, skipped = [], 0.0, 0.0, 0
        for r in range(self.rounds_max):
            examples, prompts, over = self.draw(n, r)
            skipped += over
            t0 = time.time()
            traj = self.agent.collect(self.rollout, tok, examples, prompts, self.data.style, self.sampling,
                                      self.policy.context)
            t1 = time.time()
            rounds.append((traj, score(traj, self.reward, examples, [tok.decode(p) for p in prompts]), examples))
            t_rollout, t_reward = t_rollout + t1 - t0, t_reward + time.time() - t1
            if not dynamic:
                break
            have = sum(sum(informative_groups(rw.total, self.sampling.group)) for _, rw, _ in rounds)
            if all_reduce_sum([float(have < self.prompts_per_rank)])[0] == 0:
                break
        metrics = {"time/rollout_s": t_rollout, "time/reward_s": t_reward, "data/skipped_long_prompts": skipped}
        if not dynamic:
            return (*rounds[0], metrics)
        traj, rewards, examples, kept = select_groups(rounds, self.prompts_per_rank)
        metrics.update(kept)
        metrics["rollout/resampled_prompts"] = (len(rounds) - 1) * self.prompts_per_rank
        return traj, rewards, examples, metrics

    def logprobs(self, traj: Trajectory, table_step: bool) -> dict:
        """Fill ``traj``'s old log-probs and entropies from the trainer when the engine gave none or
        the loss corrects the engine's against them (and, on table steps, measure how far apart the
        two are), and its reference log-probs when there is a reference; the phase's metrics."""
        batch, pad, row = self.settings.logprob_batch_size, self.policy.tokenizer.pad_token_id, {}
        use_own = traj.old_logps is None or traj.entropies is None or self.loss.corrects_rollout
        if use_own or (table_step and traj.rollout_logps is not None):
            train_logps, train_entropies = no_grad_logps(self.policy.engine, traj, batch, pad, True)
            if traj.rollout_logps is not None:
                row["logprob/gen_vs_train_abs"] = logprob_gap(traj.rollout_logps, train_logps, traj.completion_mask)
            if use_own:
                traj.old_logps, traj.entropies = train_logps, train_entropies
        if self.reference is not None:
            traj.ref_logps = no_grad_logps(self.reference, traj, batch, pad, False)[0]
        return row

    def log_samples(self, traj: Trajectory, rewards: Rewards, prompts: list[list[int]], n: int) -> None:
        """The W&B table of the step's first 16 rollouts."""
        tok, group = self.policy.tokenizer, self.sampling.group
        self.run.log.table("rollout/samples", ["prompt", "completion", "reward"],
                           [[tok.decode(prompts[i // group])[-300:], traj.texts[i], float(rewards.total[i])]
                            for i in range(min(16, traj.rows))], n)

    def watch_parsing(self, row: dict, n: int) -> None:
        """Feed the alarm this step's ``rollout/unparseable`` averaged over ranks (the value the step's
        row logs; collective, on every rank alike) and warn on rank 0 when a streak completes."""
        if self.alarm is None:
            return
        total, ranks = all_reduce_sum([float(row["rollout/unparseable"]), 1.0])
        warning = self.alarm.update(n, total / ranks)
        if warning and self.dist.is_main:
            logging.getLogger("funcall").warning(warning)


def rollout_metrics(traj: Trajectory, rewards: Rewards, prompts: list[list[int]], budget: int) -> dict:
    """The step's rollout metrics on this rank that every agent loop shares (its own, such as
    ``rollout/unparseable``, come from ``agent.metrics`` and override these)."""
    r = rewards.total
    lengths = traj.completion_mask.sum(1)
    answer = traj.completion_mask * (1 - traj.think_mask)
    row = {"reward/mean": r.mean().item(), "reward/std": r.std().item() if len(r) > 1 else 0.0,
           "reward/none_frac": sum(v is None for v in rewards.raw) / len(rewards.raw),
           "entropy/think": _mean(traj.entropies, traj.think_mask),
           "entropy/answer": _mean(traj.entropies, answer),
           "completion/length_mean": lengths.mean().item(),
           "completion/clipped_frac": sum(len(c) >= budget for c in traj.completion_ids) / traj.rows,
           "completion/length_max": lengths.max().item(),
           "tokens/prompt_mean": sum(len(p) for p in prompts) / len(prompts),
           "tokens/prompt_max": max(len(p) for p in prompts),
           "tokens/completion_mean": lengths.mean().item()}
    for name, values in rewards.components.items():
        scored = [float(v) for v in values if v is not None]
        row[f"reward/{name}"] = sum(scored) / max(len(scored), 1)
    return row


def _mean(values: torch.Tensor, mask: torch.Tensor) -> float:
    m = mask.float()
    return ((values * m).sum() / m.sum().clamp(min=1)).item()


def warm_start_eval(model_path: str) -> dict:
    """The warm start's final held-out numbers: ``warm_start/eval_ast_accuracy`` (single-turn data)
    or ``warm_start/eval_episode_pass`` (multi-turn data)."""
    summary = Path(model_path).parent / "summary.json"
    final = json.loads(summary.read_text()) if summary.exists() else {}
    if "eval/episode_pass" in final:
        return {"warm_start/eval_episode_pass": final["eval/episode_pass"]}
    return {"warm_start/eval_ast_accuracy": final.get("eval/ast_accuracy")}
