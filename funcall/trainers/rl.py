"""GRPO-family RL on DeepSpeed: rollouts, rewards, advantages, clipped updates, KL to a reference.

One step, on every rank for its share of ``trainer.prompts_per_step`` prompts, is a straight line
of typed phases (`funcall.rollout.trajectory`):

1. ``collect``: ``rollout.num_generations`` rollouts per prompt through the rollout engine (a
   `funcall.rollout.engine.RolloutEngine`), by the run's agent loop (`funcall.agents`: completions
   of single-turn prompts, or episodes played on environments; the same `Trajectory`), with the
   rollout policy's token log-probs and entropies read off generation
   (``trainer.recompute_logprobs=true`` recomputes them in a no-grad pass, for engines that cannot
   report them);
2. the frozen reference model's log-probs, one no-grad pass, when the loss has a KL term;
3. ``score``: the configured reward(s) (TRL signature; `funcall.trainers.scoring`) -> `Rewards`;
4. the ``advantage`` estimator on rewards grouped by prompt (all of a prompt's samples are on
   one rank, so groups need no communication), given the entropies and both span masks;
5. ``update`` (`funcall.trainers.rl_update`): ``trainer.ppo_epochs`` passes in
   ``trainer.mini_batches`` optimizer steps each, the loss of each mini-batch exact over its
   micro-batches and ranks.

The step's row says how many completions (multi-turn: steps) did not parse in the run's answer
format (``rollout/unparseable``, ``rollout/no_call_frac``: the agent loop's metrics), and
``trainer.unparseable_alarm`` warns when that share stays high (`funcall.trainers.parse_alarm`).

How it differs from the obvious loop: the reference model is sharded with the policy's ZeRO
stage (ZeRO-3 when the policy is) and not built at all when the loss has no KL term (nor with
``model.lora``: the reference is then the policy with its adapters disabled); the
rollout is laid out so one slice gives every completion's logits (`funcall.trainers.rollout_layout`, `funcall.trainers.policy_forward`);
every rank makes the same collective calls whatever its completions do (generation runs with
ZeRO-3's hooks off, see `funcall.rollout.hf`); the DeepSpeed batch keys are derived from the
rollout shape, so the config cannot disagree with the loop.
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass

import torch
from omegaconf import DictConfig

from funcall.agents.base import Sampling
from funcall.data.length_budget import LengthBudget, draw_fitting
from funcall.dist import all_gather_objects, all_reduce_sum
from funcall.models.lora import is_lora, without_adapters
from funcall.rollout.trajectory import Rewards, Trajectory
from funcall.trainers.build import Parts, Shape, build, load_model
from funcall.trainers.checks import check_loop, check_model, check_optim, check_part, check_rollout, fail, number
from funcall.trainers.ds_config import cpu_autocast, deepspeed_config
from funcall.trainers.dynamic_sampling import informative_groups, select_groups
from funcall.trainers.parse_alarm import ALARM_KEYS, UnparseableAlarm
from funcall.trainers.policy_forward import PolicyModule, no_grad_logps
from funcall.trainers.rl_update import update
from funcall.trainers.scoring import logprob_gap, score
from funcall.trainers.session import LoopSettings, RunContext, Session
from funcall.utils.instantiate import instantiate


@dataclass
class RLTrainer(LoopSettings):
    eval_at_start: bool = True
    prompts_per_step: int = 8
    ppo_epochs: int = 1
    mini_batches: int = 1
    micro_batch_size: int | None = None
    table_every: int = 50
    warm_start: dict | None = None
    logprob_batch_size: int = 32
    max_prompt_length: int | None = None  # None: the model's context less rollout.max_new_tokens
    recompute_logprobs: bool = False
    dynamic_sampling: bool = False
    max_resample: int = 4
    unparseable_alarm: dict | None = None  # {steps, share}: warn when rollout/unparseable >= share for steps in a row

    # -- set-up -------------------------------------------------------------------------------
    def shape(self, group: int, world: int) -> tuple[int, int, int]:
        """(prompts per rank, rollouts per micro-batch, micro-batches per optimizer step)."""
        if self.prompts_per_step % world:
            fail(f"trainer.prompts_per_step={self.prompts_per_step} must divide by the {world} ranks")
        prompts = self.prompts_per_step // world
        rollouts = prompts * group
        if rollouts % self.mini_batches:
            fail(f"trainer.mini_batches={self.mini_batches} must divide the {rollouts} rollouts per rank "
                 f"(trainer.prompts_per_step / ranks x rollout.num_generations)")
        mini = rollouts // self.mini_batches
        micro = self.micro_batch_size or mini
        if mini % micro:
            fail(f"trainer.micro_batch_size={micro} must divide the mini-batch of {mini} rollouts per rank "
                 f"(trainer.prompts_per_step / ranks x rollout.num_generations / trainer.mini_batches)")
        return prompts, micro, mini // micro

    def check(self, cfg: DictConfig, world_size: int) -> None:
        """Every value this loop reads, before anything is loaded (`funcall.trainers.checks`)."""
        check_loop(self)
        check_optim(cfg.optim)
        check_model(cfg.model)
        check_rollout(cfg.rollout, instantiate(cfg.advantage, _key="advantage").min_group)
        check_part(cfg.agent, "agent")
        check_part(cfg.loss, "loss")  # e.g. loss.max_len, required by loss.aggregation=seq_mean_token_sum_norm
        for key in ("prompts_per_step", "ppo_epochs", "mini_batches", "logprob_batch_size"):
            number(f"trainer.{key}", getattr(self, key), low=1, integer=True)
        number("trainer.micro_batch_size", self.micro_batch_size, low=1, integer=True, nullable=True)
        number("trainer.max_prompt_length", self.max_prompt_length, low=1, integer=True, nullable=True)
        number("trainer.max_resample", self.max_resample, low=0, integer=True)
        number("trainer.table_every", self.table_every, low=0, integer=True)
        self.check_alarm()
        self.shape(int(cfg.rollout.num_generations), world_size)
        if self.precision == "bf16" and cpu_autocast("bf16"):
            fail("trainer.precision=bf16 on a CPU (bf16 autocast) is implemented for SFT; RL on a CPU runs "
                 "fp32 (trainer.precision=auto or fp32)")
        if self.recompute_logprobs and instantiate(cfg.loss, _key="loss").corrects_rollout:
            fail("loss.is_correction=tis weighs the engine's log-probs against the trainer's: it needs an "
                 "engine that reports them (trainer.recompute_logprobs=false)")

    def check_alarm(self) -> None:
        """``trainer.unparseable_alarm``: null, or ``steps`` >= 0 (0: off) and ``share`` in (0, 1]."""
        alarm = self.unparseable_alarm
        if alarm is None:
            return
        unknown = sorted(set(alarm) - set(ALARM_KEYS))
        if unknown or not all(k in alarm for k in ALARM_KEYS):
            fail(f"trainer.unparseable_alarm={dict(alarm)}: must have exactly the keys {', '.join(ALARM_KEYS)} (or be null)")
        number("trainer.unparseable_alarm.steps", alarm["steps"], low=0, integer=True)
        number("trainer.unparseable_alarm.share", alarm["share"], low=0, high=1, low_open=True)

    def prompt_budget(self, context: int | None, max_new_tokens: int) -> LengthBudget:
        """Prompt tokens a rollout may start from: ``trainer.max_prompt_length``, by default the
        model's context less the completion budget (``rollout.max_new_tokens``)."""
        limit = self.max_prompt_length
        if context is not None and limit is not None and limit + max_new_tokens > context:
            fail(f"trainer.max_prompt_length={limit} + rollout.max_new_tokens={max_new_tokens} exceeds the model's "
                 f"context of {context} tokens")
        if limit is None and context is not None:
            limit = context - max_new_tokens
            if limit < 1:
                fail(f"rollout.max_new_tokens={max_new_tokens} leaves no room for a prompt in the model's context of {context}")
        note = None if self.max_prompt_length else f"the model's context {context} less rollout.max_new_tokens"
        return LengthBudget(limit, "trainer.max_prompt_length", self.overlong, what="prompt", note=note)

    def fit(self, cfg: DictConfig, run: RunContext) -> dict:
        dist = run.dist
        prompts_per_rank, micro, accum = self.shape(int(cfg.rollout.num_generations), dist.world_size)
        model_path = None
        if self.warm_start and cfg.model.path is None:
            from funcall.trainers.warm_start import ensure_warm_start

            model_path = str(ensure_warm_start(cfg, dist))
        reward_fn = instantiate(cfg.reward, _key="reward")
        advantage = instantiate(cfg.advantage, _key="advantage")
        loss_fn = instantiate(cfg.loss, _key="loss")
        temperature = float(cfg.rollout.temperature)
        shape = Shape(micro, accum, total_steps=self.max_steps * self.ppo_epochs * self.mini_batches)
        parts = build(cfg, run, self, module=lambda model: PolicyModule(model, temperature, self.logit_chunk), shape=shape,
                      model_path=model_path)
        budget = self.prompt_budget(parts.context, int(cfg.rollout.max_new_tokens))
        reference = self.reference(cfg, loss_fn, model_path, parts)
        session = Session(run, self, parts)
        alarm = UnparseableAlarm.from_config(self.unparseable_alarm, parts.style.answer_format)
        step = parts.start_step
        first_ids = None
        try:
            # the first step's prompts against the budget before anything is evaluated or logged: data
            # that does not fit the model (trainer.overlong=error) stops here, the run folder unwritten
            if step < self.max_steps:
                self.draw(step, 0, parts, dist.rank, dist.world_size, prompts_per_rank,
                          1 + (self.max_resample if self.dynamic_sampling else 0), budget)
            if self.eval_at_start and step == 0:
                session.evaluate(0)
            while step < self.max_steps:
                row, ids = self.step(step, parts, session, cfg.rollout, reward_fn, advantage, loss_fn, reference,
                                     prompts_per_rank, micro, budget)
                first_ids = first_ids or ids
                step += 1
                session.log_step(row, step)
                watch_parsing(alarm, row, step, dist.is_main)
                session.after_step(step)
                if session.out_of_time():
                    break
        finally:
            parts.agent.close()  # multi-turn: the environments' child process
        notes = {"first_step_ids_per_rank": all_gather_objects(first_ids),
                 "reference": None if reference is None else "base" if is_lora(parts.model) else "model"}
        if model_path:
            notes.update({"warm_start/path": model_path, **_warm_start_eval(model_path)})
        return session.finish(step, notes)

    def reference(self, cfg: DictConfig, loss_fn, model_path: str | None, parts: Parts):
        """The frozen reference policy, sharded like the policy; None when the loss has no KL. A LoRA
        policy's reference is itself with its adapters disabled: its base, no second model."""
        if not loss_fn.uses_reference:
            return None
        if is_lora(parts.model):
            return without_adapters(parts.engine, parts.model)
        import deepspeed

        ds = deepspeed_config(cfg.deepspeed, precision=self.precision, inference=True)
        model, _ = load_model(cfg, ds, model_path)
        engine, *_ = deepspeed.initialize(model=PolicyModule(model, float(cfg.rollout.temperature), self.logit_chunk),
                                           config=ds)
        engine.eval()
        return engine

    # -- one step -----------------------------------------------------------------------------
    def draw(self, step: int, round_: int, parts: Parts, rank: int, world: int, prompts_per_rank: int, rounds_max: int,
             budget: LengthBudget) -> tuple[list, list[list[int]], int]:
        """This rank's examples of a round, their prompt ids, and how many drawn prompts were over
        ``budget`` (skipped and replaced, `funcall.data.length_budget`; never cut)."""
        tok, style = parts.tokenizer, parts.style

        def encode(i: int) -> tuple:
            example = parts.train[i]
            return example, parts.agent.prompt_ids(tok, example, style)

        idx = parts.sampler.micro_batch(step, round_, rank, world, prompts_per_rank, rounds_max)
        pairs, skipped = draw_fitting(idx, encode, lambda pair: len(pair[1]), budget,
                                      lambda slot, attempt: parts.sampler.stand_in(step, round_, rank, slot, attempt),
                                      lambda i: parts.train[i].id)
        return [e for e, _ in pairs], [p for _, p in pairs], skipped

    def sample(self, step: int, parts: Parts, session: Session, rollout_cfg, reward_fn, prompts_per_rank: int,
               budget: LengthBudget):
        """Prompts -> `Trajectory` and `Rewards` (with dynamic sampling, in collective rounds until
        every rank has its informative groups or ``max_resample`` is spent); returns them, the
        examples of their groups, and the phase's metrics. The run's agent loop collects."""
        dist, tok = session.run.dist, parts.tokenizer
        group = int(rollout_cfg.num_generations)
        rounds_max = 1 + (self.max_resample if self.dynamic_sampling else 0)
        sampling = Sampling(group=group, max_new_tokens=int(rollout_cfg.max_new_tokens),
                            temperature=float(rollout_cfg.temperature), top_p=float(rollout_cfg.top_p),
                            with_stats=not self.recompute_logprobs)
        context = parts.context
        rounds, t_rollout, t_reward, skipped = [], 0.0, 0.0, 0
        for r in range(rounds_max):
            examples, prompts, over = self.draw(step, r, parts, dist.rank, dist.world_size, prompts_per_rank, rounds_max,
                                                budget)
            skipped += over
            t0 = time.time()
            traj = parts.agent.collect(parts.rollout, tok, examples, prompts, parts.style, sampling, context)
            t1 = time.time()
            rounds.append((traj, score(traj, reward_fn, examples, [tok.decode(p) for p in prompts]), examples))
            t_rollout, t_reward = t_rollout + t1 - t0, t_reward + time.time() - t1
            if not self.dynamic_sampling:
                break
            have = sum(sum(informative_groups(rw.total, group)) for _, rw, _ in rounds)
            if all_reduce_sum([float(have < prompts_per_rank)])[0] == 0:
                break
        metrics = {"time/rollout_s": t_rollout, "time/reward_s": t_reward, "data/skipped_long_prompts": skipped}
        if not self.dynamic_sampling:
            return (*rounds[0], metrics)
        traj, rewards, examples, kept = select_groups(rounds, prompts_per_rank)
        metrics.update(kept)
        metrics["rollout/resampled_prompts"] = (len(rounds) - 1) * prompts_per_rank
        return traj, rewards, examples, metrics

    def step(self, step: int, parts: Parts, session: Session, rollout_cfg, reward_fn, advantage, loss_fn, reference,
             prompts_per_rank: int, micro: int, budget: LengthBudget) -> tuple[dict, list[str]]:
        """One RL step; returns its metrics and the ids of this rank's prompts."""
        dist, tok, engine = session.run.dist, parts.tokenizer, parts.engine
        group, pad = int(rollout_cfg.num_generations), tok.pad_token_id
        t0 = time.time()
        with session.memory.phase("rollout"):
            traj, rewards, examples, row = self.sample(step, parts, session, rollout_cfg, reward_fn, prompts_per_rank,
                                                       budget)

        t2 = time.time()
        # the trainer's own log-probs: when the engine gives none, when the loss corrects the
        # engine's against them, and every table_every steps (and at the last) to log how far apart the two are
        table_step = bool(self.table_every) and ((step + 1) % self.table_every == 0 or step + 1 == self.max_steps)
        use_own = traj.old_logps is None or traj.entropies is None or loss_fn.corrects_rollout
        with session.memory.phase("logprob"):
            if use_own or (table_step and traj.rollout_logps is not None):
                train_logps, train_entropies = no_grad_logps(engine, traj, self.logprob_batch_size, pad, True)
                if traj.rollout_logps is not None:
                    row["logprob/gen_vs_train_abs"] = logprob_gap(traj.rollout_logps, train_logps,
                                                                  traj.completion_mask)
                if use_own:
                    traj.old_logps, traj.entropies = train_logps, train_entropies
            if reference is not None:
                traj.ref_logps = no_grad_logps(reference, traj, self.logprob_batch_size, pad, False)[0]
        t_logprob = time.time() - t2

        adv, adv_metrics = advantage(rewards.total.view(-1, group), token_entropy=traj.entropies,
                                     span_mask=traj.think_mask, completion_mask=traj.completion_mask)
        t3 = time.time()
        with session.memory.phase("update"):
            row.update(update(engine, traj, adv, loss_fn, dist, micro_batch_size=micro, mini_batches=self.mini_batches,
                              ppo_epochs=self.ppo_epochs, step=step, pad_id=pad,
                              on_diverged=f"Last good checkpoint: {session.last_checkpoint() or 'none'}"))
        t_update = time.time() - t3
        row.update({k: v for k, v in adv_metrics.items() if not (self.dynamic_sampling and k == "frac_zero_std_groups")})
        prompts = [traj.prompt_ids[g * group] for g in range(traj.rows // group)]
        row.update(self.rollout_metrics(traj, rewards, prompts, int(rollout_cfg.max_new_tokens)))
        row.update(parts.agent.metrics(traj, parts.style.answer_format))  # rollout/unparseable; episode/* (multi-turn)
        row.update({"lr": session.lr(), "time/step_s": time.time() - t0, "time/logprob_s": t_logprob,
                    "time/update_s": t_update})
        if table_step:
            session.run.log.table("rollout/samples", ["prompt", "completion", "reward"],
                                  [[tok.decode(prompts[i // group])[-300:], traj.texts[i], float(rewards.total[i])]
                                   for i in range(min(16, traj.rows))], step + 1)
        return row, [e.id for e in examples]

    @staticmethod
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
               "tokens/prompt_mean": sum(len(p) for p in prompts) / len(prompts),
               "tokens/completion_mean": lengths.mean().item()}
        for name, values in rewards.components.items():
            scored = [float(v) for v in values if v is not None]
            row[f"reward/{name}"] = sum(scored) / max(len(scored), 1)
        return row


def watch_parsing(alarm: UnparseableAlarm | None, row: dict, step: int, is_main: bool) -> None:
    """Feed the alarm this step's ``rollout/unparseable`` averaged over ranks (the value the step's
    row logs; collective, on every rank alike) and warn on rank 0 when a streak completes."""
    if alarm is None:
        return
    total, ranks = all_reduce_sum([float(row["rollout/unparseable"]), 1.0])
    warning = alarm.update(step, total / ranks)
    if warning and is_main:
        logging.getLogger("funcall").warning(warning)


def _mean(values: torch.Tensor, mask: torch.Tensor) -> float:
    m = mask.float()
    return ((values * m).sum() / m.sum().clamp(min=1)).item()


def _warm_start_eval(model_path: str) -> dict:
    """The warm start's final held-out numbers: ``warm_start/eval_ast_accuracy`` (single-turn data)
    or ``warm_start/eval_episode_pass`` (multi-turn data)."""
    import json
    from pathlib import Path

    summary = Path(model_path).parent / "summary.json"
    final = json.loads(summary.read_text()) if summary.exists() else {}
    if "eval/episode_pass" in final:
        return {"warm_start/eval_episode_pass": final["eval/episode_pass"]}
    return {"warm_start/eval_ast_accuracy": final.get("eval/ast_accuracy")}
