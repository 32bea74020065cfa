"""Per-rank memory of each part of a run, in GB (GiB, as ``funcall.utils.peak_memory`` counts them).

Each function returns bytes for one term and says in its docstring where the arithmetic comes from.
How it departs from the obvious: mixed-precision model states are DeepSpeed's own estimators
(``estimate_zero2_model_states_mem_needs``, ``estimate_zero3_model_states_mem_needs``), but fp32
(a CPU run, ``trainer.precision=fp32``) is written here, because DeepSpeed's estimators assume
16-bit weights; and ZeRO-1/2 keep an fp32 master partition even in fp32 (measured in
``experiments/benchmarks/memory.md``). Activations follow Korthikanti et al. 2022 ("Reducing
Activation Recomputation in Large Transformer Models", Sec. 4.1), re-derived for a SwiGLU,
grouped-query decoder and without the ``5as/h`` score term: sdpa and flash attention never hold the
``s x s`` scores (``attn_implementation=eager`` does, and is charged for them).

Beyond the textbook's 16-18 B per parameter, four ZeRO terms were found by tracing a 0.5B run call by
call (``experiments/benchmarks/step_memory_trace.py``, docs/plan.md) and read back in DeepSpeed
0.19's ``stage3.py`` and ``partitioned_param_coordinator.py``: in fp32, ZeRO-3 keeps a separate
fp32 master partition (its "no copy" test compares a ``torch.device`` with the device's name as
a string, which torch 2.13 answers False on the CPU); from the second step on, parameters gathered in the forward are kept for the backward when
they are used again within ``stage3_max_reuse_distance`` elements; each parameter's gradient exists
whole once before it is reduce-scattered; and the optimizer step works on the flat partition, so its
temporaries (the flattened gradient, torch AdamW's ``sqrt(v) / c`` pair on a CPU, one foreach
temporary on CUDA) are each as large as the partition.
"""
from __future__ import annotations

import sys
from dataclasses import dataclass

from funcall.planning.architecture import Architecture

GB = 1024 ** 3
FP32 = 4
BLOCK_BYTES = 3 * (1 << 22) * FP32  # the output layer's softmax blocks: log_p, p and one temporary, 16 MB each
# torch + DeepSpeed + transformers + Python + tokenizer and data: the set-up RSS of the tiny default
# (0.45 GB in one process, 0.51-0.54 GB per rank of 2 ZeRO-3 ranks; docs/plan.md)
CPU_RUNTIME_GB = 0.5
# vLLM's own process cost on a CPU beyond its weights and KV cache (its libraries, its profiling run's
# buffers): the 0.5B rehearsal's set-up with vLLM (6.57 GB) less the same without it (4.37), less
# bf16 weights with the untied head (1.17) and the 0.25 GiB KV cache (docs/plan.md)
VLLM_CPU_RUNTIME_GB = 0.8
CUDA_CONTEXT_GB = 1.0  # an allowance: the CUDA context and kernels take 0.5-1 GB outside the allocator's count


# DeepSpeed's own defaults of the zero_optimization keys the terms read, for a config that omits them
DEEPSPEED_DEFAULTS = {"reduce_bucket_size": int(5e8), "stage3_max_reuse_distance": int(1e9),
                      "sub_group_size": int(1e9), "contiguous_gradients": True}


@dataclass(frozen=True)
class Sharding:
    """How the run holds its model states: ZeRO stage, world size, precision, offload."""

    stage: int
    world: int
    mixed: bool              # DeepSpeed bf16 (16-bit weights, fp32 master copy); False: fp32 throughout
    offload_optimizer: bool  # zero_optimization.offload_optimizer.device == cpu
    offload_params: bool     # zero_optimization.offload_param.device == cpu
    reduce_bucket: int = DEEPSPEED_DEFAULTS["reduce_bucket_size"]          # elements per gradient reduce
    reuse_distance: int = DEEPSPEED_DEFAULTS["stage3_max_reuse_distance"]  # elements: keep a gathered param reused this near
    sub_group: int = DEEPSPEED_DEFAULTS["sub_group_size"]                  # elements the ZeRO-3 step works on at once
    contiguous: bool = DEEPSPEED_DEFAULTS["contiguous_gradients"]          # gradients through the bucket


