"""Where a rank's memory goes, moment by moment: a real ``funcall.train`` run traced at its seams.

    .venv/bin/python experiments/benchmarks/step_memory_trace.py [--ranks 2] [--out trace.json] OVERRIDE...

It launches ``torchrun --nproc_per_node RANKS`` on this file, and each rank runs ``funcall.train``
unchanged (``runpy``) with two things added: a thread that reads the process's resident size
(``/proc/self/statm``) every 5 ms, and markers around the calls whose memory the plan models
(``from_pretrained``, ``deepspeed.initialize``, the DeepSpeed engine's ``forward``, ``backward``
and ``step``, funcall's measured phases). Per rank and marker it prints the resident size when the
call began, its peak inside the call, when it ended, glibc's own count (``mallinfo2``) of the
bytes it holds free on its heap (resident, but no tensor at all) and the resident pages that map
files (libraries, memory-mapped weights).

How it departs from the obvious (``memory/<phase>_gb`` in summary.json): that is one peak per
phase; this splits a phase into the calls inside it, so a term of ``funcall.plan`` can be checked
against the call that allocates it (the first optimizer step's Adam moments, the gradient of a
tied embedding, weights gathered by ZeRO-3). It is a diagnostic program, not a test: it wraps the
library calls to mark them and changes nothing they do. The machine's glibc mmap threshold is what
the environment says (the rehearsal fixes it at 1 MB: ``MALLOC_MMAP_THRESHOLD_=1048576``).
"""
from __future__ import annotations

import argparse
import ctypes
import functools
import json
import os
import re
import runpy
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
GB = 1024 ** 3
PAGE = os.sysconf("SC_PAGE_SIZE")


class _MallInfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in
                ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks", "fordblks", "keepcost")]


def _glibc_free_bytes() -> int | None:
    """Bytes glibc holds free inside its heaps (``fordblks``): resident, but no live allocation."""
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.mallinfo2.restype = _MallInfo2
        return int(libc.mallinfo2().fordblks)
    except (OSError, AttributeError):
        return None


def _rss() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * PAGE


def _file_backed_gb() -> float:
    """The resident pages that map files (``RssFile``: libraries, memory-mapped safetensors), in GB."""
    with open("/proc/self/status") as f:
        found = re.search(r"RssFile:\s+(\d+)\s+kB", f.read())
    return int(found.group(1)) * 1024 / GB if found else 0.0


def _event(call: str, start: int, peak: int, end: int) -> dict:
    """One traced call: resident bytes at its start, its peak and its end, and what glibc and file
    mappings hold at the end."""
    return {"call": call, "t": time.time(), "start_gb": start / GB, "peak_gb": peak / GB, "end_gb": end / GB,
            "glibc_free_gb": (_glibc_free_bytes() or 0) / GB, "file_gb": _file_backed_gb()}


class Tracer:
    """Samples the resident size; ``mark(name)`` wraps a call to record its start, peak and end."""

    def __init__(self, period_s: float = 0.005):
        self.events: list[dict] = []
        self.peak = 0
        self.lock = threading.Lock()
        threading.Thread(target=self._sample, args=(period_s,), daemon=True).start()

    def _sample(self, period_s: float) -> None:
        while True:
            rss = _rss()
            with self.lock:
                self.peak = max(self.peak, rss)
            time.sleep(period_s)

    def _reset_peak(self) -> int:
        with self.lock:
            before, self.peak = self.peak, _rss()
        return before

    def mark(self, name: str, fn):
        @functools.wraps(fn)
        def traced(*args, **kwargs):
            outer_peak = self._reset_peak()
            start = _rss()
            try:
                return fn(*args, **kwargs)
            finally:
                end = _rss()
                with self.lock:
                    inner_peak, self.peak = max(self.peak, end), max(outer_peak, self.peak, end)
                self.events.append(_event(name, start, inner_peak, end))
        return traced


