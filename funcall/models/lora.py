"""LoRA adapters through peft: the config node, wrapping a loaded model, the merged weights.

``model.lora`` (``conf/model/lora/default.yaml``) is a `LoraSpec`; ``r: null`` (the default) means
full fine-tuning, any positive ``r`` wraps the loaded model with ``peft.get_peft_model``, which
freezes the base weights, so only the adapters are trainable and reach the optimizer.

How it differs from the obvious version:
* The merged weights are never made by ``merge_adapter`` / ``unmerge_adapter`` on the training
  model (each round trip would add a rounding error to the frozen base) nor by a deep copy
  (impossible under ZeRO-3, where each rank holds a shard): `base_weights` lists the base model's
  parameters under their Hugging Face names (peft's ``base_model.model.`` and ``.base_layer``
  dropped, the adapters left out), each with the LoRA layer whose delta (peft's own
  ``get_delta_weight``) is added when the weight is read (`merged`). The vLLM weight sync and the
  HF export read weights that way, so they see names and values of the merged model.
* The RL reference policy is the policy with its adapters disabled (`without_adapters`), so no
  second model is loaded.

Ranks are seeded differently, so each draws its own ``lora_A``; DeepSpeed makes them one:
``deepspeed.initialize`` broadcasts rank 0's parameters (ZeRO-0/1/2), and ZeRO-3 broadcasts every
parameter it partitions after loading, the adapters included.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch

from funcall.utils.errors import ConfigError

ADAPTER = "default"  # peft's name of the one adapter


@dataclass
class LoraSpec:
    """``model.lora``: peft's LoraConfig in the names the config uses (module docstring)."""

    r: int | None = None
    alpha: float = 16
    dropout: float = 0.0
    target_modules: Any = field(default_factory=lambda: ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj",
                                                          "up_proj", "down_proj"])

    @property
    def enabled(self) -> bool:
        return self.r is not None

    def config(self):
        from peft import LoraConfig

        if not isinstance(self.r, int) or isinstance(self.r, bool) or self.r <= 0:
            raise ConfigError(f"model.lora.r must be a positive integer (or null for full fine-tuning), got {self.r!r}")
        if not 0.0 <= float(self.dropout) < 1.0:
            raise ConfigError(f"model.lora.dropout must be in [0, 1), got {self.dropout!r}")
        targets = self.target_modules
        if not isinstance(targets, str):
            targets = [str(t) for t in targets]
        if not targets:
            raise ConfigError("model.lora.target_modules is empty: name the modules to adapt, or 'all-linear'")
        return LoraConfig(r=self.r, lora_alpha=float(self.alpha), lora_dropout=float(self.dropout),
                          target_modules=targets, bias="none", task_type="CAUSAL_LM")


def lora_spec(node: Any) -> LoraSpec:
    """A `LoraSpec` from ``model.lora`` (a mapping, a `LoraSpec`, or None = off)."""
    if node is None:
        return LoraSpec()
    if isinstance(node, LoraSpec):
        return node
    unknown = set(node) - {"r", "alpha", "dropout", "target_modules"}
    if unknown:
        raise ConfigError(f"model.lora: unknown keys {sorted(unknown)} (r, alpha, dropout, target_modules)")
    return LoraSpec(**dict(node))


def apply_lora(model: torch.nn.Module, spec: LoraSpec, checkpointing: bool = False) -> torch.nn.Module:
    """``model`` wrapped with ``spec``'s adapters (a peft model), or ``model`` when LoRA is off."""
    if not spec.enabled:
        return model
    from peft import get_peft_model

    config = spec.config()
    try:
        peft_model = get_peft_model(model, config)
    except ValueError as exc:
        raise ConfigError(f"model.lora.target_modules={spec.target_modules!r}: {str(exc).splitlines()[0]}") from exc
    if checkpointing:
        peft_model.enable_input_require_grads()  # frozen embeddings: checkpointed blocks still need a grad path
    return peft_model


def is_lora(model: torch.nn.Module) -> bool:
    from peft import PeftModel

    return isinstance(model, PeftModel)


def base_weights(model: torch.nn.Module) -> list[tuple[str, torch.nn.Parameter, torch.nn.Module | None]]:
    """``(hf_name, parameter, lora_layer or None)`` for every weight of the base model, tied ones
    under each name; the adapters' own parameters are left out. For a plain model: its parameters."""
    if not is_lora(model):
        return [(name, p, None) for name, p in model.named_parameters(remove_duplicate=False)]
    from peft.tuners.lora import LoraLayer

    base = model.get_base_model()
    layers = {name: m for name, m in base.named_modules(remove_duplicate=False) if isinstance(m, LoraLayer)}
    out = []
    for name, param in base.named_parameters(remove_duplicate=False):
        if any(part.startswith("lora_") for part in name.split(".")):
            continue  # an adapter's own (lora_A, lora_B, ...)
        owner, sep, leaf = name.rpartition(".base_layer.")
        if sep and owner in layers:
            out.append((f"{owner}.{leaf}", param, layers[owner] if leaf == "weight" else None))
        else:
            out.append((name, param, None))
    return out


def adapter_parameters(layer: torch.nn.Module) -> list[torch.nn.Parameter]:
    """The parameters of ``layer``'s adapter (what its delta weight is made of)."""
    return [p for n, p in layer.named_parameters() if not n.startswith("base_layer.")]


def merged(param: torch.Tensor, layer: torch.nn.Module | None) -> torch.Tensor:
    """The merged value of a base weight: ``param`` plus ``layer``'s delta (peft's
    ``get_delta_weight``), or ``param`` itself when no adapter touches it. Needs the full
    (gathered) tensors under ZeRO-3."""
    if layer is None:
        return param.data
    with torch.no_grad():
        return param.data + layer.get_delta_weight(ADAPTER).to(param.dtype)


def without_adapters(forward: Callable, model: torch.nn.Module) -> Callable:
    """``forward`` (e.g. the DeepSpeed engine around ``model``) run with ``model``'s adapters
    disabled: the base model, the RL reference of a LoRA policy, at no extra memory."""

    def reference(*args, **kwargs):
        with model.disable_adapter():
            return forward(*args, **kwargs)

    return reference
