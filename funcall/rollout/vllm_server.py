"""`rollout=vllm_server`: a `RolloutEngine` against a separately started ``vllm serve`` (TRL's "server" mode).

The server runs on its own devices (``vllm serve MODEL --logprobs-mode processed_logprobs``, with
``VLLM_SERVER_DEV_MODE=1`` for the disk sync below); every rank sends its prompts as token ids to
the OpenAI-compatible ``/v1/completions`` route (``n`` samples per prompt, ``return_token_ids``),
so completions come back as token ids, never re-tokenised, each ending with the EOS when it stopped.

`sync_weights` pushes the policy's current weights before each rollout phase, gathered in bounded
chunks under ZeRO-3 on every rank and sent by rank 0 only:
* ``sync=disk`` (works anywhere, the CPU included): rank 0 writes the weights as one safetensors
  file into ``weights_dir`` (a folder the server can read), asks the server to reload them in place
  (``/collective_rpc`` -> the workers' ``reload_weights``), and resets its prefix cache;
* ``sync=nccl`` (GPUs): vLLM's own weight-transfer API (``/init_weight_transfer_engine`` once,
  then ``/update_weights`` over NCCL), through vLLM's trainer-side engine.
Every request has a timeout; a server that is gone or answers with an error stops the run with one
line naming ``rollout.engine.base_url`` (the last checkpoint is whatever ``trainer.save_every``
left, untouched).
"""
from __future__ import annotations

import json
import os
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import torch

from funcall.dist import barrier, rank
from funcall.rollout.engine import Rollouts
from funcall.rollout.weights import gathered_weights, weight_shapes
from funcall.utils.errors import UserError

SYNC_MODES = ("disk", "nccl")


class ServerError(UserError):
    """The vLLM server cannot be reached or refused a request."""


