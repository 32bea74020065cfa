"""One RL optimizer step on a fixed trajectory, for the aggregation-invariance test.

Run as ``python tests/update_invariance.py OUT.pt [deepspeed=zero3 ...]`` in one process or under
``torchrun --nproc_per_node 2``. The policy, its DeepSpeed engine, optimizer and batch shape are
built from the real config (Hydra compose of conf/train.yaml, ``+experiment=grpo``) and the real
`funcall.trainers.rl_update.update` runs; only the trajectory is fixed instead of sampled, so
every run sees the same data: 8 prompts x 8 completions of 3 to 47 tokens (the length spread a
trained policy produces), old and reference log-probs near the policy's, fixed advantages. The
ranks split the prompts. Optimizer: SGD at lr 1 without clipping, so the weight change is the
gradient itself. For each case (aggregation mode, micro-batch size, mini-batches) rank 0 saves
the change of every weight to OUT.pt; `tests/e2e/test_update_invariance.py` compares them.
"""
from __future__ import annotations

import sys
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
PROMPTS, GROUP = 8, 8
MODES = ("token_mean", "seq_mean_token_mean", "seq_mean_token_sum_norm")


def compose(overrides: list[str]):
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir

    from funcall.utils.hydra_setup import register_resolvers

    register_resolvers()
    with initialize_config_dir(config_dir=str(REPO / "conf"), version_base="1.3"):
        return hydra_compose(config_name="train", overrides=[
            "+experiment=grpo", "trainer.warm_start=null", f"trainer.prompts_per_step={PROMPTS}",
            f"rollout.num_generations={GROUP}", "loss.kl_coef=0.1", "loss.entropy_coef=0.01",
            "optim.optimizer._target_=torch.optim.SGD", "optim.optimizer.lr=1.0", "~optim.optimizer.betas",
            "~optim.optimizer.eps", "optim.max_grad_norm=0.0", "optim.scheduler.decay=constant", *overrides])


def fixed_trajectory(tokenizer, model, cfg):
    """The whole job's trajectory (all ranks' rows), identical in every process."""
    from funcall.data.synthetic import SyntheticTask
    from funcall.rollout.trajectory import Trajectory, padded
    from funcall.trainers.policy_forward import PolicyModule, no_grad_logps
    from funcall.utils.instantiate import instantiate

    style = instantiate(cfg.data.prompt)
    examples = SyntheticTask(seed=0).train()[:PROMPTS]
    prompts, completions = [], []
    for p, ex in enumerate(examples):
        prompt = style.prompt_ids(tokenizer, ex)
        target = style.encode_sft(tokenizer, ex, 10_000).input_ids[len(prompt):]
        for s in range(GROUP):
            i = p * GROUP + s
            prompts.append(prompt)
            completions.append(target[: 3 + (i * 37) % 45])
    width = max(len(c) for c in completions)
    mask = padded([[1.0] * len(c) for c in completions], width)
    traj = Trajectory(prompt_ids=prompts, completion_ids=completions, texts=[""] * len(completions),
                      completion_mask=mask, think_mask=torch.zeros_like(mask), old_logps=None, entropies=None,
                      group=GROUP)
    logps, _ = no_grad_logps(PolicyModule(model, float(cfg.rollout.temperature)), traj, 64,
                             tokenizer.pad_token_id, False)
    g = torch.Generator().manual_seed(0)
    traj.old_logps = (logps + 0.15 * torch.randn(logps.shape, generator=g)) * mask  # some ratios clip
    traj.ref_logps = (logps + 0.3 * torch.randn(logps.shape, generator=g)) * mask
    advantages = torch.randn(len(completions), generator=g)
    return traj, advantages


def rows_of(traj, rows: list[int]):
    """The sub-trajectory of ``rows``; it keeps the group layout only when ``rows`` are whole groups in order."""
    from dataclasses import replace

    g = traj.group
    whole = len(rows) % g == 0 and all(rows[k] == rows[k - k % g] + k % g and rows[k - k % g] % g == 0
                                       for k in range(len(rows)))
    return replace(traj, group=g if whole else 1, prompt_ids=[traj.prompt_ids[i] for i in rows],
                   completion_ids=[traj.completion_ids[i] for i in rows], texts=[traj.texts[i] for i in rows],
                   completion_mask=traj.completion_mask[rows], think_mask=traj.think_mask[rows],
                   old_logps=traj.old_logps[rows], ref_logps=traj.ref_logps[rows])


