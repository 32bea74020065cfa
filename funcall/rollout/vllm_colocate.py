"""`rollout=vllm`: a `RolloutEngine` on vLLM inside the training process (TRL's "colocate" mode).

Each rank starts its own ``vllm.LLM`` (in-process: ``VLLM_ENABLE_V1_MULTIPROCESSING=0``) from the
folder or hub id the policy was loaded from, and generates its own share of the prompts. Token ids
go in and come out (a completion is never re-tokenised): ``n`` samples per prompt, temperature and
top-p, the EOS kept at the end of a completion that stopped, as the HF engine returns it; with
``with_stats`` the log-prob of every sampled token under ``softmax(logits / temperature)``
(``logprobs_mode="processed_logprobs"``). vLLM reports no entropies, so the trainer recomputes the
old log-probs and entropies with its own forward pass and logs how far vLLM's log-probs are from
its own (``logprob/gen_vs_train_abs``); ``loss.is_correction=tis`` corrects for the gap.

`sync_weights` pushes the policy's current weights into the engine before each rollout phase:
gathered in bounded chunks under ZeRO-3 (`funcall.rollout.weights`), loaded with vLLM's in-place
``reload_weights`` (which re-runs the CPU backend's weight repacking), and then the prefix cache is
reset: without that, prompts seen before the update would reuse key/value blocks computed with the
old weights (that, not the reload, is what made a reloaded engine disagree with HF). The model's own
generation defaults are switched off (``generation_config="vllm"``), as the HF engine does, and
vLLM computes in the policy's dtype unless told otherwise (its ``auto`` would run a float32
checkpoint in bfloat16 on a CPU, and the completions would no longer be the trainer's).

GPU options pass through: ``gpu_memory_utilization``, ``tensor_parallel_size`` (with the
``external_launcher`` backend, so each torchrun rank is one vLLM worker), ``enable_prefix_caching``,
``enable_sleep_mode`` (the engine sleeps between rollout phases, freeing its memory for the update).
On the CPU: ``kv_cache_memory_gib`` bounds the cache (vLLM would take most of the RAM), and vLLM's
OpenMP thread binding is off (it would pin the trainer's threads too).
"""
from __future__ import annotations

import os
from typing import Any

import torch

from funcall.dist import rank
from funcall.rollout.engine import Rollouts
from funcall.rollout.weights import gathered_weights


def source_path(module: torch.nn.Module) -> str:
    """The folder or hub id ``from_pretrained`` loaded ``module`` from (a Hugging Face model's
    ``name_or_path``); vLLM starts from it and `sync_weights` brings it up to date."""
    if not module.name_or_path:
        raise ValueError("rollout=vllm needs a model loaded with from_pretrained (its name_or_path is empty)")
    return str(module.name_or_path)


class VLLMEngine:
    """`funcall.rollout.engine.RolloutEngine` on an in-process vLLM (module docstring)."""

    def __init__(self, module: torch.nn.Module, tokenizer, ds_engine=None, model: str | None = None,
                 dtype: str | None = None, max_model_len: int | None = None, gpu_memory_utilization: float = 0.3,
                 kv_cache_memory_gib: float | None = None, tensor_parallel_size: int = 1,
                 enable_prefix_caching: bool = True, enable_sleep_mode: bool = False, enforce_eager: bool = False,
                 seed: int = 0, sync_chunk_mb: float = 512, llm_kwargs: dict[str, Any] | None = None):
        os.environ.setdefault("VLLM_ENABLE_V1_MULTIPROCESSING", "0")
        os.environ.setdefault("VLLM_CPU_OMP_THREADS_BIND", "nobind")
        from vllm import LLM

        self.module, self.tokenizer = module, tokenizer
        self.zero3 = bool(ds_engine is not None and ds_engine.zero_optimization_partition_weights())
        self.sync_chunk_mb = sync_chunk_mb
        self.sleeping = False
        self.enable_sleep_mode = enable_sleep_mode
        eos = module.generation_config.eos_token_id if module.generation_config is not None else None
        eos = eos if isinstance(eos, list) else [eos] if eos is not None else []
        self.eos_ids = sorted(set(eos + [tokenizer.eos_token_id]) - {None})
        options: dict[str, Any] = dict(
            model=model or source_path(module), dtype=dtype or str(module.dtype).removeprefix("torch."),
            seed=seed + rank(), enforce_eager=enforce_eager,
            enable_prefix_caching=enable_prefix_caching, enable_sleep_mode=enable_sleep_mode,
            gpu_memory_utilization=gpu_memory_utilization, tensor_parallel_size=tensor_parallel_size,
            logprobs_mode="processed_logprobs", generation_config="vllm", max_model_len=max_model_len)
        if kv_cache_memory_gib is not None:
            options["kv_cache_memory_bytes"] = int(kv_cache_memory_gib * 1024**3)
        if tensor_parallel_size > 1:
            options["distributed_executor_backend"] = "external_launcher"
        options.update(llm_kwargs or {})
        self.llm = LLM(**{k: v for k, v in options.items() if v is not None})

    def sync_weights(self) -> None:
        """Load the policy's current weights into vLLM (collective under ZeRO-3)."""
        if self.sleeping:
            self.llm.wake_up()
            self.sleeping = False
        weights = gathered_weights(self.module, self.zero3, self.sync_chunk_mb)
        self.llm.collective_rpc("reload_weights", kwargs={"weights_iterator": weights, "is_checkpoint_format": True})
        self.llm.reset_prefix_cache()

    def release(self) -> None:
        """Free the engine's memory until the next `sync_weights` (with ``enable_sleep_mode``)."""
        if self.enable_sleep_mode and not self.sleeping:
            self.llm.sleep(level=1)
            self.sleeping = True

    def generate(self, prompts: list[list[int]], *, max_new_tokens: int, num_samples: int = 1,
                 temperature: float = 1.0, top_p: float = 1.0, greedy: bool = False,
                 with_stats: bool = False) -> Rollouts:
        from vllm import SamplingParams
        from vllm.inputs import TokensPrompt

        if self.sleeping:
            self.llm.wake_up()
            self.sleeping = False
        params = SamplingParams(n=num_samples, max_tokens=max_new_tokens, temperature=0.0 if greedy else temperature,
                                top_p=1.0 if greedy else top_p, stop_token_ids=self.eos_ids,
                                logprobs=0 if with_stats else None, detokenize=False)
        outputs = self.llm.generate([TokensPrompt(prompt_token_ids=list(p)) for p in prompts], params, use_tqdm=False)
        ids, logps = [], []
        for request in outputs:  # in prompt order; each holds its n samples
            for sample in request.outputs:
                tokens = list(sample.token_ids)
                ids.append(tokens)
                if with_stats:
                    logps.append([float(step[t].logprob) for step, t in zip(sample.logprobs, tokens)])
        return Rollouts(ids, logps if with_stats else None)
