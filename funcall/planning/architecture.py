"""The shape a memory plan needs (parameter counts, widths, vocabulary), without loading weights.

The config comes from where ``python -m funcall.train`` would load the model: ``model.path`` (a
local folder's ``config.json`` through ``transformers.AutoConfig``), ``model.embedded`` (the spec's
own ``AutoConfig.for_model`` arguments, so the 494M rehearsal model need not be built) or
``model.tiny`` (its built folder, which takes seconds on first use: the vocabulary is whatever its
tokenizer training gives). Parameters are counted on an instance built under
``torch.device("meta")``, so a 7B model costs no memory and no time. How it departs from the
obvious: a hub id is never fetched (the planner works offline); it must be a local folder, or the
hub's cache must already hold its config.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from funcall.utils.errors import ConfigError


@dataclass(frozen=True)
class Architecture:
    """What the arithmetic reads: counts of parameters and the widths of one decoder layer."""

    params: int               # unique parameters (a tied embedding counted once)
    largest_layer_params: int  # the largest module's own parameters (DeepSpeed's ZeRO-3 estimator's term)
    lora_params: int          # adapter parameters when model.lora.r is set, else 0
    hidden: int
    layers: int
    heads: int
    kv_heads: int
    head_dim: int
    intermediate: int
    vocab: int
    tied: bool                # the output layer shares the input embedding (tie_word_embeddings)
    context: int | None       # max_position_embeddings
    source: str               # where the config came from, for the printout


def model_config(model_cfg):
    """The transformers config of ``model_cfg`` (the ``model`` group), read offline."""
    from transformers import AutoConfig

    if model_cfg.get("path"):
        path = str(model_cfg.path)
        if not Path(path).expanduser().is_dir():
            try:  # a hub id already in the local cache
                return AutoConfig.from_pretrained(path, local_files_only=True), f"{path} (hub cache)"
            except Exception:
                raise ConfigError(f"model.path={path}: not a local folder and not in the hub cache; pass "
                                  f"model.path=DIR holding its config.json") from None
        if not (Path(path).expanduser() / "config.json").exists():
            raise ConfigError(f"model.path={path}: no config.json in that folder")
        return AutoConfig.from_pretrained(Path(path).expanduser()), path
    embedded = model_cfg.get("embedded")
    if embedded is not None:
        return embedded_config(embedded), "model.embedded"
    from funcall.models.tiny import TinySpec, ensure_tiny_model

    folder = ensure_tiny_model(TinySpec(**(model_cfg.get("tiny") or {})))
    return AutoConfig.from_pretrained(folder), "model.tiny"


def embedded_config(spec_cfg):
    """``funcall.models.random_qwen.RandomQwenSpec.build``'s config, without building the model."""
    from transformers import AutoConfig

    from funcall.models.random_qwen import QWEN3_VOCAB, RandomQwenSpec

    keys = {k: v for k, v in dict(spec_cfg).items() if k != "_target_"}
    try:
        spec = RandomQwenSpec(**keys)
    except TypeError as exc:
        raise ConfigError(f"model.embedded: {exc}") from None
    return AutoConfig.for_model(
        spec.architecture, vocab_size=QWEN3_VOCAB, hidden_size=spec.hidden_size,
        intermediate_size=spec.intermediate_size, num_hidden_layers=spec.num_layers,
        num_attention_heads=spec.num_heads, num_key_value_heads=spec.num_kv_heads, head_dim=spec.head_dim,
        max_position_embeddings=spec.max_position_embeddings, tie_word_embeddings=True)


def lora_params(model, lora_cfg) -> int:
    """Adapter parameters peft would add: ``r x (in + out)`` per adapted linear layer."""
    import torch

    if lora_cfg is None or lora_cfg.get("r") is None:
        return 0
    rank, targets = int(lora_cfg.r), lora_cfg.get("target_modules") or "all-linear"
    total = 0
    for name, module in model.named_modules():
        if not isinstance(module, torch.nn.Linear) or name.endswith("lm_head"):
            continue
        if targets == "all-linear" or name.rsplit(".", 1)[-1] in set(targets):
            total += rank * (module.in_features + module.out_features)
    return total


def read_architecture(model_cfg) -> Architecture:
    """The `Architecture` of the ``model`` group, counted on the meta device."""
    import torch
    from transformers import AutoModelForCausalLM

    config, source = model_config(model_cfg)
    with torch.device("meta"):
        model = AutoModelForCausalLM.from_config(config)
    params = sum({id(p): p.numel() for p in model.parameters()}.values())
    largest = max(sum(p.numel() for p in m.parameters(recurse=False)) for m in model.modules())
    text = config.get_text_config() if hasattr(config, "get_text_config") else config
    heads = int(text.num_attention_heads)
    head_dim = int(getattr(text, "head_dim", None) or text.hidden_size // heads)
    return Architecture(
        params=params, largest_layer_params=largest, lora_params=lora_params(model, model_cfg.get("lora")),
        hidden=int(text.hidden_size), layers=int(text.num_hidden_layers), heads=heads,
        kv_heads=int(getattr(text, "num_key_value_heads", None) or heads), head_dim=head_dim,
        intermediate=int(text.intermediate_size), vocab=int(text.vocab_size),
        tied=bool(getattr(config, "tie_word_embeddings", False)), context=getattr(text, "max_position_embeddings", None), source=source)
