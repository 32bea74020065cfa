"""The embedded default model: a small Qwen2 and its byte-level BPE tokenizer, built offline.

No hub is needed: the tokenizer is trained in a second on text from the synthetic task and the
model is initialised from a seed, so the same spec always gives the same weights and the same
vocabulary. The result is an ordinary Hugging Face model directory (config, safetensors,
tokenizer with a ChatML template that renders ``tools=`` and tool calls), cached under
``$FUNCALL_CACHE`` (default ``~/.cache/funcall``) in a folder named by a hash of the spec, so
later runs load it in about a second and any code that takes a model path takes it.

How the tokenizer differs from the obvious one: every whitespace character, digit and
punctuation mark is its own pre-token. A value is then spelled by the same tokens wherever it
stands ("Paris" after a space in the request, and after ``city='`` in the call), which is what
lets a model this small learn to copy arguments at all. The chat markers and the answer tags
(``<think>``, ``</think>``, ``<answer>``, ``</answer>``, ``<tool_call>``, ``</tool_call>``) are
single tokens; only the chat markers are special (dropped when decoding).
"""
from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

CHAT_SPECIAL = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
TAG_TOKENS = ["<think>", "</think>", "<answer>", "</answer>", "<tool_call>", "</tool_call>"]

# ChatML, as Qwen2 writes it, with tools listed in the system turn and tool calls rendered as
# <tool_call>{json}</tool_call>. Callers that put their own tool listing in a system message
# (funcall's python-syntax formats) simply pass no tools=.
CHAT_TEMPLATE = (
    "{%- set msgs = messages -%}"
    "{%- if tools -%}"
    "{{- '<|im_start|>system\\n' -}}"
    "{%- if messages[0]['role'] == 'system' -%}{{- messages[0]['content'] + '\\n\\n' -}}"
    "{%- set msgs = messages[1:] -%}{%- endif -%}"
    "{{- 'You may call these tools:\\n' -}}"
    "{%- for tool in tools -%}{{- (tool.function if tool.function is defined else tool) | tojson -}}"
    "{{- '\\n' -}}{%- endfor -%}"
    "{{- 'For each call reply <tool_call>{\"name\": name, \"arguments\": {...}}</tool_call>.<|im_end|>\\n' -}}"
    "{%- endif -%}"
    "{%- for m in msgs -%}"
    "{{- '<|im_start|>' + m['role'] + '\\n' -}}"
    "{%- if m['content'] is string -%}{{- m['content'] -}}{%- endif -%}"
    "{%- if m['tool_calls'] is defined and m['tool_calls'] -%}"
    "{%- for tc in m['tool_calls'] -%}{%- set f = tc.function if tc.function is defined else tc -%}"
    "{{- '<tool_call>{\"name\": \"' + f.name + '\", \"arguments\": ' -}}"
    "{{- (f.arguments if f.arguments is string else f.arguments | tojson) + '}</tool_call>' -}}"
    "{%- endfor -%}{%- endif -%}"
    "{{- '<|im_end|>\\n' -}}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}{{- '<|im_start|>assistant\\n' -}}{%- endif -%}"
)


@dataclass(frozen=True)
class TinySpec:
    """Everything the tiny model depends on; its hash names the cache folder."""

    hidden_size: int = 192
    num_layers: int = 4
    num_heads: int = 6
    num_kv_heads: int = 6
    intermediate_size: int = 512
    vocab_size: int = 2048
    max_position_embeddings: int = 1024
    corpus_examples: int = 4000
    seed: int = 0
    version: int = 1  # bump when the build recipe changes

    def key(self) -> str:
        """Names the cache folder: the spec plus a fingerprint of the tokenizer's training text,
        so a change to the synthetic task or the prompt format rebuilds the model by itself."""
        sample = "\n".join(tokenizer_corpus(50, self.seed))
        payload = json.dumps(asdict(self), sort_keys=True) + sample
        digest = hashlib.sha256(payload.encode()).hexdigest()[:12]
        return f"tiny-qwen2-h{self.hidden_size}-l{self.num_layers}-{digest}"