def instrument(tracer: Tracer) -> None:
    """Wrap the calls the plan models; nothing else changes."""
    import deepspeed
    import transformers
    from deepspeed.runtime.engine import DeepSpeedEngine

    from funcall.utils import peak_memory

    auto = transformers.AutoModelForCausalLM
    auto.from_pretrained = classmethod(tracer.mark("from_pretrained", auto.from_pretrained.__func__))
    deepspeed.initialize = tracer.mark("deepspeed.initialize", deepspeed.initialize)
    for method in ("forward", "backward", "step"):
        setattr(DeepSpeedEngine, method, tracer.mark(f"engine.{method}", getattr(DeepSpeedEngine, method)))
    phase = peak_memory.PeakMemory.phase

    def traced_phase(self, name):
        return _PhaseMark(tracer, name, phase(self, name))
    peak_memory.PeakMemory.phase = traced_phase


class _PhaseMark:
    """A funcall phase (``peak_memory.PeakMemory.phase``) as a traced span."""

    def __init__(self, tracer: Tracer, name: str, inner):
        self.tracer, self.name, self.inner = tracer, name, inner

    def __enter__(self):
        self.tracer._reset_peak()
        self.start = _rss()
        return self.inner.__enter__()

    def __exit__(self, *exc):
        done = self.inner.__exit__(*exc)
        end = _rss()
        with self.tracer.lock:
            peak = max(self.tracer.peak, end)
        self.tracer.events.append(_event(f"phase {self.name}", self.start, peak, end))
        return done


def rank_main(out_dir: Path, overrides: list[str]) -> None:
    tracer = Tracer()
    instrument(tracer)
    sys.argv = ["funcall.train", *overrides]
    try:
        runpy.run_module("funcall.train", run_name="__main__")
    except SystemExit as exc:
        if exc.code not in (0, None):
            raise
    finally:
        rank = os.environ.get("RANK", "0")
        (out_dir / f"rank{rank}.json").write_text(json.dumps(tracer.events))


COLUMNS = {"start_gb": "RSS at start GB", "peak_gb": "peak inside GB", "end_gb": "RSS at end GB",
           "glibc_free_gb": "glibc free at end GB", "file_gb": "file-backed at end GB"}


def report(out_dir: Path) -> str:
    """Per rank, one table row per traced call, in the order the calls ended."""
    lines = []
    for path in sorted(out_dir.glob("rank*.json")):
        events = sorted(json.loads(path.read_text()), key=lambda e: e["t"])
        lines += [f"## {path.stem}", "", "| call (in order of ending) | " + " | ".join(COLUMNS.values()) + " |",
                  "|---|" + "---|" * len(COLUMNS)]
        lines += ["| " + " | ".join([e["call"], *(f"{e[key]:.2f}" for key in COLUMNS)]) + " |" for e in events]
        lines.append("")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--ranks", type=int, default=2)
    parser.add_argument("--out", type=Path, help="write every rank's events here as JSON")
    parser.add_argument("--rank-child", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("overrides", nargs="*")
    args = parser.parse_args()
    if args.rank_child:
        rank_main(args.rank_child, args.overrides)
        return
    with tempfile.TemporaryDirectory() as tmp:
        torchrun = Path(sys.executable).with_name("torchrun")
        cmd = [str(torchrun), "--standalone", "--nproc_per_node", str(args.ranks), __file__, "--rank-child", tmp,
               *args.overrides, f"hydra.run.dir={tmp}/run"]
        env = {**os.environ, "OMP_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false"}
        proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True)
        if proc.returncode:
            sys.exit(f"{' '.join(cmd)} exited {proc.returncode}:\n{proc.stderr[-3000:]}")
        print(f"# {' '.join(args.overrides)}\n# {args.ranks} ranks, MALLOC_MMAP_THRESHOLD_="
              f"{os.environ.get('MALLOC_MMAP_THRESHOLD_', 'default')}\n")
        print(report(Path(tmp)))
        if args.out:
            args.out.write_text(json.dumps({p.stem: json.loads(p.read_text()) for p in sorted(Path(tmp).glob("rank*.json"))}))


if __name__ == "__main__":
    main()
