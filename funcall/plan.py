"""``python -m funcall.plan [--gpus N] [--gpu-gb G] [--device cuda|cpu] [--json] OVERRIDE...``: a
run's memory per GPU (or per CPU rank) before it is launched.

The overrides compose ``conf/train.yaml`` exactly as ``python -m funcall.train`` does; the model's
shape is read from its ``config.json`` (or the embedded spec) and counted on the meta device, so a
7B plan costs a second and no memory. It prints the terms (model states by ZeRO stage, the output
layer's chunk, activations with and without checkpointing, the reference model, vLLM's share, the
runtime), the predicted peak of each phase the trainer measures (``setup``, ``step``; RL:
``rollout``, ``logprob``, ``update``) and whether the largest fits ``--gpu-gb``. Exit 0: it fits;
3: it does not (one line on stderr naming the largest term and what shrinks it); 2: bad input.

How it departs from the obvious: it predicts tensors, not a process. On a GPU the CUDA context is
an allowance and vLLM's share is what it pre-allocates; on a CPU the process's fixed cost is a
measured constant. Beyond the textbook's bytes per parameter it counts what a 0.5B run was traced
holding (`funcall.planning.terms`: ZeRO-3's master copy in fp32, parameters kept gathered for the
backward, one whole gradient, the optimizer step's temporaries, the gradient bucket), and it plans
a run's later steps, when those all exist. What it does not predict (allocator fragmentation,
evaluation and export) is listed in docs/plan.md with the measured-vs-planned table.
`plan_run` and `compose` are the API the rehearsal and ``make gpu-check`` call.
"""
from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict, dataclass, field

from omegaconf import DictConfig

from funcall.planning import terms as T
from funcall.planning.architecture import Architecture, read_architecture
from funcall.utils.errors import ConfigError, UserError

PRECISIONS = ("auto", "bf16", "fp32")
SHRINK = {
    "model_states": "deepspeed=zero3 with more --gpus, deepspeed=zero3_offload, or model.lora.r=16",
    "activations": "model.gradient_checkpointing=true, a smaller trainer.micro_batch_size, or shorter sequences",
    "output_layer": "a smaller trainer.logit_chunk",
    "reference": "deepspeed=zero3 (shards it), loss.kl_coef=0, or model.lora.r=16 (the base is the reference)",
    "vllm": "a smaller rollout.engine.gpu_memory_utilization (CPU: rollout.engine.kv_cache_memory_gib)",
    "generation": "a smaller rollout.engine.batch_size, or rollout.engine.gather=false under ZeRO-3",
    "zero_buffers": "a smaller deepspeed.zero_optimization.reduce_bucket_size",
    "gathered": "a smaller deepspeed.zero_optimization.stage3_max_reuse_distance (more gathers, less held)",
    "full_gradient": "model.lora.r=16 (the largest parameter's gradient; it is the embedding's)",
    "optimizer_step": "a smaller deepspeed.zero_optimization.sub_group_size (ZeRO-3), more --gpus, or deepspeed=zero3_offload",
    "runtime": "nothing in the config (it is the process's fixed cost)",
}


@dataclass
class MemoryPlan:
    """GB per rank. ``terms``: model_states, output_layer, activations (the one the config uses),
    reference, vllm, runtime, generation; ``phases``: the predicted peak of each measured phase;
    ``measurable``: the phases as ``funcall.utils.peak_memory`` counts them (CUDA: without the
    context allowance and vLLM's pre-allocation); ``fits``: None without a ``gpu_gb``."""

    terms: dict[str, float]
    phases: dict[str, float]
    peak_gb: float
    fits: bool | None
    gpu_gb: float | None = None
    measurable: dict[str, float] = field(default_factory=dict)
    details: dict = field(default_factory=dict)

    def as_dict(self) -> dict:
        return asdict(self)

    def largest_term(self) -> str:
        return max(self.terms, key=self.terms.get)