def cache_root() -> Path:
    return Path(os.environ.get("FUNCALL_CACHE", Path.home() / ".cache" / "funcall"))


def ensure_tiny_model(spec: TinySpec | None = None, cache_dir: str | os.PathLike | None = None) -> Path:
    """Return the directory of the tiny model for ``spec``, building it on first use.

    Concurrent callers (ranks of one job, parallel sweep jobs) wait on a file lock, and the
    folder appears only complete (built in a temporary folder, then renamed).
    """
    spec = spec or TinySpec()
    root = Path(cache_dir) if cache_dir else cache_root() / "models"
    return build_once(root / spec.key(), lambda out: _build(spec, out))


def build_once(target: Path, build: Callable[[Path], None]) -> Path:
    """``target`` (a model folder), made by ``build(tmp)`` on first use: concurrent callers wait on
    a file lock, and the folder appears only complete (built in a temporary one, then renamed)."""
    if (target / "config.json").exists():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with open(target.parent / f".{target.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (target / "config.json").exists():
            tmp = Path(tempfile.mkdtemp(dir=target.parent, prefix=".build-"))
            try:
                build(tmp)
                tmp.rename(target)
            finally:
                shutil.rmtree(tmp, ignore_errors=True)
    return target


def tokenizer_corpus(n: int, seed: int) -> list[str]:
    """Text the tokenizer learns its merges from: prompts and targets of the synthetic task."""
    from funcall.data.prompts import PromptStyle, system_prompt
    from funcall.data.synthetic import SyntheticTask

    task = SyntheticTask(seed=seed)
    style = PromptStyle(answer_format="think_answer", tool_style="compact")
    texts = []
    for ex in task.train()[:n]:
        texts.append(system_prompt(ex.tools, style))
        texts.append(ex.messages[-1]["content"])
        texts.append(json.dumps(ex.calls) + " " + (ex.reasoning or ""))
        texts.append(" ".join(f"{c['name']}(" + ", ".join(f"{k}={v!r}" for k, v in c["arguments"].items())
                              + ")" for c in ex.calls))
    return texts


def build_tokenizer(spec: TinySpec):
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import AddedToken, PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(r"\s"), behavior="isolated"),
        pre_tokenizers.Digits(individual_digits=True),
        pre_tokenizers.Split(Regex(r"[^\w\s]"), behavior="isolated"),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
    ])
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=spec.vocab_size - len(TAG_TOKENS), special_tokens=CHAT_SPECIAL, min_frequency=2,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train_from_iterator(tokenizer_corpus(spec.corpus_examples, spec.seed), trainer)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok, bos_token=None, eos_token="<|im_end|>", pad_token="<|endoftext|>",
        unk_token=None, additional_special_tokens=["<|im_start|>"], padding_side="left",
        model_max_length=spec.max_position_embeddings)
    fast.add_tokens([AddedToken(t, special=False, normalized=False) for t in TAG_TOKENS])
    fast.chat_template = CHAT_TEMPLATE
    return fast


def _build(spec: TinySpec, out: Path) -> None:
    import torch
    from transformers import GenerationConfig, Qwen2Config, Qwen2ForCausalLM

    tokenizer = build_tokenizer(spec)
    vocab = -(-len(tokenizer) // 64) * 64  # round up: friendlier matmul shapes
    config = Qwen2Config(
        vocab_size=vocab, hidden_size=spec.hidden_size, intermediate_size=spec.intermediate_size,
        num_hidden_layers=spec.num_layers, num_attention_heads=spec.num_heads,
        num_key_value_heads=spec.num_kv_heads, max_position_embeddings=spec.max_position_embeddings,
        tie_word_embeddings=True, rope_theta=10000.0, attention_dropout=0.0,
        bos_token_id=None, eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id)
    torch.manual_seed(spec.seed)
    model = Qwen2ForCausalLM(config)
    model.generation_config = GenerationConfig(
        eos_token_id=[tokenizer.eos_token_id, tokenizer.pad_token_id], pad_token_id=tokenizer.pad_token_id,
        bos_token_id=None)
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    (out / "funcall_tiny_spec.json").write_text(json.dumps(asdict(spec), indent=2))