def model_states(arch: Architecture, shard: Sharding) -> tuple[float, str]:
    """Parameters, gradients and AdamW state per rank (bytes) and which arithmetic gave it. With
    LoRA only the adapters train: the frozen base is held in the compute dtype (sharded by ZeRO-3)."""
    trained = arch.lora_params or arch.params
    frozen = arch.params if arch.lora_params else 0
    frozen_bytes = frozen * (2 if shard.mixed else FP32) / (shard.world if shard.stage == 3 else 1)
    if shard.mixed:
        states, how = _mixed_states(trained, arch.largest_layer_params, shard)
    else:
        states, how = _fp32_states(trained, arch.largest_layer_params, shard)
    if frozen:
        how += f"; LoRA: {trained:,} adapter parameters train, {frozen:,} frozen base parameters"
    return states + frozen_bytes, how


def _mixed_states(params: int, largest: int, shard: Sharding) -> tuple[float, str]:
    """DeepSpeed's estimators (bf16 weights and grads, fp32 master, grads and Adam moments). Stage 0
    runs DeepSpeed's fp16-style optimizer: nothing sharded, the ZeRO-2 estimate on one GPU (20 B per
    parameter). Stage 1 with bf16 runs ``BF16_Optimizer``: fp32 gradients whole, master and moments sharded."""
    estimate_zero2_model_states_mem_needs, estimate_zero3_model_states_mem_needs = _deepspeed_estimators()
    n = shard.world
    if shard.stage == 3:
        _, gpu, _ = estimate_zero3_model_states_mem_needs(
            params, largest, num_gpus_per_node=n, cpu_offload=shard.offload_optimizer,
            cpu_offload_params=shard.offload_params, zero_init=True)
        return gpu, f"DeepSpeed estimate_zero3_model_states_mem_needs (offload: optimizer {shard.offload_optimizer}, params {shard.offload_params})"
    if shard.stage == 1:
        return 2 * params + FP32 * params + 12 * params / n, "bf16 params + fp32 grads (BF16_Optimizer) + 12 B / N master and moments"
    _, gpu = estimate_zero2_model_states_mem_needs(params, num_gpus_per_node=n if shard.stage == 2 else 1,
                                                   cpu_offload=shard.offload_optimizer)
    return gpu, f"DeepSpeed estimate_zero2_model_states_mem_needs (on {n if shard.stage == 2 else 1} GPU)"


def _deepspeed_estimators():
    """DeepSpeed's two estimators, imported without its accelerator notice on stdout (which would
    spoil ``--json``); its logger writes to the real stdout afterwards."""
    import contextlib
    import io
    import logging

    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        from deepspeed.runtime.zero.stage3 import estimate_zero3_model_states_mem_needs
        from deepspeed.runtime.zero.stage_1_and_2 import estimate_zero2_model_states_mem_needs
    for handler in logging.getLogger("DeepSpeed").handlers:
        if isinstance(handler, logging.StreamHandler) and handler.stream is buffer:
            handler.setStream(sys.stdout)
    return estimate_zero2_model_states_mem_needs, estimate_zero3_model_states_mem_needs


def _fp32_states(params: int, largest: int, shard: Sharding) -> tuple[float, str]:
    """fp32 throughout: 4 B params + 4 B grads + 8 B Adam moments. ZeRO-1/2/3 add a 4 B fp32 master
    partition (ZeRO-3's: module docstring; measured at 0.5B, docs/plan.md); ZeRO-3's gathered
    parameters are `gathered_for_reuse`. Written here: DeepSpeed's estimators assume 16-bit weights."""
    n = shard.world
    if shard.stage == 0:
        return 16 * params, "fp32 arithmetic: 4 B params + 4 B grads + 8 B Adam, unsharded"
    if shard.stage == 1:
        return 8 * params + 12 * params / n, "fp32 arithmetic: params and grads whole, (8 B Adam + 4 B master) / N"
    if shard.stage == 2:
        return 4 * params + 16 * params / n, "fp32 arithmetic: params whole, (4 B grads + 8 B Adam + 4 B master) / N"
    return 20 * params / n, "fp32 arithmetic: (4 B params + 4 B master copy + 4 B grads + 8 B Adam) / N"


