"""The memory plan (`python -m funcall.plan`) against a run's measured per-phase peaks.

    .venv/bin/python experiments/benchmarks/plan_vs_measured.py            # run the tiny default, compare
    .venv/bin/python experiments/benchmarks/plan_vs_measured.py --summary RUN/summary.json \
        --device cuda --gpus 8 --overrides +experiment=entropy_grpo model=qwen2_5_0_5b_random ...

Without ``--summary`` it runs the tiny default for real on 2 CPU ranks under ZeRO-3 (torchrun,
gloo, OMP_NUM_THREADS=1 per rank): ``+experiment=sft trainer.max_steps=2`` and
``+experiment=entropy_grpo trainer.warm_start=null trainer.max_steps=1``. Each run's
``summary.json`` holds ``memory_peak_gb_per_rank`` (CPU: the peak RSS of each phase,
`funcall.utils.peak_memory`); the plan of the same overrides is made with `funcall.plan.plan_run`.
Per phase it prints the measured peak of each rank, the plan, and plan / measured (of the larger
rank). The plan assumes every sequence fills its budget (``trainer.max_prompt_length`` or
``trainer.max_length``, and ``rollout.max_new_tokens``), which is what a user needs before a run;
for RL it is also made at the lengths the run had (its ``tokens/prompt_max`` and
``completion/length_max``), which is what checks the arithmetic. How it departs from the
obvious: the held-out evaluation is cut to 16 examples and RL's step-0 evaluation is off, to save
minutes; the plan does not predict the ``eval`` and ``export``
phases, so they are printed as measured only. On CUDA the comparison uses the plan's
``measurable`` phases (without the CUDA-context allowance and vLLM's pre-allocated share, which
``max_memory_allocated`` does not see).
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from funcall.plan import compose, plan_run  # noqa: E402

FAST = ["trainer.eval_size=16", "logger=none"]
CASES = {
    "sft": ["+experiment=sft", "trainer.max_steps=2", "deepspeed=zero3", *FAST],
    "rl": ["+experiment=entropy_grpo", "trainer.warm_start=null", "trainer.max_steps=1", "trainer.eval_at_start=false",
           "deepspeed=zero3", *FAST],
}


def run_case(overrides: list[str], run_dir: Path, ranks: int) -> Path:
    """``torchrun`` the overrides on ``ranks`` CPU ranks; returns the run's summary.json."""
    torchrun = Path(sys.executable).with_name("torchrun")
    cmd = [str(torchrun), "--standalone", "--nproc_per_node", str(ranks), "-m", "funcall.train", *overrides,
           f"hydra.run.dir={run_dir}"]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false"}
    proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True)
    if proc.returncode:
        sys.exit(f"{' '.join(cmd)} exited {proc.returncode}:\n{proc.stderr[-3000:]}")
    return run_dir / "summary.json"


def run_lengths(summary: Path) -> list[str]:
    """An RL run's longest prompt and completion (``tokens/prompt_max``, ``completion/length_max``
    over its steps) as the overrides that plan at them; [] for SFT or a run without those metrics."""
    metrics = summary.with_name("metrics.jsonl")
    rows = [json.loads(line) for line in metrics.read_text().splitlines() if line.strip()] if metrics.exists() else []
    prompts = [r["tokens/prompt_max"] for r in rows if "tokens/prompt_max" in r]
    completions = [r["completion/length_max"] for r in rows if "completion/length_max" in r]
    if not prompts or not completions:
        return []
    return [f"trainer.max_prompt_length={int(max(prompts))}", f"rollout.max_new_tokens={int(max(completions))}"]


def compare(summary: Path, overrides: list[str], device: str, gpus: int | None) -> str:
    """The table of one run: per phase, each rank's measured peak, the plan at the config's budgets
    and, for RL, at the lengths the run had; each with plan / measured."""
    per_rank = json.loads(summary.read_text())["memory_peak_gb_per_rank"]
    world = gpus or len(per_rank)
    plan = plan_run(compose(overrides), world, device, None)
    lengths = run_lengths(summary)
    at_lengths = plan_run(compose([*overrides, *lengths]), world, device, None).measurable if lengths else {}
    planned = plan.measurable
    phases = list(planned) + [p for p in per_rank[0] if p not in planned]
    lines = [f"overrides: {' '.join(overrides)}", f"device {device}, {world} ranks; "
             f"plan terms (GB): " + ", ".join(f"{k} {v:.3f}" for k, v in plan.terms.items() if v)]
    if lengths:
        lines.append(f"the run's lengths: {' '.join(lengths)} (the plan's budgets: prompt "
                     f"{plan.details['rl_shape']['prompt']}, completion {plan.details['rl_shape']['new']})")
    extra = " planned at the run's lengths GB | planned / measured |" if lengths else ""
    lines += ["", "| phase | " + " | ".join(f"measured rank {r} GB" for r in range(len(per_rank)))
              + " | planned GB | planned / measured |" + extra,
              "|---|" + "---|" * (len(per_rank) + 2 + (2 if lengths else 0))]
    for phase in phases:
        measured = [rank.get(phase) for rank in per_rank]
        cells = " | ".join("-" if m is None else f"{m:.3f}" for m in measured)
        top = max((m for m in measured if m is not None), default=None)
        if phase in planned and top:
            tail = f" {at_lengths[phase]:.3f} | {at_lengths[phase] / top:.2f} |" if lengths else ""
            lines.append(f"| {phase} | {cells} | {planned[phase]:.3f} | {planned[phase] / top:.2f} |{tail}")
        else:
            lines.append(f"| {phase} | {cells} | not planned | - |" + (" - | - |" if lengths else ""))
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--summary", type=Path, help="a finished run's summary.json (else: run the tiny default)")
    parser.add_argument("--overrides", nargs="*", default=[], help="the run's overrides (with --summary)")
    parser.add_argument("--device", default="cpu", help="cpu | cuda: what the run measured on")
    parser.add_argument("--gpus", type=int, default=None, help="world size (default: the ranks in summary.json)")
    parser.add_argument("--ranks", type=int, default=2, help="CPU ranks for the tiny runs")
    args = parser.parse_args()
    if args.summary:
        print(compare(args.summary, args.overrides, args.device, args.gpus))
        return
    print(f"# plan vs measured, tiny default, {args.ranks} CPU ranks, ZeRO-3; {time.strftime('%Y-%m-%d %H:%M')}, "
          f"load average {os.getloadavg()[0]:.2f}\n")
    with tempfile.TemporaryDirectory() as tmp:
        for name, overrides in CASES.items():
            summary = run_case(overrides, Path(tmp) / name, args.ranks)
            print(f"## {name}\n\n{compare(summary, overrides, 'cpu', args.ranks)}\n", flush=True)


if __name__ == "__main__":
    main()
