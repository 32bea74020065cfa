"""LoRA through peft (``model.lora``): only adapters train, the RL reference is the base with
adapters disabled (KL exactly 0 before the first update, no second model), the merged export
loads with plain transformers and gives the adapted model's logits, the adapter is exported
alone, resume is exact, the weights an inference engine receives are the merged ones under the
base model's names, and a 2-rank ZeRO-3 run works. Real torch, peft, DeepSpeed and Hydra, small."""
from __future__ import annotations

import copy
import json
import os
import subprocess
import sys

import pytest
import torch

from conftest import REPO, read_metrics, run_train

TINY_RL = ["trainer.max_steps=3", "trainer.prompts_per_step=4", "rollout.num_generations=4",
           "rollout.max_new_tokens=24", "trainer.micro_batch_size=8", "trainer.eval_size=4",
           "trainer.eval_max_new_tokens=16", "logger=none"]
# an entropy term: a gradient on the adapters at step 1 whatever the rewards (truncated completions all score alike)
LEARNS = ["loss.entropy_coef=0.01", "optim.optimizer.lr=1e-3", "loss.kl_coef=0.1"]
TINY_SFT = ["+experiment=sft", "model.lora.r=8", "trainer.eval_size=4", "trainer.eval_max_new_tokens=8",
            "trainer.micro_batch_size=4", "optim.optimizer.lr=3e-3", "logger=none"]


def lora_model(path, **lora):
    from funcall.models.load import ModelSource, load_pretrained

    return load_pretrained(ModelSource(path=str(path), lora={"r": 8, **lora}))[0]


