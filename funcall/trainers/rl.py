"""GRPO-family RL on DeepSpeed: rollouts, rewards, advantages, clipped updates, KL to a reference.

One step, on every rank for its share of ``trainer.prompts_per_step`` prompts, is a straight line
of typed phases (`funcall.trainers.trajectory`):

1. ``collect``: ``rollout.num_generations`` sampled completions per prompt through the rollout
   engine (a `funcall.rollout.engine.RolloutEngine`), with the rollout policy's token log-probs
   and entropies read off generation (``trainer.recompute_logprobs=true`` recomputes them in a
   no-grad pass, for engines that cannot report them) -> `Trajectory`;
2. the frozen reference model's log-probs, one no-grad pass, when the loss has a KL term;
3. ``score``: the configured reward(s) (TRL signature), unparseable -> floor -> `Rewards`;
4. the ``advantage`` estimator on rewards grouped by prompt (all of a prompt's samples are on
   one rank, so groups need no communication), given the entropies and both span masks;
5. ``update`` (`funcall.trainers.rl_update`): ``trainer.ppo_epochs`` passes in
   ``trainer.mini_batches`` optimizer steps each, the loss of each mini-batch exact over its
   micro-batches and ranks.

How it differs from the obvious loop: the reference model is sharded with the policy's ZeRO
stage (ZeRO-3 when the policy is) and not built at all when the loss has no KL term; the
rollout is laid out so one slice gives every completion's logits (`funcall.trainers.rl_batch`);
every rank makes the same collective calls whatever its completions do (generation runs with
ZeRO-3's hooks off, see `funcall.rollout.hf`); the DeepSpeed batch keys are derived from the
rollout shape, so the config cannot disagree with the loop.
"""
from __future__ import annotations

import copy
import time
from dataclasses import dataclass

import torch
from omegaconf import DictConfig, OmegaConf

from funcall.data.tokenize import encode_prompt
from funcall.models.load import load_pretrained
from funcall.trainers.common import LoopSettings, RunContext, Setup, inference_ds_config, log_step, setup_engine
from funcall.trainers.rl_update import PolicyModule, no_grad_logps, update
from funcall.trainers.trajectory import Rewards, Trajectory, collect, score
from funcall.utils.errors import ConfigError
from funcall.utils.instantiate import instantiate


