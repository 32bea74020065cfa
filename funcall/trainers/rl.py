"""GRPO-family RL on DeepSpeed: rollouts, rewards, advantages, clipped updates, KL to a reference.

One step, on every rank for its share of ``trainer.prompts_per_step`` prompts:

1. rollout: ``rollout.num_generations`` sampled completions per prompt (`funcall.rollout`);
2. reward: decode, score with the configured reward(s) (TRL signature), unparseable -> floor;
3. log-probs: the rollout policy's token log-probs and entropies (the "old" policy of the ratio,
   and the entropy the entropy-guided advantage needs) are read off the logits generation
   computed anyway (``trainer.recompute_logprobs=true`` recomputes them in a no-grad pass, for
   engines that cannot report them); one pass through the frozen reference model when
   ``loss.kl_coef > 0``;
4. advantages: the ``advantage`` estimator on rewards grouped by prompt (all of a prompt's
   samples are on one rank, so groups need no communication);
5. update: ``trainer.ppo_epochs`` passes over the rollout in ``trainer.mini_batches`` optimizer
   steps each, the clipped policy loss (`funcall.losses.policy`), ``engine.backward``/``step``.

How it differs from the obvious loop: the reference model is sharded with the policy's ZeRO
stage (ZeRO-3 when the policy is) and not built at all when ``kl_coef`` is 0; the rollout is
laid out so one slice gives every completion's logits (`funcall.trainers.rl_batch`); the
DeepSpeed batch keys are derived from the rollout shape, so the config cannot disagree with
the loop.
"""
from __future__ import annotations

import copy
import time
from dataclasses import dataclass

import torch
from omegaconf import DictConfig, OmegaConf

from funcall.data.tokenize import encode_prompt
from funcall.models.load import load_pretrained
from funcall.trainers.common import LoopSettings, RunContext, Setup, log_step, setup_engine
from funcall.trainers.distributed import all_reduce_sum
from funcall.trainers.rl_batch import RolloutBatch, micro_batches, scatter_rows, span_masks, token_logps_and_entropy
from funcall.utils.errors import ConfigError, TrainingDiverged
from funcall.utils.instantiate import instantiate