def compose(overrides: list[str]) -> DictConfig:
    """``conf/train.yaml`` with ``overrides``, as ``python -m funcall.train`` composes it."""
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra
    from hydra.errors import HydraException
    from omegaconf.errors import OmegaConfBaseException

    from funcall.envs.bfcl_data import register_bfcl_data_resolver
    from funcall.utils.hydra_setup import CONF_DIR, register_resolvers

    register_resolvers()
    register_bfcl_data_resolver()
    GlobalHydra.instance().clear()
    try:
        with initialize_config_dir(config_dir=CONF_DIR, version_base="1.3"):
            return hydra_compose(config_name="train", overrides=list(overrides))
    except (HydraException, OmegaConfBaseException, ValueError) as exc:
        raise ConfigError(" ".join(str(exc).split())) from None


def _sharding(cfg: DictConfig, world: int, mixed: bool) -> T.Sharding:
    """The ``deepspeed`` group's sharding keys; an unset key is DeepSpeed's default (`T.Sharding`)."""
    zero = cfg.deepspeed.get("zero_optimization") or {}
    on_cpu = lambda key: str((zero.get(key) or {}).get("device", "none")) == "cpu"  # noqa: E731
    key = lambda name: zero.get(name, T.DEEPSPEED_DEFAULTS[name])  # noqa: E731
    return T.Sharding(stage=int(zero.get("stage", 0)), world=world, mixed=mixed,
                      offload_optimizer=on_cpu("offload_optimizer"), offload_params=on_cpu("offload_param"),
                      reduce_bucket=int(float(key("reduce_bucket_size"))),
                      reuse_distance=int(float(key("stage3_max_reuse_distance"))),
                      sub_group=int(float(key("sub_group_size"))), contiguous=bool(key("contiguous_gradients")))


