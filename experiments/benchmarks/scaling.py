"""RL step time against the group size and the completion budget, with fitted power laws.

    .venv/bin/python experiments/benchmarks/scaling.py [--steps 4] [--warmup 1]

Runs `python -m funcall.train +experiment=grpo` on the embedded tiny model (untrained, so
completions mostly run to the budget; the mean length is reported), 4 prompts per step, KL 1e-3,
micro-batches of 16 rollouts (fewer when the step has fewer), one process, OMP_NUM_THREADS=1,
once per point of two sweeps:
  * rollout.num_generations in 2, 4, 8, 16 at rollout.max_new_tokens=64;
  * rollout.max_new_tokens in 16, 32, 64, 128 at rollout.num_generations=8.
Each point's step time is the median of the trainer's own `time/step_s` over the steps after the
warm-up (read from the run's metrics.jsonl), with its rollout and update parts. A least-squares
line through log(time) against log(x) gives the exponent b of time ~ a * x**b, so the cost of an
untried setting can be predicted; the table goes to experiments/benchmarks/scaling.txt and the
log-log plot to experiments/benchmarks/scaling.png.

How it differs from timing whole runs: model loading and the first step (allocation, thread pool
start) are left out, and the phases are read from the trainer's own timers.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
BASE = ["+experiment=grpo", "trainer.warm_start=null", "trainer.prompts_per_step=4", "loss.kl_coef=1e-3",
        "trainer.eval_at_start=false", "trainer.eval_size=0", "trainer.export=false", "trainer.table_every=0",
        "trainer.precision=fp32", "logger=none", "seed=0"]
SWEEPS = {"num_generations": ([2, 4, 8, 16], "rollout.max_new_tokens=64"),
          "max_new_tokens": ([16, 32, 64, 128], "rollout.num_generations=8")}


def run_point(key: str, value: int, fixed: str, steps: int, warmup: int, tmp: Path) -> dict:
    run_dir = tmp / f"{key}-{value}"
    rollouts = 4 * (value if key == "num_generations" else 8)
    cmd = [sys.executable, "-m", "funcall.train", *BASE, fixed, f"rollout.{key}={value}", f"trainer.max_steps={warmup + steps}",
           f"trainer.micro_batch_size={min(16, rollouts)}", f"hydra.run.dir={run_dir}"]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false", "WANDB_MODE": "disabled"}
    proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, env=env, timeout=1800)
    if proc.returncode != 0:
        raise RuntimeError(f"{key}={value} failed:\n{proc.stderr[-3000:]}")
    rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    rows = [r for r in rows if "time/step_s" in r][warmup:]
    med = lambda k: statistics.median(r[k] for r in rows)  # noqa: E731
    return {"x": value, "step_s": med("time/step_s"), "rollout_s": med("time/rollout_s"), "update_s": med("time/update_s"),
            "logprob_s": med("time/logprob_s"), "completion_mean": med("completion/length_mean")}


def slope(points: list[dict], field: str) -> tuple[float, float]:
    """(b, a) of the least-squares fit log(field) = log(a) + b log(x)."""
    xs = [math.log(p["x"]) for p in points]
    ys = [math.log(p[field]) for p in points]
    mx, my = statistics.mean(xs), statistics.mean(ys)
    b = sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sum((x - mx) ** 2 for x in xs)
    return b, math.exp(my - b * mx)


def plot(results: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for ax, (key, points) in zip(axes, results.items()):
        xs = [p["x"] for p in points]
        for field, style in (("step_s", "o-"), ("rollout_s", "s--"), ("update_s", "^:")):
            b, a = slope(points, field)
            ax.plot(xs, [p[field] for p in points], style, label=f"{field[:-2]} (slope {b:.2f})")
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xticks(xs, [str(x) for x in xs])
        ax.set_xlabel(f"rollout.{key}" + (" (max_new_tokens 64)" if key == "num_generations" else " (num_generations 8)"))
        ax.set_ylabel("seconds per RL step")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend()
    fig.suptitle("funcall RL step time, tiny model, 4 prompts/step, KL on, 1 thread")
    fig.tight_layout()
    fig.savefig(path, dpi=100)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--report", type=Path, default=Path(__file__).with_suffix(".txt"))
    args = parser.parse_args()
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as tmp:
        results = {key: [run_point(key, v, fixed, args.steps, args.warmup, Path(tmp)) for v in values]
                   for key, (values, fixed) in SWEEPS.items()}
    lines = [
        f"$ .venv/bin/python experiments/benchmarks/scaling.py --steps {args.steps} --warmup {args.warmup}",
        f"date: {time.strftime('%Y-%m-%d %H:%M:%S')}; tiny model, 4 prompts/step, KL 1e-3, fp32, one process, OMP_NUM_THREADS=1; "
        f"load average {load_before:.2f} -> {os.getloadavg()[0]:.2f} (shared machine)",
        f"medians over {args.steps} steps after {args.warmup} warm-up",
    ]
    for key, points in results.items():
        lines += ["", f"{key:>16s} {'step s':>8s} {'rollout s':>9s} {'logprob s':>9s} {'update s':>8s} {'compl. len':>10s}"]
        for p in points:
            lines.append(f"{p['x']:16d} {p['step_s']:8.3f} {p['rollout_s']:9.3f} {p['logprob_s']:9.3f} {p['update_s']:8.3f} "
                         f"{p['completion_mean']:10.1f}")
        for field in ("step_s", "rollout_s", "update_s"):
            b, a = slope(points, field)
            lines.append(f"  fit {field[:-2]:8s} ~ {a:.4f} * {key}^{b:.2f}")
    report = "\n".join(lines) + "\n"
    print(report, end="")
    args.report.write_text(report)
    plot(results, args.report.with_suffix(".png"))


if __name__ == "__main__":
    main()