class VLLMServerEngine:
    """`funcall.rollout.engine.RolloutEngine` over HTTP (module docstring)."""

    def __init__(self, module: torch.nn.Module, tokenizer, ds_engine=None, base_url: str = "http://127.0.0.1:8000",
                 model: str | None = None, timeout_s: float = 600.0, sync: str = "disk", weights_dir: str | None = None,
                 sync_chunk_mb: float = 512, batch_size: int = 256, nccl: dict | None = None):
        if sync not in SYNC_MODES:
            raise UserError(f"rollout.engine.sync must be one of {', '.join(SYNC_MODES)}, got {sync!r}")
        self.module, self.tokenizer = module, tokenizer
        self.zero3 = bool(ds_engine is not None and ds_engine.zero_optimization_partition_weights())
        self.base_url = base_url.rstrip("/")
        self.timeout_s = float(timeout_s)
        self.sync = sync
        self.weights_dir = Path(weights_dir or os.environ.get("FUNCALL_VLLM_WEIGHTS_DIR", "vllm_weights")).resolve()
        self.sync_chunk_mb = sync_chunk_mb
        self.batch_size = int(batch_size)
        eos = module.generation_config.eos_token_id if module.generation_config is not None else None
        eos = eos if isinstance(eos, list) else [eos] if eos is not None else []
        self.eos_ids = sorted(set(eos + [tokenizer.eos_token_id]) - {None})
        self.model = model or self._served_model()
        self.nccl = dict(nccl or {})  # sync=nccl: master_address, master_port, world_size (trainer sender + server workers)
        if sync == "nccl" and not {"master_address", "master_port", "world_size"} <= set(self.nccl):
            raise UserError("rollout.engine.sync=nccl needs rollout.engine.nccl.master_address, .master_port and .world_size")
        self.transfer = None  # the NCCL trainer engine, made at the first sync

    # -- HTTP ------------------------------------------------------------------------------------
    def _call(self, path: str, payload: dict | None = None, method: str = "POST") -> Any:
        data = None if payload is None else json.dumps(payload).encode()
        request = urllib.request.Request(f"{self.base_url}{path}", data=data, method=method,
                                         headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_s) as response:
                body = response.read()
        except urllib.error.HTTPError as exc:
            detail = exc.read()[:300].decode(errors="replace")
            raise ServerError(f"rollout.engine.base_url={self.base_url}: {path} answered {exc.code}: {detail}") from None
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise ServerError(f"rollout.engine.base_url={self.base_url}: the vLLM server is not answering ({reason})") from None
        return json.loads(body) if body else None

    def _served_model(self) -> str:
        models = self._call("/v1/models", method="GET")
        names = [m["id"] for m in (models or {}).get("data", [])]
        if not names:
            raise ServerError(f"rollout.engine.base_url={self.base_url}: the server serves no model")
        return names[0]

    # -- weights ---------------------------------------------------------------------------------
    def sync_weights(self) -> None:
        """Push the current weights (module docstring); collective: every rank calls it."""
        if self.sync == "nccl":
            self._sync_nccl()
        else:
            self._sync_disk()
        barrier()  # no rank generates before the server has the new weights

    def _sync_disk(self) -> None:
        from safetensors.torch import save_file

        tensors = {}
        for name, tensor in gathered_weights(self.module, self.zero3, self.sync_chunk_mb):
            if rank() == 0:
                tensors[name] = tensor.detach().to("cpu").contiguous().clone()
        if rank() != 0:
            return
        self.weights_dir.mkdir(parents=True, exist_ok=True)
        save_file(tensors, str(self.weights_dir / "model.safetensors"))
        self._call("/collective_rpc", {"method": "reload_weights", "kwargs": {"weights_path": str(self.weights_dir)}})
        self._call("/reset_prefix_cache")

    def _sync_nccl(self) -> None:
        """vLLM's trainer-side NCCL engine, fed by `ZeroGatheredSource`. The GPU path: it cannot run
        on a CPU-only machine (no NCCL), so it has not been run where funcall's tests run."""
        from vllm.distributed.weight_transfer import HTTPVLLMWeightSyncClient, WeightTransferTrainerFactory
        from vllm.distributed.weight_transfer.nccl_engine import NCCLTrainerInitInfo

        if self.transfer is None:
            info = NCCLTrainerInitInfo(self.nccl["master_address"], int(self.nccl["master_port"]),
                                       int(self.nccl["world_size"]), rank=rank())
            self.transfer = WeightTransferTrainerFactory.trainer_init(
                info, client=HTTPVLLMWeightSyncClient(self.base_url, timeout=self.timeout_s),
                source=zero_gathered_source(self.module, self.zero3, self.sync_chunk_mb))
        self.transfer.update_weights()
        if rank() == 0:
            self._call("/reset_prefix_cache")

    def release(self) -> None:  # the server's devices are its own
        return None

    # -- generation ------------------------------------------------------------------------------
    def generate(self, prompts: list[list[int]], *, max_new_tokens: int, num_samples: int = 1,
                 temperature: float = 1.0, top_p: float = 1.0, greedy: bool = False,
                 with_stats: bool = False) -> Rollouts:
        ids: list[list[int]] = []
        logps: list[list[float]] = []
        for start in range(0, len(prompts), max(1, self.batch_size // max(num_samples, 1))):
            batch = [list(p) for p in prompts[start:start + max(1, self.batch_size // max(num_samples, 1))]]
            reply = self._call("/v1/completions", {
                "model": self.model, "prompt": batch, "n": num_samples, "max_tokens": max_new_tokens,
                "temperature": 0.0 if greedy else temperature, "top_p": 1.0 if greedy else top_p,
                "stop_token_ids": self.eos_ids, "logprobs": 0 if with_stats else None, "return_token_ids": True,
                "skip_special_tokens": False})
            choices = sorted(reply["choices"], key=lambda c: c["index"])
            if len(choices) != len(batch) * num_samples:
                raise ServerError(f"rollout.engine.base_url={self.base_url}: {len(choices)} completions for "
                                  f"{len(batch)} prompts x {num_samples}")
            for choice in choices:
                ids.append(list(choice["token_ids"]))
                if with_stats:
                    logps.append([float(x) for x in choice["logprobs"]["token_logprobs"]])
        return Rollouts(ids, logps if with_stats else None)


def zero_gathered_source(module: torch.nn.Module, zero3: bool, chunk_mb: float):
    """A vLLM ``WeightSource`` over `funcall.rollout.weights.gathered_weights` (ZeRO-3 shards
    gathered in chunks; vLLM's own ``ModuleSource`` knows FSDP's DTensors, not DeepSpeed's)."""
    from vllm.distributed.weight_transfer import ParamMeta, WeightSource

    class Source(WeightSource):
        def metadata(self) -> list:
            return [ParamMeta(name, dtype, shape) for name, dtype, shape in weight_shapes(module)]

        def __iter__(self):
            return gathered_weights(module, zero3, chunk_mb)

    return Source()