@dataclass
class RLTrainer(LoopSettings):
    eval_at_start: bool = True
    prompts_per_step: int = 8
    ppo_epochs: int = 1
    mini_batches: int = 1
    micro_batch_size: int | None = None
    grad_accum: int | None = None  # derived in `shape`; present so the DeepSpeed config can read it
    table_every: int = 50
    warm_start: dict | None = None
    logprob_batch_size: int = 32
    recompute_logprobs: bool = False

    # -- set-up -------------------------------------------------------------------------------
    def shape(self, cfg: DictConfig, world: int) -> tuple[int, int, int, int]:
        """(prompts per rank, rollouts per rank, micro-batch, micro-steps per optimizer step)."""
        group = int(cfg.rollout.num_generations)
        if self.prompts_per_step % world:
            raise ConfigError(f"trainer.prompts_per_step={self.prompts_per_step} must divide by the {world} ranks")
        prompts = self.prompts_per_step // world
        rollouts = prompts * group
        if rollouts % self.mini_batches:
            raise ConfigError(f"trainer.mini_batches={self.mini_batches} must divide the {rollouts} rollouts per rank")
        mini = rollouts // self.mini_batches
        micro = self.micro_batch_size or mini
        if mini % micro:
            raise ConfigError(f"trainer.micro_batch_size={micro} must divide the mini-batch of {mini} rollouts")
        return prompts, rollouts, micro, mini // micro

    def fit(self, cfg: DictConfig, run: RunContext) -> dict:
        dist = run.dist
        prompts_per_rank, _, micro, accum = self.shape(cfg, dist.world_size)
        cfg = copy.deepcopy(cfg)
        OmegaConf.update(cfg, "trainer.micro_batch_size", micro, force_add=True)
        OmegaConf.update(cfg, "trainer.grad_accum", accum, force_add=True)
        model_path = None
        if self.warm_start and cfg.model.path is None:
            from funcall.models.warm_start import ensure_warm_start

            model_path = str(ensure_warm_start(cfg, dist))
        reward_fn = instantiate(cfg.reward, _key="reward")
        advantage = instantiate(cfg.advantage, _key="advantage")
        loss_fn = instantiate(cfg.loss, _key="loss")
        temperature = float(cfg.rollout.temperature)
        updates_per_step = self.ppo_epochs * self.mini_batches
        setup = setup_engine(cfg, run, self, module=lambda model: PolicyModule(model, temperature),
                             total_steps=self.max_steps * updates_per_step, model_path=model_path)
        reference = self.reference(cfg, loss_fn, model_path)
        if model_path:
            setup.notes.update({"warm_start/path": model_path,
                                "warm_start/eval_ast_accuracy": _warm_start_accuracy(model_path)})
        t_start = time.time()
        step = setup.start_step
        if self.eval_at_start and step == 0:
            setup.evaluate(0)
        while step < self.max_steps:
            row = self.step(step, setup, cfg.rollout, reward_fn, advantage, loss_fn, reference, prompts_per_rank, micro)
            step += 1
            log_step(run, row, step, every=self.log_every, last=step == self.max_steps, world_size=dist.world_size)
            setup.after_step(step)
            if setup.out_of_time(t_start):
                break
        return setup.finish(step, time.time() - t_start)

    def reference(self, cfg: DictConfig, loss_fn, model_path: str | None):
        """The frozen reference policy, sharded like the policy; None when the loss has no KL."""
        if not loss_fn.uses_reference:
            return None
        import deepspeed

        ds = inference_ds_config(OmegaConf.to_container(cfg.deepspeed, resolve=True))
        source = instantiate(cfg.model, _key="model")
        if model_path:
            source.path = model_path
        model, _, _ = load_pretrained(source, ds)
        engine, *_ = deepspeed.initialize(model=PolicyModule(model, float(cfg.rollout.temperature)), config=ds)
        engine.eval()
        return engine

    # -- one step -----------------------------------------------------------------------------
    def step(self, step: int, setup: Setup, rollout_cfg, reward_fn, advantage, loss_fn, reference,
             prompts_per_rank: int, micro: int) -> dict:
        dist, tok, engine = setup.run.dist, setup.tokenizer, setup.engine
        group = int(rollout_cfg.num_generations)
        pad = tok.pad_token_id
        t0 = time.time()
        idx = setup.sampler.micro_batch(step, 0, dist.rank, dist.world_size, prompts_per_rank, 1)
        examples = [setup.train[i] for i in idx]
        if setup.first_step_ids is None:
            setup.first_step_ids = [e.id for e in examples]
        prompts = [encode_prompt(tok, e, setup.style)[-self.max_length:] for e in examples]
        traj = collect(setup.rollout, tok, prompts, group=group, max_new_tokens=int(rollout_cfg.max_new_tokens),
                       temperature=float(rollout_cfg.temperature), top_p=float(rollout_cfg.top_p),
                       with_stats=not self.recompute_logprobs)
        t_rollout = time.time() - t0

        t1 = time.time()
        prompt_texts = [tok.decode(p) for p in prompts]
        rewards = score(traj, reward_fn, examples, prompt_texts)
        t_reward = time.time() - t1

        t2 = time.time()
        if traj.old_logps is None:
            traj.old_logps, traj.entropies = no_grad_logps(engine, traj, self.logprob_batch_size, pad, True)
        if reference is not None:
            traj.ref_logps = no_grad_logps(reference, traj, self.logprob_batch_size, pad, False)[0]
        t_logprob = time.time() - t2

        adv, adv_metrics = advantage(rewards.total.view(-1, group), token_entropy=traj.entropies,
                                     span_mask=traj.think_mask, completion_mask=traj.completion_mask)
        t3 = time.time()
        row = update(engine, traj, adv, loss_fn, dist, micro_batch_size=micro, mini_batches=self.mini_batches,
                     ppo_epochs=self.ppo_epochs, step=step, pad_id=pad,
                     on_diverged=f"Last good checkpoint: {setup.last_checkpoint() or 'none'}")
        t_update = time.time() - t3
        row.update(adv_metrics)
        row.update(self.rollout_metrics(traj, rewards, prompts, int(rollout_cfg.max_new_tokens)))
        row.update({"lr": setup.lr(), "time/step_s": time.time() - t0, "time/rollout_s": t_rollout,
                    "time/reward_s": t_reward, "time/logprob_s": t_logprob, "time/update_s": t_update})
        if self.table_every and (step + 1) % self.table_every == 0:
            setup.run.log.table("rollout/samples", ["prompt", "completion", "reward"],
                                [[prompt_texts[i // group][-300:], traj.texts[i], float(rewards.total[i])]
                                 for i in range(min(16, traj.rows))], step + 1)
        return row

    @staticmethod
    def rollout_metrics(traj: Trajectory, rewards: Rewards, prompts: list[list[int]], budget: int) -> dict:
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


def _mean(values: torch.Tensor, mask: torch.Tensor) -> float:
    m = mask.float()
    return ((values * m).sum() / m.sum().clamp(min=1)).item()


def _warm_start_accuracy(model_path: str) -> float | None:
    import json
    from pathlib import Path

    summary = Path(model_path).parent / "summary.json"
    return json.loads(summary.read_text()).get("eval/ast_accuracy") if summary.exists() else None