def output_layer(arch: Architecture, chunk: int | None, positions: int, logits_bytes: int) -> float:
    """One chunk of logits ``[chunk, V]`` in the head's dtype (funcall/models/output_layer.py: the
    gradient is written over it, so the backward holds one too) plus the fp32 softmax blocks."""
    rows = min(int(chunk), positions) if chunk else positions
    return rows * arch.vocab * logits_bytes + BLOCK_BYTES


def layer_bytes_per_token(arch: Architecture, act_bytes: int) -> float:
    """What autograd keeps for one decoder layer, per token (Korthikanti et al. 2022, re-derived):
    attention: q, roped q, sdpa output (3 x q width) and k, roped k, v (3 x kv width); SwiGLU MLP:
    gate, up, silu(gate), their product (4 x intermediate); two RMSNorms, each keeping an fp32 copy
    of its input and its normalised output (transformers computes them in fp32) beside its output."""
    q_width, kv_width = arch.heads * arch.head_dim, arch.kv_heads * arch.head_dim
    linear = act_bytes * (3 * q_width + 3 * kv_width + 4 * arch.intermediate)
    norms = 2 * arch.hidden * (2 * FP32 + act_bytes)
    return linear + norms


def activations(arch: Architecture, sequences: int, length: int, act_bytes: int, eager: bool) -> tuple[float, float]:
    """(with, without) gradient checkpointing, for one micro-batch of ``sequences x length`` tokens.
    With it: every layer's input plus one layer's working set during its recomputation."""
    tokens = sequences * length
    one_layer = tokens * layer_bytes_per_token(arch, act_bytes)
    if eager:  # scores and probabilities, [heads, s, s] per sequence
        one_layer += sequences * arch.heads * length * length * 2 * act_bytes
    final = tokens * arch.hidden * (act_bytes + 2 * FP32)  # the final norm
    with_ckpt = arch.layers * tokens * arch.hidden * act_bytes + one_layer + final
    without = arch.layers * one_layer + final
    return with_ckpt, without


def no_grad_pass(arch: Architecture, sequences: int, length: int, act_bytes: int) -> float:
    """A forward pass without autograd (reference and old log-probs): about one layer's tensors live."""
    return sequences * length * layer_bytes_per_token(arch, act_bytes)


def reference(arch: Architecture, shard: Sharding) -> float:
    """The frozen reference (RL with a KL term): its weights in the compute dtype, sharded under
    ZeRO-3, whole otherwise (funcall/trainers/ds_config.py ``inference_ds_config``). A LoRA policy's
    reference is its base with the adapters off: no second copy."""
    if arch.lora_params:
        return 0.0
    return arch.params * (2 if shard.mixed else FP32) / (shard.world if shard.stage == 3 else 1)


def hf_generation(arch: Architecture, shard: Sharding, batch: int, length: int, act_bytes: int, gather: bool) -> float:
    """Hugging Face ``generate``: the KV cache of one batch (2 x layers x kv width per token), one
    step's fp32 logits, and under ZeRO-3 with ``engine.gather`` the whole weights gathered once."""
    kv_cache = 2 * arch.layers * arch.kv_heads * arch.head_dim * batch * length * act_bytes
    logits = batch * arch.vocab * FP32
    gathered = arch.params * (2 if shard.mixed else FP32) if shard.stage == 3 and gather else 0
    return kv_cache + logits + gathered


def vllm_share(arch: Architecture, engine, device: str, gpu_gb: float, mixed: bool) -> float:
    """vLLM colocated: on a GPU its ``gpu_memory_utilization`` of the device (weights, KV cache and
    graphs all inside it); on a CPU its ``kv_cache_memory_gib``, its own copy of the weights (the
    output layer untied from a tied embedding: vLLM's CPU build keeps both), and its measured process
    cost ``VLLM_CPU_RUNTIME_GB``."""
    if device == "cuda":
        return float(engine.get("gpu_memory_utilization", 0.9)) * gpu_gb * GB
    dtype = engine.get("dtype")
    weight_bytes = 2 if (dtype in ("bfloat16", "float16") or (dtype is None and mixed)) else FP32
    kv = engine.get("kv_cache_memory_gib")
    kv_bytes = float(kv) * GB if kv is not None else float(engine.get("gpu_memory_utilization", 0.9)) * gpu_gb * GB
    untied_head = arch.vocab * arch.hidden if arch.tied else 0
    return kv_bytes + (arch.params + untied_head) * weight_bytes + VLLM_CPU_RUNTIME_GB * GB