def weights(engine) -> dict[str, torch.Tensor]:
    import deepspeed

    params = dict(engine.module.named_parameters())
    with deepspeed.zero.GatheredParameters(list(params.values()), modifier_rank=None):
        return {k: p.detach().clone().float() for k, p in params.items()}


def one_case(cfg, dist, traj, advantages, sequence: list[list[int]]) -> dict[str, torch.Tensor]:
    """Build the engine for ``cfg``, run `update` on each row list of ``sequence`` in turn (the
    rank's share of it), return the change of every weight."""
    import deepspeed

    from funcall.trainers.build import load_model, optimizer_groups
    from funcall.trainers.ds_config import deepspeed_config
    from funcall.trainers.policy_forward import PolicyModule
    from funcall.trainers.rl_update import update
    from funcall.utils.instantiate import instantiate

    trainer = instantiate(cfg.trainer)
    _, micro, accum = trainer.shape(int(cfg.rollout.num_generations), dist.world_size)
    ds = deepspeed_config(cfg.deepspeed, micro_batch_size=micro, grad_accum=accum,
                          max_grad_norm=float(cfg.optim.max_grad_norm), precision=trainer.precision)
    model, tok = load_model(cfg, ds)
    module = PolicyModule(model, float(cfg.rollout.temperature))
    optimizer = instantiate(cfg.optim.optimizer)(optimizer_groups(module, []))
    engine, *_ = deepspeed.initialize(model=module, optimizer=optimizer, config=ds)
    before = weights(engine)
    loss_fn = instantiate(cfg.loss)
    for rows in sequence:
        per_rank = len(rows) // dist.world_size
        mine = rows[dist.rank * per_rank:(dist.rank + 1) * per_rank]
        update(engine, rows_of(traj, mine), advantages[mine], loss_fn, dist, micro_batch_size=micro,
               mini_batches=trainer.mini_batches, ppo_epochs=1, step=0, pad_id=tok.pad_token_id)
    after = weights(engine)
    return {k: after[k] - before[k] for k in before}


def main(out: str, overrides: list[str]) -> None:
    from funcall.dist import init_distributed, shutdown
    from funcall.models.load import load_pretrained
    from funcall.trainers.rl_update import mini_batch_rows
    from funcall.utils.instantiate import instantiate

    dist = init_distributed()
    base = compose(overrides)
    model, tok, _ = load_pretrained(instantiate(base.model))
    traj, advantages = fixed_trajectory(tok, model, base)
    everything = list(range(traj.rows))
    results = {}
    micros = [4, 16, 64] if dist.world_size == 1 else [4, 16, 32]
    for mode in MODES:
        for micro in micros:
            cfg = compose([*overrides, f"loss.aggregation={mode}", f"trainer.micro_batch_size={micro}"])
            results[f"{mode}/micro{micro}"] = one_case(cfg, dist, traj, advantages, [everything])
        if dist.world_size == 1:  # two mini-batches = two optimizer steps, each exact over its own rows
            cfg = compose([*overrides, f"loss.aggregation={mode}", "trainer.micro_batch_size=16",
                           "trainer.mini_batches=2"])
            results[f"{mode}/mini2"] = one_case(cfg, dist, traj, advantages, [everything])
            halves = [chunk.tolist() for chunk in mini_batch_rows(traj.rows, 2, step=0, epoch=0)]
            cfg = compose([*overrides, f"loss.aggregation={mode}", "trainer.micro_batch_size=32",
                           "trainer.prompts_per_step=4"])  # each half as a mini-batch of its own, in one micro-batch
            results[f"{mode}/halves"] = one_case(cfg, dist, traj, advantages, halves)
    if dist.rank == 0:
        torch.save(results, out)
    shutdown()


if __name__ == "__main__":
    sys.path.insert(0, str(REPO))
    main(sys.argv[1], sys.argv[2:])