class PolicyModule(torch.nn.Module):
    """The policy as DeepSpeed sees it: forward gives completion log-probs and entropies."""

    def __init__(self, model: torch.nn.Module, temperature: float):
        super().__init__()
        self.model = model
        self.temperature = temperature

    def forward(self, batch: RolloutBatch, with_entropy: bool = True):
        return token_logps_and_entropy(self.model, batch, self.temperature, with_entropy)


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
        prompts_per_rank, rollouts, micro, accum = self.shape(cfg, dist.world_size)
        cfg = copy.deepcopy(cfg)
        OmegaConf.update(cfg, "trainer.micro_batch_size", micro, force_add=True)
        OmegaConf.update(cfg, "trainer.grad_accum", accum, force_add=True)
        model_path = None
        if self.warm_start and cfg.model.path is None:
            from funcall.models.warm_start import ensure_warm_start

            model_path = str(ensure_warm_start(cfg, dist))
        reward_fn = instantiate(cfg.reward, _key="reward")
        advantage = instantiate(cfg.advantage, _key="advantage")
        rollout_cfg = self.rollout_cfg = cfg.rollout
        temperature = float(rollout_cfg.temperature)
        updates_per_step = self.ppo_epochs * self.mini_batches
        setup = setup_engine(cfg, run, self, wrap=lambda model, loss: PolicyModule(model, temperature),
                             total_steps=self.max_steps * updates_per_step, model_path=model_path)
        loss_fn = instantiate(cfg.loss, _key="loss")
        reference = self.reference(cfg, setup, loss_fn, model_path)
        rollout = instantiate(rollout_cfg.engine, module=setup.model, tokenizer=setup.tokenizer,
                              zero3=setup.zero_stage == 3, _key="rollout.engine")
        if model_path:
            setup.notes.update({"warm_start/path": model_path,
                                "warm_start/eval_ast_accuracy": _warm_start_accuracy(model_path)})
        t_start = time.time()
        step = setup.start_step
        if self.eval_at_start and step == 0:
            setup.evaluate(0)
        while step < self.max_steps:
            row = self.step(step, setup, rollout, reward_fn, advantage, loss_fn, reference, prompts_per_rank, micro)
            step += 1
            log_step(run, row, step, every=self.log_every, last=step == self.max_steps, world_size=dist.world_size)
            setup.after_step(step)
            if setup.out_of_time(t_start):
                break
        return setup.finish(step, time.time() - t_start)

    def reference(self, cfg: DictConfig, setup: Setup, loss_fn, model_path: str | None):
        """The frozen reference policy, sharded like the policy; None when no KL is used."""
        if not getattr(loss_fn, "kl_coef", 0):
            return None
        import deepspeed

        ds = OmegaConf.to_container(cfg.deepspeed, resolve=True)
        zero = ds.get("zero_optimization", {})
        # ZeRO-3 shards the reference like the policy; below stage 3 there is nothing to shard
        # in a model without gradients or optimizer state, so it runs as stage 0.
        ds["zero_optimization"] = ({k: v for k, v in zero.items() if k != "offload_optimizer"}
                                   if zero.get("stage") == 3 else {"stage": 0})
        source = instantiate(cfg.model, _key="model")
        if model_path:
            source.path = model_path
        model, _, _ = load_pretrained(source, ds)
        engine, *_ = deepspeed.initialize(model=PolicyModule(model, float(cfg.rollout.temperature)), config=ds)
        engine.eval()
        return engine

    # -- one step -----------------------------------------------------------------------------
    def step(self, step: int, setup: Setup, rollout, reward_fn, advantage, loss_fn, reference,
             prompts_per_rank: int, micro: int) -> dict:
        dist, tok, engine = setup.run.dist, setup.tokenizer, setup.engine
        cfg_g = self.rollout_cfg
        group = int(cfg_g.num_generations)
        t0 = time.time()
        idx = setup.sampler.micro_batch(step, 0, dist.rank, dist.world_size, prompts_per_rank, 1)
        examples = [setup.train[i] for i in idx]
        if setup.first_step_ids is None:
            setup.first_step_ids = [e.id for e in examples]
        prompts = [encode_prompt(tok, e, setup.style)[-self.max_length:] for e in examples]
        rollout.sync_weights()
        generated = rollout.generate(prompts, num_samples=group, max_new_tokens=int(cfg_g.max_new_tokens),
                                     temperature=float(cfg_g.temperature), top_p=float(cfg_g.top_p),
                                     with_stats=not self.recompute_logprobs)
        stats = None if isinstance(generated, list) or generated is None else generated
        completions = stats.ids if stats is not None else generated
        t_rollout = time.time() - t0

        t1 = time.time()
        texts = tok.batch_decode(completions, skip_special_tokens=True)
        per = lambda values: [v for v in values for _ in range(group)]  # noqa: E731
        prompt_texts = per([tok.decode(p) for p in prompts])
        columns = dict(tools=per([e.tools for e in examples]), possible_answer=per([e.ground_truth() for e in examples]),
                       category=per([e.category for e in examples]))
        raw = reward_fn(prompt_texts, texts, **columns)
        rewards = torch.tensor([0.0 if r is None else float(r) for r in raw])
        t_reward = time.time() - t1

        t2 = time.time()
        prompts_n = per(prompts)
        n, width = len(completions), max(1, max(len(c) for c in completions))
        cmask = torch.zeros((n, width))
        for i, c in enumerate(completions):
            cmask[i, : len(c)] = 1
        think = span_masks(tok, completions, texts, width)
        everyone = micro_batches(prompts_n, completions, torch.arange(n), self.logprob_batch_size, tok.pad_token_id, group)
        if stats is not None:  # the rollout policy's log-probs and entropies, read during generation
            old_logps, entropy = _padded(stats.logps, width), _padded(stats.entropies, width)
        else:
            old_logps, entropy = self.no_grad_pass(engine, everyone, n, width, with_entropy=True)
        ref_logps = None if reference is None else self.no_grad_pass(reference, everyone, n, width, False)[0]
        t_logprob = time.time() - t2

        adv, adv_metrics = advantage(rewards.view(-1, group), token_entropy=entropy, span_mask=think,
                                     completion_mask=cmask)
        t3 = time.time()
        sums: dict[str, float] = {}
        n_updates = 0
        grad_norms = []
        gen = torch.Generator().manual_seed(step)
        want_entropy = bool(getattr(loss_fn, "entropy_coef", 0))
        for _ in range(self.ppo_epochs):
            order = torch.randperm(n, generator=gen) if self.mini_batches > 1 else torch.arange(n)
            for chunk in order.chunk(self.mini_batches):
                micros = micro_batches(prompts_n, completions, chunk, micro, tok.pad_token_id, group)
                for k, (rows, sub) in enumerate(micros):
                    c = sub.completion_width
                    logps, ent = engine(sub, with_entropy=want_entropy)
                    loss, metrics = loss_fn(logps, old_logps[rows, :c], _rows(adv, rows, c), sub.completion_mask,
                                            None if ref_logps is None else ref_logps[rows, :c], ent)
                    # DeepSpeed averages the micro-steps of an optimizer step; weigh each by its share of
                    # the mini-batch's rows so uneven length buckets count as they should.
                    loss = loss * (len(rows) * len(micros) / len(chunk))
                    if all_reduce_sum([0.0 if torch.isfinite(loss) else 1.0])[0] > 0:
                        raise TrainingDiverged(
                            f"policy loss is {loss.item()} at step {step + 1}: stopping. Last good checkpoint: "
                            f"{setup.last_checkpoint() or 'none'}")
                    engine.backward(loss)
                    if k == len(micros) - 1:
                        grad_norms.append(setup.grad_norm())
                    engine.step()
                    for key, value in metrics.items():
                        sums[key] = sums.get(key, 0.0) + value * len(rows) / len(chunk)
                n_updates += 1
        t_update = time.time() - t3

        answer = cmask * (1 - think.float())
        lengths = cmask.sum(1)
        row = {k: v / max(n_updates, 1) for k, v in sums.items()}
        row.update(adv_metrics)
        row.update({
            "reward/mean": rewards.mean().item(), "reward/std": rewards.std().item() if len(rewards) > 1 else 0.0,
            "reward/none_frac": sum(r is None for r in raw) / len(raw),
            "entropy/think": _mean(entropy, think), "entropy/answer": _mean(entropy, answer),
            "completion/length_mean": lengths.mean().item(),
            "completion/clipped_frac": sum(len(c) >= int(cfg_g.max_new_tokens) for c in completions) / len(completions),
            "tokens/prompt_mean": sum(len(p) for p in prompts) / len(prompts),
            "tokens/completion_mean": lengths.mean().item(),
            "grad_norm": _mean_of([g for g in grad_norms if g is not None]), "lr": setup.lr(),
            "time/step_s": time.time() - t0, "time/rollout_s": t_rollout, "time/reward_s": t_reward,
            "time/logprob_s": t_logprob, "time/update_s": t_update,
        })
        for name, values in (getattr(reward_fn, "last_components", None) or {}).items():
            scored = [float(v) for v in values if v is not None]
            row[f"reward/{name}"] = sum(scored) / max(len(scored), 1)
        if self.table_every and (step + 1) % self.table_every == 0:
            setup.run.log.table("rollout/samples", ["prompt", "completion", "reward"],
                                [[prompt_texts[i][-300:], texts[i], float(rewards[i])] for i in range(min(16, len(texts)))],
                                step + 1)
        return row

    @staticmethod
    def no_grad_pass(engine, micros, n: int, width: int, with_entropy: bool):
        """Token log-probs (and entropies) of every rollout row, ``[N, C]``, without gradients."""
        logps = torch.zeros((n, width))
        ents = torch.zeros((n, width)) if with_entropy else None
        with torch.no_grad():
            for rows, sub in micros:
                lp, ent = engine(sub, with_entropy=with_entropy)
                scatter_rows(logps, rows, lp)
                if with_entropy:
                    scatter_rows(ents, rows, ent)
        return logps, ents


def _padded(rows: list[list[float]], width: int) -> torch.Tensor:
    out = torch.zeros((len(rows), width))
    for i, values in enumerate(rows):
        out[i, : len(values)] = torch.tensor(values)
    return out


def _rows(adv: torch.Tensor, rows: torch.Tensor, width: int) -> torch.Tensor:
    """The advantages of ``rows``: per completion ``[n]`` or per token ``[n, width]``."""
    return adv[rows] if adv.dim() == 1 else adv[rows, :width]


def _mean(values: torch.Tensor, mask: torch.Tensor) -> float:
    m = mask.float()
    return ((values * m).sum() / m.sum().clamp(min=1)).item()


def _mean_of(values: list[float]) -> float | None:
    return sum(values) / len(values) if values else None


def _warm_start_accuracy(model_path: str) -> float | None:
    import json
    from pathlib import Path

    summary = Path(model_path).parent / "summary.json"
    return json.loads(summary.read_text()).get("eval/ast_accuracy") if summary.exists() else None