def adam_moments(arch: Architecture, shard: Sharding) -> float:
    """AdamW's two fp32 moments per rank: allocated by the first optimizer step, so not at set-up."""
    trained = arch.lora_params or arch.params
    return 8 * trained / (shard.world if shard.stage >= 1 else 1)


def setup_transient(arch: Architecture, shard: Sharding) -> float:
    """ZeRO-3's ``deepspeed.initialize`` copies each rank's parameter partition into one flat buffer:
    for a moment the partition is held twice."""
    if shard.stage != 3:
        return 0.0
    return (arch.lora_params or arch.params) / shard.world * (2 if shard.mixed else FP32)


def resume_read(arch: Architecture, shard: Sharding) -> float:
    """A ZeRO-3 resume reads each rank's optimizer shard whole (``torch.load``): the fp32 master
    partition and both Adam moments, 12 B per trained parameter / N. The moments become the
    optimizer's state; the master copy is copied in and freed (measured at 0.5B: 6.14 GB set-up
    against 4.38 without resume)."""
    if shard.stage != 3:
        return 0.0
    return 12 * (arch.lora_params or arch.params) / shard.world


def zero_buffers(arch: Architecture, shard: Sharding, device: str) -> float:
    """The gradient bucket of ZeRO-2/3 with ``contiguous_gradients``: ``reduce_bucket_size``
    elements of the gradient dtype. It is ``torch.empty``: a CPU counts only the pages gradients
    are written to (at most the model's), CUDA's allocator counts all of it at once."""
    if shard.stage < 2 or not shard.contiguous:
        return 0.0
    elements = shard.reduce_bucket if device == "cuda" else min(shard.reduce_bucket, arch.lora_params or arch.params)
    return elements * (2 if shard.mixed else FP32)


def gathered_for_reuse(arch: Architecture, shard: Sharding) -> float:
    """ZeRO-3 from the second step on: DeepSpeed's parameter coordinator releases a gathered
    parameter after its module only when its next use is more than ``stage3_max_reuse_distance``
    elements away. A layer's next use is its own backward, twice the parameters after it away, so
    about ``reuse_distance / 2`` elements (all of them, for a model smaller than that) stay gathered
    from the forward into the backward. Measured at 0.5B: the second and third forwards
    ended 1.8-2.4 GB above their start, the first 0.3 GB."""
    if shard.stage != 3:
        return 0.0
    return min(arch.params, shard.reuse_distance // 2) * (2 if shard.mixed else FP32)


def full_gradient(arch: Architecture, shard: Sharding) -> float:
    """ZeRO-2/3 reduce-scatter each gradient after the backward made it whole: the largest
    parameter's whole gradient (a tied embedding's: 0.5 GB at 0.5B) is briefly held beside the
    sharded states. Below ZeRO-2 the gradients are whole anyway (in `model_states`)."""
    if shard.stage < 2:
        return 0.0
    return arch.largest_layer_params * (2 if shard.mixed else FP32)


def optimizer_transient(arch: Architecture, shard: Sharding, device: str) -> float:
    """Temporaries of one optimizer step with torch AdamW. A CPU runs its single-tensor AdamW:
    ``(v.sqrt() / c).add_(eps)`` holds two tensors of the stepped one; CUDA runs the foreach one:
    one. Under ZeRO-1/2/3 the stepped tensor is the flat fp32 partition (ZeRO-3's up to
    ``sub_group_size`` elements at a time), and ZeRO-3 first flattens the gradient into a copy of it
    (``_prepare_fp32_grad_for_sub_group``). Without ZeRO a CPU steps one parameter at a time (its
    largest counts), CUDA all of them at once."""
    trained = arch.lora_params or arch.params
    temporaries = 1 if device == "cuda" else 2
    if shard.stage == 0:
        return temporaries * FP32 * (trained if device == "cuda" else min(trained, arch.largest_layer_params))
    partition = trained / shard.world
    if shard.stage == 3:
        return (1 + temporaries) * FP32 * min(partition, shard.sub_group)
    return temporaries * FP32 * partition
