"""Where an RL step's time goes: nested wall-clock timers around funcall's RL step, and torch.profiler.

    .venv/bin/python experiments/benchmarks/rl_profile.py [--steps 6] [--warmup 2] [--torch-profile] [overrides ...]

Runs `python -m funcall.train +experiment=grpo` in this process with the work of
`grpo_vs_trl.py` (4 prompts x 8 generations x 64 new tokens, KL 1e-3, tiny model, fp32,
OMP_NUM_THREADS=1 is set by this script) and extra Hydra overrides from the command line.
The trainer logs only coarse phases (time/rollout_s, time/update_s); here the functions an RL
step calls are wrapped with timers that nest (a model forward inside generation is reported as
``generate > model.forward``), so the table separates the model's own compute from the Python
around it: generation's per-token overhead, the reference pass, the policy forward, backward
and optimizer step, reward and the span masks. Times are per step, medians over the measured
steps (the first ``--warmup`` are dropped). ``--torch-profile`` also profiles the last step with
torch.profiler and prints the operators by self CPU time.

How it differs from wrapping the whole step in torch.profiler: the profiler's per-op overhead
distorts a step made of thousands of tiny ops (generation of a 2M-parameter model), so the
timers are the reference and the profiler only says which operators dominate.
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("WANDB_MODE", "disabled")

import argparse  # noqa: E402
import inspect  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from collections import defaultdict  # noqa: E402
from pathlib import Path  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(REPO), str(Path(__file__).resolve().parent)]

from grpo_vs_trl import OURS_OVERRIDES  # noqa: E402


class Timers:
    """Nested wall-clock timers: ``wrap(owner, "method", "label")`` times every call of the method."""

    def __init__(self):
        self.stack: list[str] = []
        self.current: dict[str, list[float]] = defaultdict(lambda: [0.0, 0])
        self.per_step: list[dict[str, list[float]]] = []

    def wrap(self, owner, attr: str, label: str) -> None:
        original = getattr(owner, attr)
        timers = self

        def timed(*args, **kwargs):
            name = " > ".join([*timers.stack, label])
            timers.stack.append(label)
            started = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                entry = timers.current[name]
                entry[0] += time.perf_counter() - started
                entry[1] += 1
                timers.stack.pop()

        static = isinstance(owner, type) and isinstance(inspect.getattr_static(owner, attr), staticmethod)
        setattr(owner, attr, staticmethod(timed) if static else timed)

    def end_step(self) -> None:
        self.per_step.append(dict(self.current))
        self.current.clear()


def install(timers: Timers) -> None:
    import deepspeed
    import transformers.generation.utils as gen_utils
    from transformers.models.qwen2 import modeling_qwen2

    import funcall.agents.single_turn as single_turn
    import funcall.trainers.rl_run as rl_run
    import funcall.trainers.rl_update as rl_update
    from funcall.losses.policy import ClippedPolicyLoss
    from funcall.rewards.ast_match import AstMatchReward
    from funcall.rollout import hf

    timers.wrap(rl_run.RLRun, "step", "step")
    timers.wrap(hf.HFEngine, "generate", "generate")
    timers.wrap(gen_utils.GenerationMixin, "_sample", "hf._sample")
    timers.wrap(gen_utils.GenerationMixin, "_prefill", "hf._prefill")
    timers.wrap(modeling_qwen2.Qwen2ForCausalLM, "forward", "model.forward")
    timers.wrap(hf._Recorder, "__call__", "recorder")
    timers.wrap(rl_run, "no_grad_logps", "no_grad_logps")
    timers.wrap(single_turn, "span_masks", "span_masks")
    timers.wrap(rl_update, "micro_batches", "micro_batches")
    timers.wrap(AstMatchReward, "__call__", "reward")
    timers.wrap(ClippedPolicyLoss, "__call__", "loss")
    engine = deepspeed.runtime.engine.DeepSpeedEngine
    timers.wrap(engine, "forward", "engine.forward")
    timers.wrap(engine, "backward", "engine.backward")
    timers.wrap(engine, "step", "engine.step")
    timers.wrap(rl_update, "all_reduce_sum", "all_reduce_sum")


def report(timers: Timers, warmup: int) -> str:
    steps = timers.per_step[warmup:]
    names = sorted({n for s in steps for n in s}, key=lambda n: (n.split(" > ")[0] != "step", n))
    total = statistics.median(s.get("step", [0.0])[0] for s in steps)
    lines = [f"{'timer (nested: a > b = b inside a)':72s} {'s/step':>8s} {'share':>6s} {'calls':>6s}"]
    for name in names:
        secs = statistics.median(s.get(name, [0.0, 0])[0] for s in steps)
        calls = statistics.median(s.get(name, [0.0, 0])[1] for s in steps)
        lines.append(f"{name:72s} {secs:8.3f} {secs / total:6.1%} {calls:6.0f}")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=6)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--torch-profile", action="store_true")
    args, extra = parser.parse_known_args()
    import torch

    import funcall.train
    import funcall.trainers.rl_run as rl_run

    torch.set_num_threads(int(os.environ["OMP_NUM_THREADS"]))
    timers = Timers()
    install(timers)
    timed_step = rl_run.RLRun.step
    total = args.warmup + args.steps
    profile_holder = {}

    def step(self, index, *a, **kw):
        if args.torch_profile and index == total - 1:
            from torch.profiler import ProfilerActivity, profile

            with profile(activities=[ProfilerActivity.CPU]) as prof:
                row = timed_step(self, index, *a, **kw)
            profile_holder["prof"] = prof
        else:
            row = timed_step(self, index, *a, **kw)
        timers.end_step()
        return row

    rl_run.RLRun.step = step
    with tempfile.TemporaryDirectory() as tmp:
        sys.argv = ["funcall.train", *OURS_OVERRIDES, f"trainer.max_steps={total}", f"hydra.run.dir={tmp}", *extra]
        load_before = os.getloadavg()[0]
        funcall.train.main()
        load_after = os.getloadavg()[0]
    print(f"\n$ .venv/bin/python experiments/benchmarks/rl_profile.py --steps {args.steps} --warmup {args.warmup} {' '.join(extra)}")
    print(f"OMP_NUM_THREADS={os.environ['OMP_NUM_THREADS']}; load average {load_before:.2f} -> {load_after:.2f}; "
          f"medians over {args.steps} steps after {args.warmup} warm-up\n")
    print(report(timers, args.warmup))
    if "prof" in profile_holder:
        print("\ntorch.profiler, last step, operators by self CPU time:")
        print(profile_holder["prof"].key_averages().table(sort_by="self_cpu_time_total", row_limit=25))


if __name__ == "__main__":
    main()
