"""`python -m funcall.plan`: the memory plan's arithmetic, its verdict on a 7B run, its errors.

The model is counted on the meta device (no weights load), so these tests take seconds. The
expected numbers are written out here from the parameter count and the per-byte arithmetic the
plan documents (docs/plan.md), not read back from the plan.
"""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from funcall.models.tiny import TinySpec, ensure_tiny_model
from funcall.plan import compose, main, plan_run
from funcall.planning.terms import GB

REPO = Path(__file__).resolve().parents[2]


def qwen2_params(c: dict) -> int:
    """A Qwen2's parameters from its config.json, by hand: embedding (+ untied head), per layer q/k/v
    (biased) and o projections, the SwiGLU MLP and two norms, and the final norm."""
    h, i, v = c["hidden_size"], c["intermediate_size"], c["vocab_size"]
    kv = c["num_key_value_heads"] * (h // c["num_attention_heads"])
    layer = (h * h + h) + 2 * (h * kv + kv) + h * h + 3 * h * i + 2 * h
    head = 0 if c["tie_word_embeddings"] else v * h
    return v * h + head + c["num_hidden_layers"] * layer + h


def tiny_params() -> int:
    return qwen2_params(json.loads((ensure_tiny_model(TinySpec()) / "config.json").read_text()))


def test_tiny_plan_matches_hand_arithmetic():
    params = tiny_params()
    fp32_single = plan_run(compose(["+experiment=sft"]), 1, "cpu", 24.0)
    assert fp32_single.details["architecture"]["params"] == params
    assert fp32_single.terms["model_states"] == pytest.approx(16 * params / GB)  # 4 + 4 + 8 B, unsharded
    zero2 = plan_run(compose(["+experiment=sft", "deepspeed=zero2"]), 2, "cpu", 24.0)
    assert zero2.terms["model_states"] == pytest.approx((4 * params + 16 * params / 2) / GB)  # params whole, rest / 2
    bf16 = plan_run(compose(["+experiment=sft"]), 1, "cuda", 80.0)
    assert bf16.terms["model_states"] == pytest.approx(20 * params / GB)  # DeepSpeed's 2 + 18 B on one GPU
    assert fp32_single.fits is True and fp32_single.peak_gb == max(fp32_single.phases.values())
    assert set(fp32_single.phases) == {"setup", "step"}
    rl = plan_run(compose(["+experiment=entropy_grpo", "trainer.warm_start=null"]), 2, "cpu", 24.0)
    assert set(rl.phases) == {"setup", "rollout", "logprob", "update"}
    assert rl.terms["reference"] == pytest.approx(4 * params / GB)  # kl_coef > 0: a whole fp32 copy below ZeRO-3


def test_checkpointing_shrinks_activations_and_the_plan_uses_the_configured_one():
    off = plan_run(compose(["+experiment=sft", "model.gradient_checkpointing=false"]), 1, "cpu", 24.0)
    on = plan_run(compose(["+experiment=sft", "model.gradient_checkpointing=true"]), 1, "cpu", 24.0)
    assert off.details["activations_with_checkpointing"] < off.details["activations_without_checkpointing"]
    assert off.terms["activations"] == off.details["activations_without_checkpointing"]
    assert on.terms["activations"] == on.details["activations_with_checkpointing"]
    assert on.phases["step"] < off.phases["step"]


def test_zero3_on_8_ranks_shards_model_states_with_a_master_copy():
    params = tiny_params()
    zero0 = plan_run(compose(["+experiment=sft", "deepspeed=zero0"]), 8, "cpu", None)
    zero3 = plan_run(compose(["+experiment=sft", "deepspeed=zero3"]), 8, "cpu", None)
    assert zero0.terms["model_states"] == pytest.approx(16 * params / GB)  # 4 + 4 + 8 B, whole on every rank
    assert zero3.terms["model_states"] == pytest.approx(20 * params / 8 / GB)  # + 4 B fp32 master, all / 8
    assert zero3.fits is None


def test_zero3_terms_follow_the_deepspeed_keys_by_hand():
    """The ZeRO-3 terms found by the 0.5B trace (docs/plan.md), each by hand for the tiny model on 2
    CPU ranks: the bucket's touched pages, the gathered parameters kept for reuse, the largest
    parameter's whole gradient, the optimizer step's temporaries (the flattened gradient and
    AdamW's two on a CPU), and the phases they make."""
    params, world = tiny_params(), 2
    plan = plan_run(compose(["+experiment=sft", "deepspeed=zero3"]), world, "cpu", None)
    largest = plan.details["architecture"]["largest_layer_params"]
    t = {k: v * GB for k, v in plan.terms.items()}
    assert t["zero_buffers"] == pytest.approx(4 * min(5e7, params))  # conf/deepspeed/zero3.yaml's reduce_bucket_size
    assert t["gathered"] == pytest.approx(4 * params)  # the tiny model is far below stage3_max_reuse_distance / 2
    assert t["full_gradient"] == pytest.approx(4 * largest)
    assert t["optimizer_step"] == pytest.approx(3 * 4 * params / world)
    resident = t["runtime"] + t["model_states"] + t["zero_buffers"]
    backward = resident + t["gathered"] + t["activations"] + t["output_layer"] + t["full_gradient"]
    assert plan.phases["step"] * GB == pytest.approx(max(backward, resident + t["optimizer_step"]))
    # set-up: params, master copy and gradients, plus initialize's flattening copy; no Adam yet, no bucket page
    assert plan.phases["setup"] * GB == pytest.approx(t["runtime"] + 16 * params / world)
    small = plan_run(compose(["+experiment=sft", "deepspeed=zero3", "deepspeed.zero_optimization.sub_group_size=1000",
                              "deepspeed.zero_optimization.stage3_max_reuse_distance=1000",
                              "deepspeed.zero_optimization.reduce_bucket_size=100"]), world, "cpu", None)
    assert small.terms["optimizer_step"] * GB == pytest.approx(3 * 4 * 1000)
    assert small.terms["gathered"] * GB == pytest.approx(4 * 500)
    assert small.terms["zero_buffers"] * GB == pytest.approx(4 * 100)
    cuda = plan_run(compose(["+experiment=sft", "deepspeed=zero3"]), world, "cuda", 80.0)
    assert cuda.terms["zero_buffers"] * GB == pytest.approx(2 * 5e7)  # bf16, all of it counted by the allocator
    assert cuda.terms["optimizer_step"] * GB == pytest.approx(2 * 4 * params / world)  # flattened grad + one foreach temp


@pytest.fixture
def qwen7b(tmp_path: Path) -> Path:
    """A Qwen2.5-Coder-7B-shaped config.json (no weights: the plan never loads them)."""
    config = {"architectures": ["Qwen2ForCausalLM"], "model_type": "qwen2", "hidden_size": 3584, "num_hidden_layers": 28,
              "num_attention_heads": 28, "num_key_value_heads": 4, "intermediate_size": 18944, "vocab_size": 152064,
              "tie_word_embeddings": False, "max_position_embeddings": 32768, "rms_norm_eps": 1e-6}
    (tmp_path / "config.json").write_text(json.dumps(config))
    return tmp_path


RL_7B = ["+experiment=entropy_grpo", "trainer.warm_start=null", "model=qwen2_5_coder_7b", "trainer.prompts_per_step=64"]


def test_7b_rl_zero0_on_one_gpu_does_not_fit_and_zero3_on_8_does(qwen7b: Path, capsys):
    params = qwen2_params(json.loads((qwen7b / "config.json").read_text()))
    assert main(["--gpus", "1", "--gpu-gb", "80", *RL_7B, f"model.path={qwen7b}", "deepspeed=zero0"]) == 3
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("does not fit") and "model_states" in err[0]
    assert main(["--gpus", "8", "--gpu-gb", "80", "--json", *RL_7B, f"model.path={qwen7b}", "deepspeed=zero3"]) == 0
    plan = json.loads(capsys.readouterr().out)
    assert plan["fits"] is True and plan["details"]["architecture"]["params"] == params
    assert plan["terms"]["reference"] == pytest.approx(2 * params / 8 / GB)  # bf16, sharded 8 ways


@pytest.mark.parametrize("args, names", [
    (["no_such_key=1"], "no_such_key"),
    (["model.path=/nonexistent/model/folder"], "model.path"),
    (["--gpus", "0"], "--gpus"),
    (["--device", "tpu"], "--device"),
    (["+experiment=entropy_grpo", "trainer.micro_batch_size=5"], "trainer.micro_batch_size"),
])
def test_bad_input_is_one_line_and_exit_2(args, names, capsys):
    assert main(args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error:") and names in err[0]


def test_cli_runs_as_users_call_it():
    proc = subprocess.run([sys.executable, "-m", "funcall.plan", "--device", "cpu", "--gpus", "2", "--gpu-gb", "0.3", "--json",
                           "+experiment=sft", "deepspeed=zero3"], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 3, proc.stderr
    plan = json.loads(proc.stdout)  # stdout is the plan alone
    assert plan["fits"] is False and plan["peak_gb"] > 0.3 and plan["details"]["world_size"] == 2
    assert proc.stderr.strip().splitlines()[-1].startswith("does not fit")


def test_plan_is_within_25_percent_of_the_committed_0_5b_rehearsal():
    """The 0.5B rehearsal's measured peaks (experiments/benchmarks/rehearsal_0_5b.json, 2 CPU ranks,
    ZeRO-3) against a plan made now from the same overrides: a change to the arithmetic that breaks
    the agreement fails here. The runs' ``model.path`` is the SFT export of ``model=qwen2_5_0_5b_random``
    (same shape), which the plan reads from the embedded spec instead."""
    recorded = json.loads((REPO / "experiments" / "benchmarks" / "rehearsal_0_5b.json").read_text())["runs"]
    checked = 0
    for name, run in recorded.items():
        if "memory_peak_gb_per_rank" not in run:
            continue
        plan = plan_run(compose([o for o in run["overrides"] if not o.startswith("model.path=")]), 2, "cpu", None)
        for phase, planned in plan.phases.items():
            measured = max(rank[phase] for rank in run["memory_peak_gb_per_rank"])
            assert 0.75 <= planned / measured <= 1.25, (name, phase, planned, measured)
            checked += 1
    assert checked == 14  # SFT 2 phases, three GRPO runs x 4
