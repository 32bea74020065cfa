"""Peak memory per phase of a run (``memory/<phase>_gb`` metrics and ``summary.json``), per rank.

What "memory" means depends on the device, and this module says which it reads rather than
pretending they are one number:
  * CUDA: ``torch.cuda.max_memory_allocated``, the caching allocator's peak of live tensors since
    the phase began (``reset_peak_memory_stats``): what a memory plan predicts. The allocator's
    reserve and vLLM's pre-allocated KV cache sit on top of it (vLLM's share is its
    ``gpu_memory_utilization``, outside this count).
  * CPU: the process's peak resident size (``VmHWM``), reset at each phase's start by writing ``5``
    to ``/proc/self/clear_refs`` (Linux). It counts the whole process (torch, DeepSpeed, Python,
    vLLM's CPU KV cache), so it sits above a plan of tensors by the libraries' fixed ~0.5-1 GB. And
    weights read from safetensors are memory-mapped: their pages count only once touched, so on a
    CPU ``setup`` can stay far below the weights' size (measured: 0.55 GB after loading the 1.98 GB
    ``qwen2_5_0_5b_random``) and the first step's phase carries them instead.
Where neither is available (no ``/proc``), nothing is measured and no metric is logged.

Phases: ``setup`` (from process start to the first step: loading, sharding, engines), and then
whatever the loop names (RL: ``rollout``, ``logprob``, ``update``; SFT: ``step``; both: ``eval``,
``checkpoint``, ``export``). The run's peak of each phase on each rank goes to ``summary.json`` as
``memory_peak_gb_per_rank``; each step's row carries the largest over ranks.
"""
from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator

import torch

GB = 1024 ** 3


def _cpu_peak_bytes() -> int | None:
    try:
        with open("/proc/self/status") as f:
            found = re.search(r"VmHWM:\s+(\d+)\s+kB", f.read())
    except OSError:
        return None
    return int(found.group(1)) * 1024 if found else None


def _cpu_reset() -> None:
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        pass


class PeakMemory:
    """`phase(name)` measures the peak of one phase; `run_peaks` keeps each phase's largest (GB)."""

    def __init__(self, device: torch.device | str):
        self.cuda = torch.device(device).type == "cuda"
        self.run_peaks: dict[str, float] = {}
        self.step_peaks: dict[str, float] = {}  # this step's phases, emptied by `take_step`
        self._record("setup")  # everything since the process started

    def _reset(self) -> None:
        if self.cuda:
            torch.cuda.reset_peak_memory_stats()
        else:
            _cpu_reset()

    def _read(self) -> int | None:
        return torch.cuda.max_memory_allocated() if self.cuda else _cpu_peak_bytes()

    def _record(self, name: str) -> None:
        peak = self._read()
        if peak is None:
            return
        gb = peak / GB
        self.step_peaks[name] = max(gb, self.step_peaks.get(name, 0.0))
        self.run_peaks[name] = max(gb, self.run_peaks.get(name, 0.0))

    @contextlib.contextmanager
    def phase(self, name: str) -> Iterator[None]:
        self._reset()
        try:
            yield
        finally:
            self._record(name)

    def take_step(self) -> dict[str, float]:
        """This step's ``memory/<phase>_gb`` metrics (the step's phases since the last call)."""
        row = {f"memory/{name}_gb": gb for name, gb in self.step_peaks.items()}
        self.step_peaks = {}
        return row
