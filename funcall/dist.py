"""Ranks and collectives: one code path for one process and for many. Every layer may import it.

Every run, even a single process started with plain ``python``, goes through
``deepspeed.init_distributed`` and ``deepspeed.initialize``, so what is tested on one CPU
process is what runs on eight GPUs. Without a launcher we fill in the environment a launcher
would set (rank 0 of 1, a free local port); under a submitit launcher (Slurm) the tasks of a job
find their ranks from submitit's environment. On the CPU the backend is gloo (the CPU build of
torch has no NCCL); on GPUs it is NCCL.
"""
from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class DistInfo:
    rank: int
    world_size: int
    local_rank: int

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def device() -> torch.device:
    if torch.cuda.is_available():
        return torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)))
    return torch.device("cpu")


def init_distributed() -> DistInfo:
    """Start (or join) the process group; safe to call more than once."""
    if not dist.is_initialized():
        if "RANK" not in os.environ and os.environ.get("SUBMITIT_EXECUTOR"):
            # a Slurm (or submitit_local) task of a multi-task job: rank and rendezvous from submitit
            from submitit.helpers import TorchDistributedEnvironment

            TorchDistributedEnvironment().export(set_cuda_visible_devices=False)
        if "RANK" not in os.environ:
            os.environ.update(RANK="0", LOCAL_RANK="0", WORLD_SIZE="1", MASTER_ADDR="127.0.0.1",
                              MASTER_PORT=os.environ.get("MASTER_PORT") or str(free_port()))
        import deepspeed

        backend = "nccl" if torch.cuda.is_available() else "gloo"
        if torch.cuda.is_available():
            torch.cuda.set_device(device())
        deepspeed.init_distributed(dist_backend=backend)
    return DistInfo(dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", 0)))


def broadcast_object(obj: Any, src: int = 0) -> Any:
    if not dist.is_initialized() or dist.get_world_size() == 1:
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=src)
    return box[0]


def all_reduce_sum(values: list[float]) -> list[float]:
    """Sum a few Python numbers over ranks (metrics, eval counts)."""
    if not dist.is_initialized() or dist.get_world_size() == 1:
        return list(values)
    t = torch.tensor(values, dtype=torch.float64, device=device())  # NCCL reduces device tensors only
    dist.all_reduce(t)
    return t.tolist()


def all_reduce_max(value: int) -> int:
    """The largest of one integer over ranks (how many collective calls every rank must make)."""
    if not dist.is_initialized() or dist.get_world_size() == 1:
        return int(value)
    t = torch.tensor([int(value)], dtype=torch.int64, device=device())
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return int(t.item())


def all_gather_objects(obj: Any) -> list[Any]:
    if not dist.is_initialized() or dist.get_world_size() == 1:
        return [obj]
    out: list[Any] = [None] * dist.get_world_size()
    dist.all_gather_object(out, obj)
    return out


def barrier() -> None:
    if dist.is_initialized() and dist.get_world_size() > 1:
        dist.barrier()


def shutdown() -> None:
    """End a multi-rank run in step: every rank reaches here, then the process group is torn down.

    Left to the interpreter's exit, gloo's threads can outlive the peer that already left and abort
    the process (``terminate called without an active exception``, exit -6) after a run that
    finished well. One process alone has nothing to tear down (and an in-process caller may start
    another run on the same group)."""
    if dist.is_initialized() and dist.get_world_size() > 1:
        dist.barrier()
        dist.destroy_process_group()


def zero_stage(ds_config: dict) -> int:
    return int(ds_config.get("zero_optimization", {}).get("stage", 0))


def sum_over_ranks(values: dict[str, float]) -> dict[str, float]:
    """Sum a dict of numbers over ranks; a key missing on a rank counts as 0 there. Every rank
    gets the same result and makes the same two collective calls, whatever keys it holds."""
    if not dist.is_initialized() or dist.get_world_size() == 1:
        return dict(values)
    keys = sorted({k for part in all_gather_objects(sorted(values)) for k in part})
    return dict(zip(keys, all_reduce_sum([float(values.get(k, 0.0)) for k in keys])))



def shard(n: int, rank: int, world_size: int) -> list[int]:
    """The items of ``range(n)`` this rank takes: every ``world_size``-th, starting at ``rank``
    (counts differ by at most one between ranks)."""
    return list(range(rank, n, world_size))


def rank() -> int:
    """This process's rank (0 without a process group)."""
    return dist.get_rank() if dist.is_initialized() else 0
