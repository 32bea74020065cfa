"""Load a causal LM and its tokenizer from a local directory, a hub id, or the tiny spec.

``model.path`` is whatever ``from_pretrained`` takes; ``null`` means the offline tiny model
(`funcall.models.tiny`), or with ``model.embedded`` another model built offline from a spec
(``model=qwen3_small``, `funcall.models.random_qwen`), built and cached on first use. Under ZeRO-3 the weights are loaded
straight into shards (``HfDeepSpeedConfig`` switches ``from_pretrained`` to ``zero.Init``), so a
7B model never has to fit whole on one device. The tokenizer is returned with left padding (what
batched generation needs) and a pad token (its EOS when it has none). With ``model.lora.r`` set the
model comes back wrapped in LoRA adapters (`funcall.models.lora`), only they trainable.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import torch

from funcall.models.lora import apply_lora, lora_spec
from funcall.models.tiny import TinySpec, ensure_tiny_model
from funcall.utils.errors import ConfigError

DTYPES = {"float32": torch.float32, "fp32": torch.float32, "bfloat16": torch.bfloat16, "bf16": torch.bfloat16,
          "float16": torch.float16, "fp16": torch.float16}


class EmbeddedModel(Protocol):
    """A model funcall builds offline from a spec and caches (`funcall.models.random_qwen.RandomQwenSpec`)."""

    def ensure(self) -> Path:
        """The model's folder, built on first use."""


@dataclass
class ModelSource:
    """What `load_pretrained` reads; built from ``conf/model/*.yaml``."""

    path: str | None = None
    tiny: dict | None = None
    embedded: EmbeddedModel | None = None  # a model built offline from a spec (model=qwen3_small), when path is null
    dtype: str = "float32"
    attn_implementation: str | None = "sdpa"
    gradient_checkpointing: bool = False
    trust_remote_code: bool = False
    lora: Any = None  # funcall.models.lora.LoraSpec's keys; None or r=None: full fine-tuning

    def resolved_path(self) -> str:
        if self.path:
            return str(self.path)
        if self.embedded is not None:
            return str(self.embedded.ensure())
        return str(ensure_tiny_model(TinySpec(**(self.tiny or {}))))


HUB_ID = re.compile(r"[A-Za-z0-9][\w.-]*/[\w.-]+")  # owner/name, as the Hugging Face hub spells a repository
WEIGHT_FILES = ("*.safetensors", "*.safetensors.index.json", "pytorch_model*.bin", "*.bin.index.json")
TOKENIZER_FILES = ("tokenizer.json", "tokenizer.model", "vocab.json", "spiece.model", "tiktoken.model")


def check_model_path(path: str, option: str = "model.path") -> None:
    """A one-line `ConfigError` for a ``model.path`` that cannot load, found before anything heavy:
    a local folder must hold a ``config.json``, weights and a tokenizer (an empty folder used to
    end 40 lines of traceback later in "need sentencepiece or tiktoken"); a path that does not
    exist must look like a hub id (``owner/name``), which ``from_pretrained`` downloads."""
    folder = Path(path).expanduser()
    if not folder.exists():
        if HUB_ID.fullmatch(path):
            return
        raise ConfigError(f"{option}={path}: no such folder (and not a hub id owner/name)")
    if not folder.is_dir():
        raise ConfigError(f"{option}={path}: not a folder (a Hugging Face model folder holds config.json, weights and a tokenizer)")
    missing = [what for what, patterns in (("config.json", ("config.json",)), ("weights (*.safetensors or *.bin)", WEIGHT_FILES),
                                           ("a tokenizer (tokenizer.json, tokenizer.model or vocab.json)", TOKENIZER_FILES))
               if not any(any(folder.glob(p)) for p in patterns)]
    if missing:
        listed = missing[0] if len(missing) == 1 else ", ".join(missing[:-1]) + " and " + missing[-1]
        raise ConfigError(f"{option}={path}: not a Hugging Face model folder, it lacks {listed}")


def load_tokenizer(path: str, trust_remote_code: bool = False):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(path, trust_remote_code=trust_remote_code)
    tok.padding_side = "left"
    if tok.pad_token_id is None:
        tok.pad_token = tok.eos_token
    return tok


def load_pretrained(source: ModelSource, ds_config: dict[str, Any] | None = None):
    """Return ``(model, tokenizer, path)``. ``ds_config`` with ZeRO stage 3 loads sharded."""
    from transformers import AutoModelForCausalLM

    path = source.resolved_path()
    check_model_path(path)
    keep_alive = None
    if ds_config and ds_config.get("zero_optimization", {}).get("stage") == 3:
        from transformers.integrations import HfDeepSpeedConfig

        keep_alive = HfDeepSpeedConfig(ds_config)  # noqa: F841 - must live through from_pretrained
    try:
        tokenizer = load_tokenizer(path, source.trust_remote_code)
        model = AutoModelForCausalLM.from_pretrained(
            path, dtype=DTYPES[source.dtype], attn_implementation=source.attn_implementation,
            trust_remote_code=source.trust_remote_code)
    except OSError as exc:
        raise ConfigError(f"model.path: cannot load {path!r}: {str(exc).splitlines()[0]}") from exc
    del keep_alive
    if source.gradient_checkpointing:
        model.gradient_checkpointing_enable()
        model.config.use_cache = False
    return apply_lora(model, lora_spec(source.lora), source.gradient_checkpointing), tokenizer, path


def context_length(model, engine_cfg=None) -> int | None:
    """Tokens one sequence may hold: the model's context (``max_position_embeddings``), or the
    generation engine's ``max_model_len`` when it sets a smaller one (vLLM), so the prompt budgets
    that keep prompts whole and unrun prompts counted are computed against what generation accepts."""
    limits = [getattr(model.config, "max_position_embeddings", None),
              None if engine_cfg is None else engine_cfg.get("max_model_len")]
    known = [int(x) for x in limits if x]
    return min(known) if known else None

