"""The DeepSpeed config of a run: the YAML of the ``deepspeed`` group, keys verbatim, plus what
the loop decides.

How it differs from the usual DeepSpeed JSON: the four keys that must agree with the training
loop (``train_micro_batch_size_per_gpu``, ``gradient_accumulation_steps``, ``gradient_clipping``,
``bf16.enabled``) are not written in ``conf/deepspeed/`` at all. The loop derives its batch
shape (the RL trainer from the rollout: micro-batches per mini-batch) and passes it here, so
the config cannot disagree with the loop, and ``funcall.evaluate`` (no optimizer) needs no stub
of the trainer's keys. One function serves training, the RL reference model and evaluation.
"""
from __future__ import annotations

import copy
from typing import Any

import torch
from omegaconf import DictConfig, OmegaConf

from funcall.utils.errors import ConfigError

DERIVED = ("train_micro_batch_size_per_gpu", "train_batch_size", "gradient_accumulation_steps", "gradient_clipping")
PRECISIONS = ("auto", "bf16", "fp32")


def cpu_has_bf16() -> bool:
    """The CPU computes bf16 matrix products natively (AMX-BF16 or AVX512-BF16)."""
    return bool(torch.cpu._is_amx_tile_supported() or torch.cpu._is_avx512_bf16_supported())


def use_bf16(precision: str) -> bool:
    """DeepSpeed's ``bf16.enabled`` (bf16 weights, fp32 master copy): ``bf16``, or ``auto`` on a GPU
    that supports it. On a CPU it stays off: see `cpu_autocast`."""
    if precision not in PRECISIONS:
        raise ConfigError(f"trainer.precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
    if torch.cuda.is_available():
        return precision == "bf16" or (precision == "auto" and torch.cuda.is_bf16_supported())
    return False


def cpu_autocast(precision: str) -> bool:
    """On a CPU, mixed precision is ``torch.autocast`` to bf16 (weights, gradients and optimizer
    state stay fp32), with ``bf16`` only: ``auto`` stays fp32 on a CPU because over a whole warm
    start bf16 was not faster there (README, "SFT throughput"), fast as its first steps are."""
    if precision not in PRECISIONS:
        raise ConfigError(f"trainer.precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
    if torch.cuda.is_available() or precision == "fp32":
        return False
    if precision == "bf16" and not cpu_has_bf16():
        raise ConfigError("trainer.precision=bf16: this CPU has no native bf16 (AMX-BF16 or AVX512-BF16); use fp32")
    return precision == "bf16"


def deepspeed_config(node: DictConfig | dict, *, micro_batch_size: int = 1, grad_accum: int = 1,
                     max_grad_norm: float = 0.0, precision: str = "auto", inference: bool = False) -> dict[str, Any]:
    """The config ``deepspeed.initialize`` gets: ``node`` (the ``deepspeed`` group) with the batch
    shape, clipping and precision filled in. ``inference``: a model without optimizer (the RL
    reference, evaluation), see `inference_ds_config`."""
    ds = OmegaConf.to_container(node, resolve=True) if isinstance(node, DictConfig) else copy.deepcopy(dict(node))
    for key in DERIVED:
        if key in ds:
            raise ConfigError(f"deepspeed.{key} is derived by the training loop (trainer.micro_batch_size, "
                              f"trainer.grad_accum, optim.max_grad_norm): remove it from the deepspeed config")
    if "enabled" in (ds.get("bf16") or {}):
        raise ConfigError("deepspeed.bf16.enabled follows trainer.precision (auto | bf16 | fp32): set that instead")
    ds.update(train_micro_batch_size_per_gpu=int(micro_batch_size), gradient_accumulation_steps=int(grad_accum),
              gradient_clipping=float(max_grad_norm or 0.0))
    ds["bf16"] = {**(ds.get("bf16") or {}), "enabled": use_bf16(precision)}
    return inference_ds_config(ds) if inference else ds


def inference_ds_config(ds: dict[str, Any]) -> dict[str, Any]:
    """A model without optimizer: ZeRO-3 shards it like the policy (without optimizer offload);
    below stage 3 there is nothing to shard without gradients or optimizer state: stage 0."""
    ds = dict(ds)
    zero = ds.get("zero_optimization", {})
    ds["zero_optimization"] = ({k: v for k, v in zero.items() if k != "offload_optimizer"}
                               if zero.get("stage") == 3 else {"stage": 0})
    ds.pop("zero_force_ds_cpu_optimizer", None)
    return ds


def zero_stage(ds: dict[str, Any]) -> int:
    return int(ds.get("zero_optimization", {}).get("stage", 0))