def perturb_adapters(model, seed=0):
    """Non-zero B matrices (a fresh adapter is the identity: B = 0), so merged != base."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "lora_B" in name:
                p.copy_(torch.randn(p.shape, generator=gen) * 0.05)


def test_only_adapters_are_trainable_and_only_they_reach_the_optimizer(tiny_model_dir):
    from funcall.trainers.build import optimizer_groups

    model = lora_model(tiny_model_dir)
    trainable = [n for n, p in model.named_parameters() if p.requires_grad]
    assert trainable and all(".lora_A." in n or ".lora_B." in n for n in trainable)
    # every targeted projection of every block is adapted (4 blocks x 7 projections x A and B)
    assert len(trainable) == 4 * 7 * 2
    groups = optimizer_groups(model, [])
    assert sum(p.numel() for g in groups for p in g["params"]) == sum(
        p.numel() for p in model.parameters() if p.requires_grad)
    assert sum(p.numel() for p in model.parameters() if p.requires_grad) < 0.1 * sum(
        p.numel() for p in model.parameters())


@pytest.mark.parametrize("lora,message", [({"r": 0}, "model.lora.r"), ({"dropout": 1.5}, "model.lora.dropout"),
                                          ({"target_modules": ["nope_proj"]}, "model.lora.target_modules"),
                                          ({"rank": 4}, "model.lora: unknown keys")])
def test_bad_lora_settings_name_the_option(tiny_model_dir, lora, message):
    from funcall.utils.errors import ConfigError

    with pytest.raises(ConfigError, match=message):
        lora_model(tiny_model_dir, **lora)


def test_the_lora_override_composes_on_the_tiny_default_and_is_off_by_default():
    from hydra import compose, initialize_config_dir

    from funcall.utils.hydra_setup import register_resolvers

    register_resolvers()
    with initialize_config_dir(config_dir=str(REPO / "conf"), version_base="1.3"):
        on = compose(config_name="train", overrides=["+experiment=entropy_grpo", "model.lora.r=8"])
        off = compose(config_name="train", overrides=["model=qwen3_4b"])
    assert on.model.lora.r == 8 and on.model.lora.alpha == 16
    assert off.model.lora.r is None  # every model: full fine-tuning unless asked
    from funcall.trainers.warm_start import sft_config

    assert sft_config(on).model.lora.r is None  # the warm start fine-tunes every weight


def test_sync_weights_are_merged_under_the_base_model_names(tiny_model_dir):
    from transformers import AutoModelForCausalLM

    from funcall.rollout.weights import gathered_weights, weight_shapes

    model = lora_model(tiny_model_dir)
    perturb_adapters(model)
    sent = {name: t.clone() for name, t in gathered_weights(model, zero3=False, chunk_mb=0.1)}
    plain = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    expected_names = [n for n, _ in plain.named_parameters(remove_duplicate=False)]
    assert list(sent) == expected_names  # no base_model.model., .base_layer or lora_ names
    assert [n for n, _, _ in weight_shapes(model)] == expected_names
    merged = copy.deepcopy(model).merge_and_unload().state_dict()
    changed = 0
    for name, tensor in sent.items():
        torch.testing.assert_close(tensor, merged[name], rtol=0, atol=1e-6)
        changed += not torch.equal(tensor, plain.state_dict()[name])
    assert changed == 4 * 7  # exactly the adapted projections differ from the base
    # reading the merged weights leaves the training model as it was (no merge/unmerge round trip)
    assert all(not getattr(m, "merged", False) for m in model.modules())


@pytest.mark.slow  # make test-full: keeps `make test` under 20 min on 2 cores
def test_lora_sft_exports_merged_model_and_adapter_and_resumes_exactly(tmp_path, tiny_model_dir):
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    constant = ["optim.scheduler.warmup_ratio=0.0", "optim.scheduler.decay=constant", "trainer.export_adapter=true",
                "trainer.save_every=2"]
    whole, split = tmp_path / "whole", tmp_path / "split"
    run_train([*TINY_SFT, *constant, "trainer.max_steps=4"], whole)
    run_train([*TINY_SFT, *constant, "trainer.max_steps=2"], split)
    run_train([*TINY_SFT, *constant, "trainer.max_steps=4", "trainer.resume=true"], split)

    # the checkpoint holds the adapters; resume continues exactly
    states = torch.load(next((split / "checkpoints" / "step_00000002").glob("*model_states.pt")), weights_only=False)
    assert any(".lora_A." in k for k in states["module"])
    losses = {d: {r["step"]: r["loss"] for r in read_metrics(d) if "loss" in r} for d in (whole, split)}
    assert losses[split][3] == losses[whole][3] and losses[split][4] == losses[whole][4]
    from safetensors.torch import load_file

    adapters = [load_file(d / "adapter" / "adapter_model.safetensors") for d in (whole, split)]
    assert adapters[0].keys() == adapters[1].keys() and all(torch.equal(adapters[0][k], adapters[1][k])
                                                            for k in adapters[0])
    assert any(".lora_B." in k and adapters[0][k].abs().sum() > 0 for k in adapters[0])  # trained

    # the merged export is a plain transformers model with the adapted model's logits
    merged = AutoModelForCausalLM.from_pretrained(whole / "hf_model")
    assert not any("lora" in n or "base_layer" in n for n, _ in merged.named_parameters())
    adapted = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(tiny_model_dir), whole / "adapter")
    base = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    ids = torch.tensor([[1, 5, 9, 42, 7, 300, 12, 8]])
    with torch.no_grad():
        got, want, raw = merged(ids).logits, adapted(ids).logits, base(ids).logits
    torch.testing.assert_close(got, want, rtol=0, atol=1e-4)
    assert (got - raw).abs().max() > 1e-3  # and that is not the base model's


@pytest.mark.slow  # make test-full: keeps `make test` under 20 min on 2 cores
def test_lora_sft_under_zero2_changes_only_the_adapted_weights(tmp_path, tiny_model_dir):
    from safetensors.torch import load_file

    run_train([*TINY_SFT, "deepspeed=zero2", "trainer.max_steps=2"], tmp_path)
    merged = load_file(tmp_path / "hf_model" / "model.safetensors")
    base = load_file(tiny_model_dir / "model.safetensors")
    changed = {k for k in base if k in merged and not torch.equal(merged[k], base[k])}
    assert changed and all(k.endswith("_proj.weight") for k in changed)  # the frozen rest stayed as it was
    assert set(merged) >= set(base) - {"lm_head.weight"}


def test_entropy_grpo_with_lora_has_zero_kl_at_step_zero_and_no_reference_model(tmp_path, stopping_policy):
    run_train(["+experiment=entropy_grpo", "model.lora.r=8", *LEARNS, *stopping_policy, *TINY_RL], tmp_path)
    steps = [r for r in read_metrics(tmp_path) if "reward/mean" in r]
    assert [r["step"] for r in steps] == [1, 2, 3]
    # B = 0 at the start: the policy is its base, the reference (up to float sums: the policy and
    # reference forwards are batched differently; measured -3.6e-10); after an update it is not
    assert abs(steps[0]["kl"]) < 1e-7 and steps[0]["grad_norm"] > 0
    assert steps[1]["kl"] > 1e-4 and steps[2]["kl"] > 1e-4
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["reference"] == "base"  # the policy with adapters disabled, no reference engine
    assert (tmp_path / "hf_model" / "model.safetensors").exists()


def test_full_fine_tuning_rl_still_builds_its_reference_model(tmp_path):
    run_train(["+experiment=entropy_grpo", "trainer.warm_start=null", *TINY_RL, "trainer.max_steps=1"], tmp_path)
    assert json.loads((tmp_path / "summary.json").read_text())["reference"] == "model"


def test_export_adapter_without_lora_is_a_config_error(tmp_path):
    proc = run_train(["+experiment=sft", "trainer.max_steps=1", "trainer.export_adapter=true", "logger=none"],
                     tmp_path, check=False)
    assert proc.returncode == 2 and "trainer.export_adapter=true needs LoRA adapters" in proc.stderr


@pytest.mark.distributed
@pytest.mark.slow  # make test-full: keeps `make test` under 20 min on 2 cores
def test_zero3_lora_rl_on_two_ranks_exports_the_merged_model(tmp_path, stopping_policy, stopping_policy_dir):
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", "-m",
           "funcall.train", "+experiment=entropy_grpo", "deepspeed=zero3", "model.lora.r=8", *LEARNS,
           "trainer.export_adapter=true", *stopping_policy, *TINY_RL, "trainer.max_steps=2",
           # shard even the adapters' small matrices, so the gathering paths are exercised
           "deepspeed.zero_optimization.stage3_param_persistence_threshold=0", f"hydra.run.dir={tmp_path}"]
    proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=600,
                          env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert proc.returncode == 0, proc.stderr[-4000:]
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["world_size"] == 2 and summary["zero_stage"] == 3 and summary["reference"] == "base"
    steps = [r for r in read_metrics(tmp_path) if "reward/mean" in r]
    assert abs(steps[0]["kl"]) < 1e-7 and steps[0]["grad_norm"] > 0 and steps[1]["kl"] > 1e-4
    merged = AutoModelForCausalLM.from_pretrained(tmp_path / "hf_model")
    adapted = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(stopping_policy_dir), tmp_path / "adapter")
    ids = torch.tensor([[1, 5, 9, 42, 7, 300, 12, 8]])
    with torch.no_grad():
        torch.testing.assert_close(merged(ids).logits, adapted(ids).logits, rtol=0, atol=1e-4)


@pytest.mark.slow  # make test-full: keeps `make test` under 20 min on 2 cores
def test_vllm_greedy_equals_hf_after_syncing_merged_lora_weights(tmp_path, stopping_policy_dir):
    # vLLM (CPU build) keeps its own weights: after every sync it must generate what the LoRA policy
    # generates, token for token, before and after updates that moved the adapters (ZeRO-3: gathered)
    pytest.importorskip("vllm")
    out = tmp_path / "sync.json"
    proc = subprocess.run([sys.executable, str(REPO / "tests" / "vllm_sync_check.py"), str(stopping_policy_dir), str(out),
                           "zero3", "2.0", "lora"], cwd=REPO, capture_output=True, text=True, timeout=600,
                          env={**os.environ, "VLLM_CPU_KVCACHE_SPACE": "1", "VLLM_CPU_OMP_THREADS_BIND": "nobind"})
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(out.read_text())
    for phase in ("step0", "step2"):
        assert len(result[phase]["prompts"]) == 8, phase
        assert result[phase]["vllm"] == result[phase]["hf"], phase
    assert result["step0"]["all_hf"] != result["step2"]["all_hf"]  # the adapters changed what the policy writes
