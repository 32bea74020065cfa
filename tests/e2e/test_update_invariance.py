"""One optimizer step moves the weights the same way however the batch is cut: RL for every
aggregation mode over micro-batch sizes, mini-batches and 1 vs 2 ranks; SFT over grad_accum and
ranks. SGD at lr 1 without clipping, so the weight change is the gradient (Adam's first step is
close to sign(g) and would hide a wrong normalisation)."""
from __future__ import annotations

import os
import subprocess
import sys

import pytest
import torch
from update_invariance import MODES

from conftest import REPO, run_train

WORKER = str(REPO / "tests" / "update_invariance.py")
SGD = ["optim.optimizer._target_=torch.optim.SGD", "optim.optimizer.lr=1.0", "~optim.optimizer.betas",
       "~optim.optimizer.eps", "optim.max_grad_norm=0.0", "optim.scheduler.decay=constant"]


def flat(delta: dict[str, torch.Tensor]) -> torch.Tensor:
    return torch.cat([delta[k].flatten() for k in sorted(delta)])


def assert_same_step(a: torch.Tensor, b: torch.Tensor, what: str) -> None:
    assert b.norm() > 0, what
    assert float((a - b).norm() / b.norm()) < 1e-5, f"{what}: relative difference {float((a - b).norm() / b.norm()):.2e}"


@pytest.fixture(scope="module")
def rl_steps(tmp_path_factory):
    """The worker's weight changes on one rank (ZeRO-0) and on two ranks (ZeRO-3, torchrun)."""
    out = tmp_path_factory.mktemp("invariance")
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    for cmd, name in (([sys.executable, WORKER], "one.pt"),
                      ([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", WORKER],
                       "two.pt")):
        args = [str(out / name)] + (["deepspeed=zero3"] if name == "two.pt" else [])
        proc = subprocess.run([*cmd, *args], cwd=REPO, capture_output=True, text=True, timeout=600, env=env)
        assert proc.returncode == 0, proc.stderr[-4000:]
    return torch.load(out / "one.pt"), torch.load(out / "two.pt")


@pytest.mark.distributed
@pytest.mark.parametrize("mode", MODES)
def test_rl_step_is_the_same_for_any_micro_batch_size_and_rank_count(rl_steps, mode):
    one, two = rl_steps
    whole = flat(one[f"{mode}/micro64"])  # the 64 rollouts in one micro-batch on one rank
    for micro in (4, 16):
        assert_same_step(flat(one[f"{mode}/micro{micro}"]), whole, f"{mode}: micro-batches of {micro}, 1 rank")
    for micro in (4, 16, 32):
        assert_same_step(flat(two[f"{mode}/micro{micro}"]), whole, f"{mode}: micro-batches of {micro}, 2 ranks ZeRO-3")


@pytest.mark.distributed
@pytest.mark.parametrize("mode", MODES)
def test_each_mini_batch_step_is_exact_over_its_own_rows(rl_steps, mode):
    one, _ = rl_steps
    # mini_batches=2 (micro-batches of 16) = the same two halves as two mini-batches of their own
    # in one micro-batch each: each optimizer step averages over its own mini-batch, exactly
    assert_same_step(flat(one[f"{mode}/mini2"]), flat(one[f"{mode}/halves"]), f"{mode}: mini_batches=2")


def sft_step(run_dir, args: list[str], ranks: int = 1) -> torch.Tensor:
    """One SFT optimizer step on the first 16 training examples; the change of every weight."""
    from transformers import AutoModelForCausalLM

    from funcall.models.tiny import ensure_tiny_model

    # fp32: the comparison is to 1e-5, below bf16 autocast's rounding (precision=auto picks it on AMX CPUs)
    common = ["+experiment=sft", "trainer.max_steps=1", "trainer.eval_size=0", "trainer.eval_every=0", *SGD,
              "trainer.precision=fp32", "logger=none", *args]
    if ranks == 1:
        run_train(common, run_dir)
    else:
        cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", str(ranks),
               "-m", "funcall.train", *common, f"hydra.run.dir={run_dir}"]
        proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=600,
                              env={**os.environ, "OMP_NUM_THREADS": "1"})
        assert proc.returncode == 0, proc.stderr[-4000:]
    before = AutoModelForCausalLM.from_pretrained(ensure_tiny_model()).state_dict()
    after = AutoModelForCausalLM.from_pretrained(run_dir / "hf_model").state_dict()
    return flat({k: after[k].float() - before[k].float() for k in before})


@pytest.mark.distributed
@pytest.mark.slow  # make test-full (the RL invariance above stays in make test)
@pytest.mark.parametrize("loss", ["ce", "srml"])
def test_sft_step_is_the_same_for_grad_accum_1_and_4_and_two_ranks(tmp_path, loss):
    # the same 16 examples in one micro-batch, in 4 micro-batches of 4, and split over 2 ranks
    # (ZeRO-3) in 2 micro-batches of 4 each: the step's token mean must not care
    args = [f"loss={loss}"]
    whole = sft_step(tmp_path / "a", [*args, "trainer.micro_batch_size=16", "trainer.grad_accum=1"])
    accum = sft_step(tmp_path / "b", [*args, "trainer.micro_batch_size=4", "trainer.grad_accum=4"])
    ranks = sft_step(tmp_path / "c", [*args, "trainer.micro_batch_size=4", "trainer.grad_accum=2", "deepspeed=zero3"],
                     ranks=2)
    assert_same_step(accum, whole, f"{loss}: grad_accum 4 vs 1")
    assert_same_step(ranks, whole, f"{loss}: 2 ranks ZeRO-3 vs 1 rank")