def _precision(cfg: DictConfig, device: str, rl: bool) -> tuple[bool, int]:
    """(DeepSpeed bf16 on, bytes of an activation). CPU ``bf16`` is SFT's autocast: fp32 states, bf16 activations."""
    precision = str(cfg.trainer.get("precision", "auto"))
    if precision not in PRECISIONS:
        raise ConfigError(f"trainer.precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
    mixed = device == "cuda" and precision in ("auto", "bf16")
    autocast = device == "cpu" and precision == "bf16" and not rl
    return mixed, 2 if mixed or autocast else 4


def _rl_shape(cfg: DictConfig, world: int) -> dict:
    """Rollouts per rank, per micro-batch, prompt and total length of an RL step."""
    tr = cfg.trainer
    group = int(cfg.rollout.num_generations)
    if int(tr.prompts_per_step) % world:
        raise ConfigError(f"trainer.prompts_per_step={tr.prompts_per_step} must divide by the {world} ranks (--gpus)")
    rollouts = int(tr.prompts_per_step) // world * group
    mini = rollouts // int(tr.mini_batches)
    micro = int(tr.micro_batch_size or mini)
    if rollouts % int(tr.mini_batches) or mini % micro:  # what the trainer's own check refuses
        raise ConfigError(f"trainer.micro_batch_size={micro} must divide the mini-batch of {mini} rollouts per rank "
                          f"(trainer.prompts_per_step / ranks x rollout.num_generations / trainer.mini_batches)")
    prompt = int(tr.get("max_prompt_length") or tr.max_length)
    new = int(cfg.rollout.max_new_tokens)
    return {"rollouts": rollouts, "micro": micro, "prompt": prompt, "new": new, "length": prompt + new,
            "prompt_source": "trainer.max_prompt_length" if tr.get("max_prompt_length") else "trainer.max_length"}


@dataclass(frozen=True)
class _Steps:
    """What differs between set-up, a run's first step and its later ones (GB per rank)."""

    adam: float                # AdamW's moments, allocated by the first update (or read at set-up on resume)
    steady: bool               # more than one step: the phases' peaks are the later steps'
    layerwise_generation: bool  # the HF engine without ``gather`` under ZeRO-3: generation's forwards keep `gathered` too
    weights: float             # the weights as loaded (below ZeRO-3: whole)
    zero3_setup: float | None  # ZeRO-3: set-up's largest transient beyond the resident states; None below ZeRO-3


def plan_run(cfg: DictConfig, world_size: int = 1, device: str = "cuda", gpu_gb: float | None = 80.0) -> MemoryPlan:
    """The `MemoryPlan` of ``cfg`` (a composed train config) on ``world_size`` ranks of ``device``."""
    if device not in ("cuda", "cpu"):
        raise ConfigError(f"--device must be cuda or cpu, got {device!r}")
    if int(world_size) < 1:
        raise ConfigError(f"--gpus must be at least 1, got {world_size}")
    rl = "RLTrainer" in str(cfg.trainer.get("_target_", ""))
    mixed, act_bytes = _precision(cfg, device, rl)
    shard = _sharding(cfg, int(world_size), mixed)
    arch = read_architecture(cfg.model)
    states, states_how = T.model_states(arch, shard)
    if rl:
        shape = _rl_shape(cfg, shard.world)
        sequences, length, positions = shape["micro"], shape["length"], shape["micro"] * shape["new"]
    else:
        shape = {}
        sequences, length = int(cfg.trainer.micro_batch_size), int(cfg.trainer.max_length)
        positions = sequences * length
    eager = str(cfg.model.get("attn_implementation")) == "eager"
    with_ckpt, without_ckpt = T.activations(arch, sequences, length, act_bytes, eager)
    checkpointing = bool(cfg.model.get("gradient_checkpointing"))
    b = {
        "model_states": states,
        "output_layer": T.output_layer(arch, cfg.trainer.get("logit_chunk"), positions, act_bytes),
        "activations": with_ckpt if checkpointing else without_ckpt,
        "reference": T.reference(arch, shard) if rl and float(cfg.loss.get("kl_coef") or 0) > 0 else 0.0,
        "vllm": 0.0, "generation": 0.0,
        "runtime": (T.CUDA_CONTEXT_GB if device == "cuda" else T.CPU_RUNTIME_GB) * T.GB,
        "zero_buffers": T.zero_buffers(arch, shard, device),
        "gathered": T.gathered_for_reuse(arch, shard),
        "full_gradient": 0.0 if arch.lora_params else T.full_gradient(arch, shard),
        "optimizer_step": T.optimizer_transient(arch, shard, device),
    }
    logprob_pass, gathers = 0.0, True
    if rl:
        b["vllm"], b["generation"], logprob_pass, gathers = _rollout_terms(cfg, arch, shard, shape, device, gpu_gb, act_bytes)
    gb = {k: v / T.GB for k, v in b.items()}
    phases = _phases(gb, rl, _steps(cfg, arch, shard, b["zero_buffers"], device, gathers), logprob_pass / T.GB)
    measurable = _measurable(phases, gb, device, rl)
    peak = max(phases.values())
    details = {
        "architecture": asdict(arch), "model_states_arithmetic": states_how, "zero_stage": shard.stage,
        "world_size": shard.world, "device": device, "precision": "bf16 (DeepSpeed)" if mixed else f"fp32 states, {act_bytes} B activations",
        "activations_with_checkpointing": with_ckpt / T.GB, "activations_without_checkpointing": without_ckpt / T.GB,
        "gradient_checkpointing": checkpointing, "micro_batch": {"sequences": sequences, "length": length},
        "logprob_pass": logprob_pass / T.GB, "rl_shape": shape, "trainer": "rl" if rl else "sft",
    }
    return MemoryPlan(terms=gb, phases=phases, peak_gb=peak, fits=None if gpu_gb is None else peak <= gpu_gb,
                      gpu_gb=gpu_gb, measurable=measurable, details=details)


def _rollout_terms(cfg: DictConfig, arch: Architecture, shard: T.Sharding, shape: dict, device: str,
                   gpu_gb: float | None, act_bytes: int) -> tuple[float, float, float, bool]:
    """RL's rollout terms in bytes: vLLM's share, the HF engine's generation, one no-grad log-prob
    pass, and whether the HF engine gathers the whole weights for generation (``engine.gather``)."""
    engine = cfg.rollout.engine
    target = str(engine.get("_target_", ""))
    vllm = generation = 0.0
    gathers = True
    if "vllm_colocate" in target:
        vllm = T.vllm_share(arch, engine, device, gpu_gb or 80.0, shard.mixed)
    elif target.endswith("HFEngine"):
        batch = min(int(engine.get("batch_size") or shape["rollouts"]), shape["rollouts"])
        gathers = bool(engine.get("gather", True))
        generation = T.hf_generation(arch, shard, batch, shape["length"], act_bytes, gathers)
    rows = min(int(cfg.trainer.logprob_batch_size), shape["rollouts"])
    logprob_pass = T.no_grad_pass(arch, rows, shape["length"], act_bytes) + T.output_layer(
        arch, cfg.trainer.get("logit_chunk"), rows * shape["new"], act_bytes)
    return vllm, generation, logprob_pass, gathers


def _steps(cfg: DictConfig, arch: Architecture, shard: T.Sharding, zero_buffers: float, device: str,
           generation_gathers: bool) -> _Steps:
    """What set-up, the first step and the later steps of this run differ by (`_Steps`)."""
    zero3_setup = None
    if shard.stage == 3:
        read = T.resume_read(arch, shard) if bool(cfg.trainer.get("resume")) else 0.0
        untouched = zero_buffers if device == "cpu" else 0.0
        zero3_setup = (max(T.setup_transient(arch, shard), read) - untouched) / T.GB
    weights = arch.params * (2 if shard.mixed else T.FP32) / (shard.world if shard.stage == 3 else 1)
    return _Steps(adam=T.adam_moments(arch, shard) / T.GB, steady=int(cfg.trainer.max_steps) > 1,
                  layerwise_generation=not generation_gathers, weights=weights / T.GB, zero3_setup=zero3_setup)


def _phases(gb: dict[str, float], rl: bool, steps: _Steps, logprob_pass: float) -> dict[str, float]:
    """Each measured phase's peak: what is resident through the run plus what that phase adds.
    Set-up: below ZeRO-3, the weights (on a CPU memory-mapped weights count only once touched, so a
    CPU's set-up may read less); under ZeRO-3, the partitions of parameters, master copy and
    gradients with the larger of ``deepspeed.initialize``'s flattening copy and, on resume, the
    optimizer shard read from the checkpoint. A run's phases peak in its later steps (``steady``):
    the Adam moments exist, and ZeRO-3 keeps ``gathered`` parameters from the forward to the
    backward; a one-step run has neither before its update. A training step peaks either in the
    forward and backward (gathered parameters, activations, the output layer's chunk, one whole
    gradient) or in the optimizer step (its temporaries), whichever is larger."""
    held = gb["runtime"] + gb["reference"] + gb["vllm"]
    resident = held + gb["model_states"] + gb["zero_buffers"]
    before = resident if steps.steady else resident - steps.adam  # in the step the phase peaks in
    gathered = gb["gathered"] if steps.steady else 0.0
    setup = held + steps.weights if steps.zero3_setup is None else resident - steps.adam + steps.zero3_setup
    backward = before + gathered + gb["activations"] + gb["output_layer"] + gb["full_gradient"]
    train = max(backward, resident + gb["optimizer_step"])
    if not rl:
        return {"setup": setup, "step": train}
    rollout = before + gb["generation"] + (gathered if steps.layerwise_generation else 0.0)
    return {"setup": setup, "rollout": rollout, "logprob": before + gathered + logprob_pass, "update": train}


def _measurable(phases: dict[str, float], gb: dict[str, float], device: str, rl: bool) -> dict[str, float]:
    """The phases as the trainer measures them: CUDA's ``max_memory_allocated`` sees neither the
    context nor vLLM's pre-allocated share; a CPU's peak RSS sees everything."""
    if device == "cpu":
        return dict(phases)
    return {k: v - gb["runtime"] - gb["vllm"] for k, v in phases.items()}


def render(plan: MemoryPlan) -> str:
    """The human-readable plan (what each line means: docs/plan.md)."""
    d, a = plan.details, plan.details["architecture"]
    lines = [f"model: {a['source']}: {a['params'] / 1e6:,.1f}M parameters, {a['layers']} layers, hidden {a['hidden']}, "
             f"vocab {a['vocab']:,}" + (f", LoRA {a['lora_params'] / 1e6:,.2f}M" if a["lora_params"] else ""),
             f"run: {d['trainer']}, {d['world_size']} x {d['device']}, ZeRO-{d['zero_stage']}, {d['precision']}; "
             f"micro-batch {d['micro_batch']['sequences']} x {d['micro_batch']['length']} tokens",
             "", "per rank, GB:"]
    for name, value in plan.terms.items():
        lines.append(f"  {name:<14}{value:>10.3f}")
    lines.append(f"    model states: {d['model_states_arithmetic']}")
    on = d["gradient_checkpointing"]
    lines.append(f"    activations with checkpointing {d['activations_with_checkpointing']:.3f}{' (used)' if on else ''}, "
                 f"without {d['activations_without_checkpointing']:.3f}{'' if on else ' (used)'}")
    if d["trainer"] == "rl":
        lines.append(f"    prompt {d['rl_shape']['prompt']} tokens ({d['rl_shape']['prompt_source']}) + "
                     f"{d['rl_shape']['new']} new; no-grad log-prob pass {d['logprob_pass']:.3f}")
    lines += ["", "predicted peak per phase, GB per rank:"]
    lines += [f"  {name:<14}{value:>10.3f}" for name, value in plan.phases.items()]
    if plan.fits is not None:
        lines.append(f"\n{'fits' if plan.fits else 'does NOT fit'}: peak {plan.peak_gb:.2f} GB of {plan.gpu_gb:g} GB per rank")
    return "\n".join(lines)


def verdict(plan: MemoryPlan) -> str:
    """The one line of a plan that does not fit."""
    worst = max(plan.phases, key=plan.phases.get)
    term = plan.largest_term()
    return (f"does not fit: peak {plan.peak_gb:.1f} GB per rank ({worst}) > --gpu-gb {plan.gpu_gb:g}; largest term "
            f"{term} {plan.terms[term]:.1f} GB: shrink it with {SHRINK[term]}")


class _OneLineParser(argparse.ArgumentParser):
    def error(self, message: str):
        raise ConfigError(message)


def main(argv: list[str] | None = None) -> int:
    parser = _OneLineParser(prog="python -m funcall.plan", description=__doc__.split("\n\n")[0])
    parser.add_argument("--gpus", type=int, default=1, help="world size (ranks), default 1")
    parser.add_argument("--gpu-gb", type=float, default=80.0, help="memory per GPU (on --device cpu: RAM per rank), default 80")
    parser.add_argument("--device", default="cuda", help="cuda (default) or cpu")
    parser.add_argument("--json", action="store_true", help="print the plan as JSON")
    parser.add_argument("overrides", nargs="*", help="the same overrides as python -m funcall.train")
    try:
        args = parser.parse_args(argv)
        if args.gpu_gb <= 0:
            raise ConfigError(f"--gpu-gb must be positive, got {args.gpu_gb:g}")
        plan = plan_run(compose(args.overrides), args.gpus, args.device, args.gpu_gb)
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(plan.as_dict(), indent=2) if args.json else render(plan))
    if not plan.fits:
        print(verdict(plan), file=sys.stderr)
        return 3
    return 0


if __name__ == "__main__":
    sys.exit(main())
